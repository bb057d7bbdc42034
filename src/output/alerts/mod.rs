//! Detections as alerts a SOC's tooling takes: each row of the rule becomes an [`Instance`]
//! with a stable id, then a Sentinel `SecurityAlert` row ([`sentinel`]) or an OCSF Detection
//! Finding ([`ocsf`]).
//!
//! The id of an instance is a UUIDv5 in the rule id's namespace over its seven keys written as
//! a compact JSON array, each value as the NDJSON output shows it (`docs/alerts.md`): the same
//! instance gets the same id on every run and every machine, and anyone can recompute it from
//! an output row.

pub mod ocsf;
pub mod sentinel;

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use md5::{Digest, Md5};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use uuid::Uuid;

use super::cells::json_value;
use crate::error::{HuntError, Result};
use crate::rule::metadata::RULE_UUID;
use crate::rule::{EventTimes, OUTPUT_COLUMNS};

/// The column huntlake adds after the rule's 18.
pub const ALERT_ID_COLUMN: &str = "AlertId";

/// The rule's seven `summarize ... by` keys: the columns that identify an instance.
pub const KEY_COLUMNS: usize = 7;

/// The nine sets, in output order (columns 7 to 15).
pub const SET_COLUMNS: std::ops::Range<usize> = 7..16;

/// Whether an instance is reported for the first time, again with more in its sets, or again
/// unchanged (decided against the state of earlier runs; without one every instance is new).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    New,
    Updated,
    Unchanged,
}

/// One detection: the rule's row and what an alert adds to it.
#[derive(Debug, Clone)]
pub struct Instance {
    /// The rule's 18 columns as JSON values, in output order.
    pub values: Vec<Value>,
    pub id: Uuid,
    pub times: EventTimes,
    pub kind: ReportKind,
}

impl Instance {
    /// The value of the rule's column `name`.
    pub fn get(&self, name: &str) -> &Value {
        OUTPUT_COLUMNS
            .iter()
            .position(|c| *c == name)
            .map(|i| &self.values[i])
            .unwrap_or(&Value::Null)
    }

    /// A string column's text ("" for null).
    pub fn text(&self, name: &str) -> &str {
        self.get(name).as_str().unwrap_or("")
    }

    /// The set in column `name`, its elements as text.
    pub fn set(&self, name: &str) -> Vec<&str> {
        match self.get(name) {
            Value::Array(items) => items.iter().map(|v| v.as_str().unwrap_or("")).collect(),
            _ => Vec::new(),
        }
    }

    /// The nine sets with their column names, in output order.
    pub fn sets(&self) -> impl Iterator<Item = (&'static str, Vec<&str>)> + '_ {
        SET_COLUMNS.map(|i| (OUTPUT_COLUMNS[i], self.set(OUTPUT_COLUMNS[i])))
    }

    /// A fingerprint of every element of every set (identity, not security): what the state
    /// remembers to tell a grown set from a known one.
    pub fn element_fingerprints(&self) -> Vec<u64> {
        let mut prints: Vec<u64> = self
            .sets()
            .enumerate()
            .flat_map(|(i, (_, items))| {
                items
                    .into_iter()
                    .map(move |item| fingerprint(&[&[i as u8], item.as_bytes()]))
            })
            .collect();
        prints.sort_unstable();
        prints.dedup();
        prints
    }

    /// A hash of the nine sets as they are now (hex).
    pub fn sets_hash(&self) -> String {
        let sets = Value::Array(self.values[SET_COLUMNS].to_vec()).to_string();
        let digest = Md5::digest(sets.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The alert id of the instance whose seven keys are `keys` (JSON values as the NDJSON output
/// writes them).
pub fn alert_id(keys: &[Value]) -> Uuid {
    let name = Value::Array(keys.to_vec()).to_string();
    uuid_v5(&RULE_UUID, name.as_bytes())
}

/// RFC 9562's name-based UUID (version 5): the SHA-1 of the namespace's bytes and the name.
pub fn uuid_v5(namespace: &Uuid, name: &[u8]) -> Uuid {
    let mut context = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    context.update(namespace.as_bytes());
    context.update(name);
    let digest = context.finish();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    uuid::Builder::from_sha1_bytes(bytes).into_uuid()
}

/// The detections of `batches` (the rule's 18 columns) as instances, with their event times
/// (row-aligned) and ids. Every instance is [`ReportKind::New`] until a state says otherwise.
pub fn instances(batches: &[RecordBatch], times: &[EventTimes]) -> Result<Vec<Instance>> {
    let mut instances = Vec::new();
    for batch in batches {
        check_rule_columns(batch)?;
        for row in 0..batch.num_rows() {
            let values: Vec<Value> = batch
                .columns()
                .iter()
                .map(|column| json_value(column, row))
                .collect();
            let id = alert_id(&values[..KEY_COLUMNS]);
            let times = times.get(instances.len()).copied().unwrap_or_default();
            instances.push(Instance {
                values,
                id,
                times,
                kind: ReportKind::New,
            });
        }
    }
    Ok(instances)
}

/// A detection from a row of `detect`'s NDJSON output (the rule's 18 columns, and AlertId if
/// present, which must be the id of the row's keys).
pub fn instance_from_row(row: &Value) -> std::result::Result<Instance, String> {
    let object = row
        .as_object()
        .ok_or("not a JSON object (detect --format ndjson writes one per line)")?;
    let mut values = Vec::with_capacity(OUTPUT_COLUMNS.len());
    for column in OUTPUT_COLUMNS {
        let value = object
            .get(column)
            .ok_or_else(|| format!("no column {column} (expected the rule's 18 columns)"))?;
        values.push(value.clone());
    }
    let id = alert_id(&values[..KEY_COLUMNS]);
    if let Some(given) = object.get(ALERT_ID_COLUMN).and_then(Value::as_str)
        && given != id.to_string()
    {
        return Err(format!(
            "{ALERT_ID_COLUMN} {given} is not the id of the row's keys ({id}): the row was changed"
        ));
    }
    Ok(Instance {
        values,
        id,
        times: EventTimes::default(),
        kind: ReportKind::New,
    })
}

/// `batches` with the [`ALERT_ID_COLUMN`] after the rule's 18 columns.
pub fn with_alert_ids(batches: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
    batches
        .iter()
        .map(|batch| {
            check_rule_columns(batch)?;
            let ids: StringArray = (0..batch.num_rows())
                .map(|row| {
                    let keys: Vec<Value> = batch.columns()[..KEY_COLUMNS]
                        .iter()
                        .map(|column| json_value(column, row))
                        .collect();
                    Some(alert_id(&keys).to_string())
                })
                .collect();
            let mut fields: Vec<Arc<Field>> = batch.schema().fields().iter().cloned().collect();
            fields.push(Arc::new(Field::new(ALERT_ID_COLUMN, DataType::Utf8, false)));
            let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
            columns.push(Arc::new(ids));
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
                .map_err(|e| HuntError::Internal(format!("adding alert ids: {e}")))
        })
        .collect()
}

fn check_rule_columns(batch: &RecordBatch) -> Result<()> {
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    if names == OUTPUT_COLUMNS {
        return Ok(());
    }
    Err(HuntError::Internal(format!(
        "alerts are made from the rule's columns, not {}",
        names.join(", ")
    )))
}

/// The first 8 bytes of the MD5 of `parts` (each length-prefixed, so that parts cannot run
/// into each other).
fn fingerprint(parts: &[&[u8]]) -> u64 {
    let mut hasher = Md5::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    u64::from_le_bytes(digest[..8].try_into().expect("an MD5 digest has 16 bytes"))
}

/// A JSON object whose keys keep the order they are given in (serde_json's own map sorts
/// them): alerts read in the order a person expects.
pub struct Ordered<'a>(pub Vec<(&'a str, Value)>);

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl Ordered<'_> {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("JSON values serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_a_v5_uuid_of_the_keys_in_the_rule_namespace() {
        let keys = [
            Value::from("ws01.contoso.local"),
            Value::from("evil.exe"),
            Value::from("evil.exe -k"),
            Value::from("2026-11-10T08:00:00.1234567Z"),
            Value::from(4242),
            Value::from("system"),
            Value::from("aa"),
        ];
        let id = alert_id(&keys);
        assert_eq!(id.get_version_num(), 5);
        // RFC 9562's example: the DNS namespace and "www.example.com".
        let dns = Uuid::parse_str("6ba7b810-9dad-11d1-80b4-00c04fd430c8").unwrap();
        assert_eq!(
            uuid_v5(&dns, b"www.example.com").to_string(),
            "2ed6657d-e927-568b-95e1-2665a8aea6a2"
        );
        // Computed independently: Python's uuid.uuid5(uuid.UUID(rule id), the compact JSON).
        assert_eq!(id.to_string(), "f365beef-8380-5796-ac96-b34e64f5c003");
        // Any key changes the id; a null is not an empty string.
        let mut other = keys.clone();
        other[4] = Value::from(4243);
        assert_ne!(alert_id(&other), id);
        let mut null = keys.clone();
        null[5] = Value::Null;
        let mut empty = keys.clone();
        empty[5] = Value::from("");
        assert_ne!(alert_id(&null), alert_id(&empty));
    }
}
