//! A record's fields as the Defender schema types them, and the Arrow columns they become.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampNanosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::value::RawValue;

use super::records::Fields;
use crate::lake::{Column, KustoType};

/// What the Defender portal's CSV export writes for a datetime it does not have.
const INVALID_DATE: &str = "Invalid date";

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
    /// Datetime cells that were empty or `Invalid date`, read as null.
    pub null_datetimes: u32,
}

/// Types `fields` by `columns`; the error names the column, what it expected and the value.
pub fn type_row(columns: &[Column], fields: Fields) -> Result<TypedRow, String> {
    let mut cells = Vec::with_capacity(columns.len());
    let mut null_datetimes = 0;
    let mut values: Vec<Option<Box<RawValue>>> = vec![None; columns.len()];
    let mut extra = Vec::new();
    for (name, value) in fields.0 {
        match columns.iter().position(|c| c.name == name) {
            Some(i) if values[i].is_none() => values[i] = Some(value),
            _ => extra.push((name, as_text(&value))),
        }
    }
    for (column, value) in columns.iter().zip(&values) {
        let raw = value.as_deref();
        match typed(column.kusto_type, raw) {
            Ok(Typed::Cell(cell)) => cells.push(cell),
            Ok(Typed::EmptyDatetime) => {
                null_datetimes += 1;
                cells.push(Cell::Null);
            }
            Err(expected) => {
                return Err(format!(
                    "column {}: expected {expected}, got {}",
                    column.name,
                    shorten(raw.map_or("null", RawValue::get))
                ));
            }
        }
    }
    Ok(TypedRow {
        cells,
        extra,
        null_datetimes,
    })
}

/// A value as text: a JSON string unquoted, anything else as the JSON text it came as.
fn as_text(value: &RawValue) -> String {
    serde_json::from_str::<String>(value.get()).unwrap_or_else(|_| value.get().to_string())
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= 80 {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(79).collect::<String>())
    }
}

/// What a value types as.
#[derive(Debug, PartialEq)]
enum Typed {
    Cell(Cell),
    /// A datetime the export does not have: an empty cell or `Invalid date`.
    EmptyDatetime,
}

/// `value` (its JSON text; `None` when the record lacks the field) as `kusto_type`, or what was
/// expected.
fn typed(kusto_type: KustoType, value: Option<&RawValue>) -> Result<Typed, &'static str> {
    let Some(value) = value.map(RawValue::get) else {
        return Ok(Typed::Cell(Cell::Null));
    };
    let string = value
        .starts_with('"')
        .then(|| serde_json::from_str::<String>(value).ok())
        .flatten();
    if value == "null" {
        return Ok(Typed::Cell(Cell::Null));
    }
    let cell = |c| Ok(Typed::Cell(c));
    match kusto_type {
        // Strings keep their text; a number or an object keeps the JSON text it came as.
        KustoType::String | KustoType::Guid | KustoType::Dynamic => {
            cell(Cell::Str(string.unwrap_or_else(|| value.to_string())))
        }
        KustoType::Datetime => match string.as_deref().map(str::trim) {
            Some("" | INVALID_DATE) => Ok(Typed::EmptyDatetime),
            Some(text) => parse_time(text)
                .map(|t| Typed::Cell(Cell::Time(t)))
                .ok_or("a datetime"),
            None => Err("a datetime"),
        },
        // CSV gives every field as text; "" is a missing value for every other type.
        _ if string.as_deref() == Some("") => cell(Cell::Null),
        KustoType::Long | KustoType::Int => {
            let text = string.as_deref().unwrap_or(value).trim();
            let expected = if kusto_type == KustoType::Int {
                "an int"
            } else {
                "a long"
            };
            match text.parse::<i64>() {
                Ok(n) if kusto_type == KustoType::Int && i32::try_from(n).is_err() => Err(expected),
                Ok(n) => cell(Cell::Long(n)),
                Err(_) => Err(expected),
            }
        }
        KustoType::Bool => {
            match string
                .as_deref()
                .unwrap_or(value)
                .trim()
                .to_ascii_lowercase()
                .as_str()
            {
                "true" | "1" => cell(Cell::Bool(true)),
                "false" | "0" => cell(Cell::Bool(false)),
                _ => Err("a bool"),
            }
        }
        KustoType::Real => string
            .as_deref()
            .unwrap_or(value)
            .trim()
            .parse::<f64>()
            .map(|r| Typed::Cell(Cell::Real(r)))
            .map_err(|_| "a real"),
    }
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

/// The Arrow schema of `columns` and the extra columns (as text), as ingest writes them: the
/// types the lake reads (see [`KustoType::stored_type`]).
pub fn schema(columns: &[Column], extra: &[String]) -> SchemaRef {
    let mut fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(&c.name, c.kusto_type.stored_type(), true))
        .collect();
    fields.extend(
        extra
            .iter()
            .map(|name| Field::new(name, DataType::Utf8, true)),
    );
    Arc::new(Schema::new(fields))
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
        let array: ArrayRef = match column.kusto_type.stored_type() {
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

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_string()).unwrap()
    }

    fn typed_json(kusto_type: KustoType, json: &str) -> Result<Typed, &'static str> {
        typed(kusto_type, Some(&raw(json)))
    }

    #[test]
    fn values_are_typed_or_rejected() {
        let cell = |c| Ok(Typed::Cell(c));
        assert_eq!(typed_json(KustoType::Long, r#""42""#), cell(Cell::Long(42)));
        assert_eq!(typed_json(KustoType::Long, "42"), cell(Cell::Long(42)));
        assert_eq!(typed_json(KustoType::Long, r#""""#), cell(Cell::Null));
        assert_eq!(typed(KustoType::Long, None), cell(Cell::Null));
        assert_eq!(
            typed_json(KustoType::String, r#""""#),
            cell(Cell::Str(String::new()))
        );
        assert_eq!(typed_json(KustoType::Int, "1099511627776"), Err("an int"));
        assert_eq!(typed_json(KustoType::Long, r#""12ab""#), Err("a long"));
        assert_eq!(
            typed_json(KustoType::Bool, r#""True""#),
            cell(Cell::Bool(true))
        );
        assert_eq!(
            typed_json(KustoType::Bool, "false"),
            cell(Cell::Bool(false))
        );
    }

    #[test]
    fn json_values_keep_their_text() {
        // A nested object, a number written 1.10 and a number too long for a double keep
        // their bytes: no re-serialization, no key sorting, no precision lost.
        let nested = r#"{"z": 1.10, "a": [123456789012345678901234567890]}"#;
        assert_eq!(
            typed_json(KustoType::Dynamic, nested),
            Ok(Typed::Cell(Cell::Str(nested.into())))
        );
        assert_eq!(
            typed_json(KustoType::String, "1.10"),
            Ok(Typed::Cell(Cell::Str("1.10".into())))
        );
        let mut fields = Fields::default();
        fields.0.push(("Extra".into(), raw(r#"{"b":1.10}"#)));
        let row = type_row(&[], fields).unwrap();
        assert_eq!(
            row.extra,
            vec![("Extra".to_string(), r#"{"b":1.10}"#.to_string())]
        );
    }

    #[test]
    fn the_portals_invalid_date_is_a_missing_datetime() {
        for missing in [r#""Invalid date""#, r#""""#, r#"" ""#] {
            assert_eq!(
                typed_json(KustoType::Datetime, missing),
                Ok(Typed::EmptyDatetime)
            );
        }
        assert_eq!(
            typed_json(KustoType::Datetime, r#""not a date""#),
            Err("a datetime")
        );
    }
}
