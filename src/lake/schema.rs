//! The four Defender tables: their columns and Kusto types (from Microsoft's schemas, in
//! Sentinel order and in Advanced Hunting order), the Arrow types huntlake reads them as, and
//! which columns the rule needs.

use std::fmt;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::Deserialize;

use crate::time::utc_nanos_type;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DefenderTable {
    DeviceProcessEvents,
    DeviceNetworkEvents,
    DeviceFileEvents,
    DeviceImageLoadEvents,
}

impl DefenderTable {
    pub const ALL: [DefenderTable; 4] = [
        DefenderTable::DeviceProcessEvents,
        DefenderTable::DeviceNetworkEvents,
        DefenderTable::DeviceFileEvents,
        DefenderTable::DeviceImageLoadEvents,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DefenderTable::DeviceProcessEvents => "DeviceProcessEvents",
            DefenderTable::DeviceNetworkEvents => "DeviceNetworkEvents",
            DefenderTable::DeviceFileEvents => "DeviceFileEvents",
            DefenderTable::DeviceImageLoadEvents => "DeviceImageLoadEvents",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// Columns in Sentinel (Log Analytics) order, which holds every Advanced Hunting column too.
    pub fn columns(self) -> &'static [Column] {
        &SCHEMAS.sentinel[self as usize]
    }

    /// Columns in Defender Advanced Hunting order.
    pub fn advanced_hunting_columns(self) -> &'static [Column] {
        &SCHEMAS.advanced_hunting[self as usize]
    }

    pub fn column(self, name: &str) -> Option<&'static Column> {
        self.columns().iter().find(|c| c.name == name)
    }

    /// The Arrow schema huntlake registers the table with.
    pub fn arrow_schema(self) -> SchemaRef {
        Arc::clone(&SCHEMAS.arrow[self as usize])
    }

    /// The columns the rule reads from this table, besides the time column. A lake where one of
    /// them is absent from every file cannot answer the rule.
    pub fn rule_columns(self) -> &'static [&'static str] {
        const SERVICE: [&str; 8] = [
            "DeviceName",
            "InitiatingProcessParentFileName",
            "InitiatingProcessFileName",
            "InitiatingProcessSHA1",
            "InitiatingProcessCommandLine",
            "InitiatingProcessId",
            "InitiatingProcessCreationTime",
            "InitiatingProcessAccountName",
        ];
        static PROCESS: LazyLock<Vec<&str>> =
            LazyLock::new(|| [&SERVICE[..], &["FileName", "SHA1", "ProcessCommandLine"]].concat());
        static NETWORK: LazyLock<Vec<&str>> =
            LazyLock::new(|| [&SERVICE[..], &["ActionType", "RemoteIP", "RemoteUrl"]].concat());
        static FILE: LazyLock<Vec<&str>> = LazyLock::new(|| {
            [
                &SERVICE[..],
                &["ActionType", "FileName", "SHA1", "FolderPath"],
            ]
            .concat()
        });
        static IMAGE: LazyLock<Vec<&str>> =
            LazyLock::new(|| [&SERVICE[..], &["FileName", "SHA1", "FolderPath"]].concat());
        match self {
            DefenderTable::DeviceProcessEvents => &PROCESS,
            DefenderTable::DeviceNetworkEvents => &NETWORK,
            DefenderTable::DeviceFileEvents => &FILE,
            DefenderTable::DeviceImageLoadEvents => &IMAGE,
        }
    }
}

impl fmt::Display for DefenderTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Kusto column type, as the schemas name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KustoType {
    String,
    Long,
    Int,
    Datetime,
    Bool,
    Dynamic,
    Real,
    Guid,
}

impl KustoType {
    /// The Arrow type huntlake reads the column as. Strings are views, DataFusion's native string
    /// layout; datetimes are UTC nanoseconds (Kusto's 100-ns ticks fit exactly).
    pub fn arrow_type(self) -> DataType {
        match self {
            KustoType::String | KustoType::Dynamic | KustoType::Guid => DataType::Utf8View,
            KustoType::Long => DataType::Int64,
            KustoType::Int => DataType::Int32,
            KustoType::Datetime => utc_nanos_type(),
            KustoType::Bool => DataType::Boolean,
            KustoType::Real => DataType::Float64,
        }
    }

    /// The Arrow type huntlake writes the column as (ingest, the synthetic lakes): as
    /// [`Self::arrow_type`], with strings as plain UTF-8, which every Parquet reader takes.
    pub fn stored_type(self) -> DataType {
        match self {
            KustoType::String | KustoType::Dynamic | KustoType::Guid => DataType::Utf8,
            other => other.arrow_type(),
        }
    }

    /// Whether a file's column of type `found` can be read as this Kusto type without loss of
    /// meaning.
    pub fn accepts(self, found: &DataType) -> bool {
        match found {
            DataType::Null => return true,
            DataType::Dictionary(_, value) => return self.accepts(value),
            _ => {}
        }
        match self {
            KustoType::String | KustoType::Dynamic | KustoType::Guid => matches!(
                found,
                DataType::Utf8
                    | DataType::LargeUtf8
                    | DataType::Utf8View
                    | DataType::Binary
                    | DataType::LargeBinary
                    | DataType::BinaryView
            ),
            KustoType::Long | KustoType::Int => found.is_integer(),
            KustoType::Datetime => matches!(found, DataType::Timestamp(_, _)),
            KustoType::Bool => matches!(found, DataType::Boolean),
            KustoType::Real => found.is_numeric(),
        }
    }

    /// Kusto's name for the type (`string`, `long`, `datetime`, ...).
    pub fn kusto_name(self) -> &'static str {
        match self {
            KustoType::String => "string",
            KustoType::Dynamic => "dynamic",
            KustoType::Guid => "guid",
            KustoType::Long => "long",
            KustoType::Int => "int",
            KustoType::Datetime => "datetime",
            KustoType::Bool => "bool",
            KustoType::Real => "real",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            KustoType::String => "a string (Kusto string)",
            KustoType::Dynamic => "a string holding JSON (Kusto dynamic)",
            KustoType::Guid => "a string (Kusto guid)",
            KustoType::Long => "an integer (Kusto long)",
            KustoType::Int => "an integer (Kusto int)",
            KustoType::Datetime => "a timestamp (Kusto datetime)",
            KustoType::Bool => "a boolean (Kusto bool)",
            KustoType::Real => "a number (Kusto real)",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub kusto_type: KustoType,
}

struct Schemas {
    sentinel: Vec<Vec<Column>>,
    advanced_hunting: Vec<Vec<Column>>,
    arrow: Vec<SchemaRef>,
}

static SCHEMAS: LazyLock<Schemas> = LazyLock::new(|| {
    fn parse(json: &str) -> Vec<Column> {
        serde_json::from_str(json).expect("embedded schema is valid JSON")
    }
    let sentinel = vec![
        parse(include_str!("schemas/sentinel/DeviceProcessEvents.json")),
        parse(include_str!("schemas/sentinel/DeviceNetworkEvents.json")),
        parse(include_str!("schemas/sentinel/DeviceFileEvents.json")),
        parse(include_str!("schemas/sentinel/DeviceImageLoadEvents.json")),
    ];
    let advanced_hunting = vec![
        parse(include_str!(
            "schemas/advanced-hunting/DeviceProcessEvents.json"
        )),
        parse(include_str!(
            "schemas/advanced-hunting/DeviceNetworkEvents.json"
        )),
        parse(include_str!(
            "schemas/advanced-hunting/DeviceFileEvents.json"
        )),
        parse(include_str!(
            "schemas/advanced-hunting/DeviceImageLoadEvents.json"
        )),
    ];
    let arrow = sentinel
        .iter()
        .map(|columns| {
            Arc::new(Schema::new(
                columns
                    .iter()
                    .map(|c| Field::new(&c.name, c.kusto_type.arrow_type(), true))
                    .collect::<Vec<_>>(),
            ))
        })
        .collect();
    Schemas {
        sentinel,
        advanced_hunting,
        arrow,
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_order_holds_every_advanced_hunting_column() {
        for table in DefenderTable::ALL {
            for column in table.advanced_hunting_columns() {
                assert!(
                    table.column(&column.name).is_some(),
                    "{table}.{}",
                    column.name
                );
            }
            for name in table.rule_columns() {
                assert!(table.column(name).is_some(), "{table}.{name}");
            }
        }
        assert_eq!(DefenderTable::DeviceProcessEvents.columns().len(), 71);
    }
}
