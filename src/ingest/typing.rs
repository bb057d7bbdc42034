//! A record's fields as the Defender schema types them, and the Arrow columns they become.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampNanosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use crate::lake::{KustoType, schema::Column};

/// One typed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Str(String),
    Long(i64),
    Bool(bool),
    Real(f64),
    Time(i64),
}

/// A record typed by a table's columns, plus the fields the schema does not know.
#[derive(Debug)]
pub struct TypedRow {
    pub cells: Vec<Cell>,
    pub extra: Vec<(String, String)>,
}

/// Types `fields` by `columns`. The error names the column and the value, and gives the
/// fields back untouched (for the reject file), so that no record is copied in case it fails.
pub fn type_row(
    columns: &[Column],
    mut fields: Map<String, Value>,
) -> Result<TypedRow, (String, Map<String, Value>)> {
    let mut cells = Vec::with_capacity(columns.len());
    for column in columns {
        let value = fields.get(&column.name).unwrap_or(&Value::Null);
        match typed(column.kusto_type, value) {
            Ok(cell) => cells.push(cell),
            Err(expected) => {
                let reason = format!(
                    "column {}: expected {expected}, got {}",
                    column.name,
                    shorten(&value.to_string())
                );
                return Err((reason, fields));
            }
        }
    }
    for column in columns {
        fields.remove(&column.name);
    }
    let extra = fields
        .into_iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (name, text)
        })
        .collect();
    Ok(TypedRow { cells, extra })
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= 80 {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(79).collect::<String>())
    }
}

/// `value` as `kusto_type`, or what was expected.
fn typed(kusto_type: KustoType, value: &Value) -> Result<Cell, &'static str> {
    // CSV gives every field as text; "" is a missing value for every non-string type.
    let text = value.as_str();
    if value.is_null() || (text == Some("") && !is_string(kusto_type)) {
        return Ok(Cell::Null);
    }
    match kusto_type {
        KustoType::String | KustoType::Guid => Ok(Cell::Str(match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })),
        // Kept as JSON text (exports give it as a string already).
        KustoType::Dynamic => Ok(Cell::Str(match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })),
        KustoType::Long | KustoType::Int => {
            let n = match value {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            let expected = if kusto_type == KustoType::Int {
                "an int"
            } else {
                "a long"
            };
            match n {
                Some(n) if kusto_type == KustoType::Int && i32::try_from(n).is_err() => {
                    Err(expected)
                }
                Some(n) => Ok(Cell::Long(n)),
                None => Err(expected),
            }
        }
        KustoType::Bool => match value {
            Value::Bool(b) => Ok(Cell::Bool(*b)),
            Value::Number(n) if n.as_i64() == Some(0) => Ok(Cell::Bool(false)),
            Value::Number(n) if n.as_i64() == Some(1) => Ok(Cell::Bool(true)),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Cell::Bool(true)),
                "false" | "0" => Ok(Cell::Bool(false)),
                _ => Err("a bool"),
            },
            _ => Err("a bool"),
        },
        KustoType::Real => match value {
            Value::Number(n) => n.as_f64().map(Cell::Real).ok_or("a real"),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .map(Cell::Real)
                .map_err(|_| "a real"),
            _ => Err("a real"),
        },
        KustoType::Datetime => match value {
            Value::String(s) => parse_time(s).map(Cell::Time).ok_or("a datetime"),
            _ => Err("a datetime"),
        },
    }
}

fn is_string(kusto_type: KustoType) -> bool {
    matches!(
        kusto_type,
        KustoType::String | KustoType::Guid | KustoType::Dynamic
    )
}

/// ISO 8601 / RFC 3339 (`2025-05-07T16:15:58.9739261Z`), or the Defender portal's CSV form
/// (`Oct 9, 2024 2:41:10 PM`, taken as UTC), in nanoseconds.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(n) = crate::time::parse_datetime(text) {
        return Some(n);
    }
    for format in ["%b %d, %Y %I:%M:%S%.f %p", "%b %d, %Y %I:%M:%S %p"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return t.and_utc().timestamp_nanos_opt();
        }
    }
    None
}

/// The Arrow schema of `columns` (as the lake reads them) and the extra columns, as text.
pub fn schema(columns: &[Column], extra: &[String]) -> SchemaRef {
    let mut fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(&c.name, arrow_type(c.kusto_type), true))
        .collect();
    fields.extend(
        extra
            .iter()
            .map(|name| Field::new(name, DataType::Utf8, true)),
    );
    Arc::new(Schema::new(fields))
}

fn arrow_type(kusto_type: KustoType) -> DataType {
    match kusto_type {
        KustoType::String | KustoType::Guid | KustoType::Dynamic => DataType::Utf8,
        KustoType::Long => DataType::Int64,
        KustoType::Int => DataType::Int32,
        KustoType::Bool => DataType::Boolean,
        KustoType::Real => DataType::Float64,
        KustoType::Datetime => DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
    }
}

/// The rows as one batch of `schema` (built by [`schema`] from the same columns).
pub fn batch(
    columns: &[Column],
    extra: &[String],
    rows: &[TypedRow],
) -> datafusion::common::Result<RecordBatch> {
    let schema = schema(columns, extra);
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (i, column) in columns.iter().enumerate() {
        let cells = rows.iter().map(|r| &r.cells[i]);
        let array: ArrayRef = match arrow_type(column.kusto_type) {
            DataType::Utf8 => {
                let mut b = StringBuilder::new();
                cells.for_each(|c| match c {
                    Cell::Str(s) => b.append_value(s),
                    _ => b.append_null(),
                });
                Arc::new(b.finish())
            }
            DataType::Int64 => {
                let mut b = Int64Builder::new();
                cells.for_each(|c| b.append_option(as_long(c)));
                Arc::new(b.finish())
            }
            DataType::Int32 => {
                let mut b = Int32Builder::new();
                cells.for_each(|c| b.append_option(as_long(c).map(|n| n as i32)));
                Arc::new(b.finish())
            }
            DataType::Boolean => {
                let mut b = BooleanBuilder::new();
                cells.for_each(|c| {
                    b.append_option(match c {
                        Cell::Bool(v) => Some(*v),
                        _ => None,
                    })
                });
                Arc::new(b.finish())
            }
            DataType::Float64 => {
                let mut b = Float64Builder::new();
                cells.for_each(|c| {
                    b.append_option(match c {
                        Cell::Real(v) => Some(*v),
                        _ => None,
                    })
                });
                Arc::new(b.finish())
            }
            _ => {
                let mut b = TimestampNanosecondBuilder::new().with_timezone("UTC");
                cells.for_each(|c| {
                    b.append_option(match c {
                        Cell::Time(v) => Some(*v),
                        _ => None,
                    })
                });
                Arc::new(b.finish())
            }
        };
        arrays.push(array);
    }
    for name in extra {
        let mut b = StringBuilder::new();
        for row in rows {
            match row.extra.iter().find(|(n, _)| n == name) {
                Some((_, v)) => b.append_value(v),
                None => b.append_null(),
            }
        }
        arrays.push(Arc::new(b.finish()));
    }
    Ok(RecordBatch::try_new(schema, arrays)?)
}

fn as_long(cell: &Cell) -> Option<i64> {
    match cell {
        Cell::Long(n) => Some(*n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_from_exports_and_the_portal() {
        let t = |s| parse_time(s).map(crate::time::format_kusto_datetime);
        assert_eq!(
            t("2025-05-07T16:15:58.9739261Z").as_deref(),
            Some("2025-05-07T16:15:58.9739261Z")
        );
        assert_eq!(
            t("Oct 9, 2024 2:41:10 PM").as_deref(),
            Some("2024-10-09T14:41:10.0000000Z")
        );
        assert_eq!(
            t("Oct 19, 2024 12:01:02.345 AM").as_deref(),
            Some("2024-10-19T00:01:02.3450000Z")
        );
        assert_eq!(t("yesterday"), None);
    }

    #[test]
    fn values_are_typed_or_rejected() {
        assert_eq!(
            typed(KustoType::Long, &Value::from("42")),
            Ok(Cell::Long(42))
        );
        assert_eq!(typed(KustoType::Long, &Value::from("")), Ok(Cell::Null));
        assert_eq!(
            typed(KustoType::String, &Value::from("")),
            Ok(Cell::Str(String::new()))
        );
        assert_eq!(
            typed(KustoType::Int, &Value::from(1i64 << 40)),
            Err("an int")
        );
        assert_eq!(typed(KustoType::Long, &Value::from("12ab")), Err("a long"));
        assert_eq!(
            typed(KustoType::Bool, &Value::from("True")),
            Ok(Cell::Bool(true))
        );
        assert_eq!(
            typed(KustoType::Dynamic, &serde_json::json!({"a": [1]})),
            Ok(Cell::Str("{\"a\":[1]}".into()))
        );
    }
}
