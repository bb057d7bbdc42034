//! Reading records from one export file, as they come (never the whole file in memory):
//!
//! - a JSON array of rows (Sentinel / Log Analytics exports), however it is indented;
//! - JSON lines: one object per line, each a row, a streaming-API record
//!   (`{"category": "AdvancedHunting-<Table>", "properties": {...}}`) or an Event Hubs capture
//!   (`{"records": [...]}`);
//! - CSV with a header (Defender portal exports, UTF-8 BOM allowed).
//!
//! Values are kept as the JSON text they came as (`serde_json`'s `RawValue`): a nested object
//! (`AdditionalFields`) or a number (`1.10`, a 30-digit id) reaches the lake byte for byte,
//! and a rejected record is written back exactly as it came.

use std::cell::Cell;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::rc::Rc;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// The formats `--format` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// Decide from each file's first bytes.
    Auto,
    /// Defender's streaming API (JSON lines of records, or Event Hubs captures).
    StreamingApi,
    /// Sentinel / Log Analytics rows: a JSON array or JSON lines.
    SentinelJson,
    /// CSV with a header row (Defender portal exports).
    Csv,
}

impl InputFormat {
    pub const ALL: [InputFormat; 4] = [
        InputFormat::Auto,
        InputFormat::StreamingApi,
        InputFormat::SentinelJson,
        InputFormat::Csv,
    ];

    /// The format's name, as `--format` spells it.
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Auto => "auto",
            InputFormat::StreamingApi => "streaming-api",
            InputFormat::SentinelJson => "sentinel-json",
            InputFormat::Csv => "csv",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            InputFormat::Auto => "decide from each file's first bytes",
            InputFormat::StreamingApi => {
                "Defender's streaming API (JSON lines of records, or Event Hubs captures)"
            }
            InputFormat::SentinelJson => {
                "Sentinel / Log Analytics rows: a JSON array or JSON lines"
            }
            InputFormat::Csv => "CSV with a header row (Defender portal exports)",
        }
    }
}

/// A record's fields in the order they came, each value as its JSON text.
#[derive(Debug, Default)]
pub struct Fields(pub Vec<(String, Box<RawValue>)>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&RawValue> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The field's value when it is a JSON string.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .and_then(|v| serde_json::from_str::<String>(v.get()).ok())
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Fields, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut fields = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Box<RawValue>>()? {
                    fields.push((key, value));
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(Object)
    }
}

/// One record of a file: the row's fields, and where it was.
#[derive(Debug)]
pub struct Record {
    pub fields: Fields,
    /// The record as it came (a JSON object's text, or a CSV row), for a reject file.
    pub text: String,
    /// The table the record names (`category`, `Type`), if it names one.
    pub table_hint: Option<String>,
    /// 1-based line where the record ends (for rejects).
    pub line: u64,
    /// 1-based position of the record in the file.
    pub index: u64,
}

/// A record that could not even be read as one (bad JSON, a CSV row of the wrong width).
#[derive(Debug)]
pub struct Unreadable {
    pub line: u64,
    pub index: u64,
    pub reason: String,
    pub text: String,
}

pub type Item = Result<Record, Unreadable>;

/// The format of a file whose first bytes are `head`, or why it is not an export. An empty
/// file is an export without records.
pub fn sniff(head: &[u8]) -> Result<InputFormat, String> {
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let significant = text.trim_ascii_start();
    match significant.first() {
        None => return Ok(InputFormat::Auto),
        Some(b'[') => return Ok(InputFormat::SentinelJson),
        Some(b'{') => return Ok(InputFormat::StreamingApi),
        _ => {}
    }
    let binary = [
        (&b"\x1f\x8b"[..], "gzip-compressed: decompress it first"),
        (&b"PK\x03\x04"[..], "a zip archive: extract it first"),
        (
            &b"PAR1"[..],
            "a Parquet file: ingest reads exports; put Parquet files in the lake",
        ),
    ];
    if let Some((_, why)) = binary.iter().find(|(magic, _)| text.starts_with(magic)) {
        return Err((*why).into());
    }
    let first_line = significant
        .split(|&b| b == b'\n')
        .next()
        .unwrap_or_default();
    let header = String::from_utf8_lossy(first_line);
    const DEFENDER_COLUMNS: [&str; 5] = [
        "Timestamp",
        "TimeGenerated",
        "DeviceName",
        "DeviceId",
        "ReportId",
    ];
    let names: Vec<&str> = header
        .split(',')
        .map(|name| name.trim().trim_matches('"'))
        .collect();
    if names.len() > 1 && names.iter().any(|n| DEFENDER_COLUMNS.contains(n)) {
        return Ok(InputFormat::Csv);
    }
    Err(
        "not an export: its first bytes are neither JSON nor a CSV header naming Defender \
         columns (Timestamp, TimeGenerated, DeviceName, ...)"
            .into(),
    )
}

/// Reads every record of `input`, handing each to `sink`. Returns an error only when the file
/// as a whole cannot be read (I/O, not the format it claims).
pub fn read_records(
    input: impl Read,
    format: InputFormat,
    sink: &mut dyn FnMut(Item),
) -> std::io::Result<()> {
    let mut reader = BufReader::with_capacity(1 << 20, input);
    skip_bom(&mut reader)?;
    let first = first_significant_byte(&mut reader)?;
    let format = match format {
        InputFormat::Auto => match first {
            Some(b'[') => InputFormat::SentinelJson,
            Some(b'{') => InputFormat::StreamingApi,
            None => return Ok(()),
            // Not JSON: a CSV header.
            Some(_) => InputFormat::Csv,
        },
        other => other,
    };
    match (format, first) {
        (InputFormat::Csv, _) => read_csv(reader, sink),
        (_, Some(b'[')) => read_json_array(reader, sink),
        _ => read_json_lines(reader, sink),
    }
}

fn skip_bom(reader: &mut BufReader<impl Read>) -> std::io::Result<()> {
    let buffer = reader.fill_buf()?;
    if buffer.starts_with(b"\xEF\xBB\xBF") {
        reader.consume(3);
    }
    Ok(())
}

/// The first byte that is not whitespace, without consuming it.
fn first_significant_byte(reader: &mut BufReader<impl Read>) -> std::io::Result<Option<u8>> {
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(None);
        }
        match buffer.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => return Ok(Some(buffer[i])),
            None => {
                let n = buffer.len();
                reader.consume(n);
            }
        }
    }
}

/// Splits one JSON value into records: a capture's `records`, a streaming-API record's
/// `properties`, or a row.
fn records_of(value: &RawValue, line: u64, index: &mut u64, sink: &mut dyn FnMut(Item)) {
    let text = value.get();
    let Ok(object) = serde_json::from_str::<Fields>(text) else {
        *index += 1;
        sink(Err(Unreadable {
            line,
            index: *index,
            reason: "not a JSON object".into(),
            text: text.to_string(),
        }));
        return;
    };
    if let Some(records) = object.get("records")
        && let Ok(records) = serde_json::from_str::<Vec<&RawValue>>(records.get())
    {
        for record in records {
            records_of(record, line, index, sink);
        }
        return;
    }
    *index += 1;
    let streamed = object
        .text("category")
        .and_then(|c| c.strip_prefix("AdvancedHunting-").map(str::to_string));
    let properties = object
        .get("properties")
        .and_then(|p| serde_json::from_str::<Fields>(p.get()).ok());
    let record = match (streamed, properties) {
        (Some(table), Some(properties)) => Record {
            fields: properties,
            text: text.to_string(),
            table_hint: Some(table),
            line,
            index: *index,
        },
        (streamed, _) => {
            let hint = streamed.or_else(|| {
                object
                    .text("Type")
                    .map(|t| t.trim_end_matches("_CL").to_string())
            });
            Record {
                fields: object,
                text: text.to_string(),
                table_hint: hint.filter(|h| !h.is_empty()),
                line,
                index: *index,
            }
        }
    };
    sink(Ok(record));
}

fn read_json_lines(reader: impl BufRead, sink: &mut dyn FnMut(Item)) -> std::io::Result<()> {
    let mut index = 0;
    for (n, line) in reader.split(b'\n').enumerate() {
        let line = line?;
        let line_number = n as u64 + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<&RawValue>(&line) {
            Ok(value) => records_of(value, line_number, &mut index, sink),
            Err(e) => {
                index += 1;
                sink(Err(Unreadable {
                    line: line_number,
                    index,
                    reason: format!("not valid JSON: {e}"),
                    text: String::from_utf8_lossy(&line).into_owned(),
                }));
            }
        }
    }
    Ok(())
}

/// Counts the lines of what serde_json has consumed (it reads byte by byte).
struct LineCounter<R> {
    inner: R,
    lines: Rc<Cell<u64>>,
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let newlines = buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        self.lines.set(self.lines.get() + newlines);
        Ok(n)
    }
}

/// A top-level JSON array, element by element. A malformed element ends the file (JSON has no
/// way to resynchronize): it is reported as unreadable with the rest of the file.
fn read_json_array(reader: impl BufRead, sink: &mut dyn FnMut(Item)) -> std::io::Result<()> {
    struct Elements<'a> {
        sink: &'a mut dyn FnMut(Item),
        lines: Rc<Cell<u64>>,
    }
    impl<'de> Visitor<'de> for Elements<'_> {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of JSON objects")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
            let mut index = 0;
            while let Some(value) = seq.next_element::<Box<RawValue>>()? {
                let line = self.lines.get() + 1;
                records_of(&value, line, &mut index, self.sink);
            }
            Ok(index)
        }
    }
    impl<'de> DeserializeSeed<'de> for Elements<'_> {
        type Value = u64;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
            d.deserialize_seq(self)
        }
    }

    let lines = Rc::new(Cell::new(0));
    let counter = LineCounter {
        inner: reader,
        lines: Rc::clone(&lines),
    };
    let mut deserializer = serde_json::Deserializer::from_reader(counter);
    let result = Elements { sink, lines }.deserialize(&mut deserializer);
    if let Err(e) = result {
        let line = e.line() as u64;
        if e.is_io() {
            return Err(std::io::Error::other(e));
        }
        sink(Err(Unreadable {
            line,
            index: 0,
            reason: format!("not valid JSON from here on, the rest of the file is not read: {e}"),
            text: String::new(),
        }));
    }
    Ok(())
}

fn read_csv(reader: impl BufRead, sink: &mut dyn FnMut(Item)) -> std::io::Result<()> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(reader);
    let header: Vec<String> = match csv.headers() {
        Ok(h) => h.iter().map(|s| s.trim().to_string()).collect(),
        Err(e) => return Err(std::io::Error::other(e)),
    };
    for (n, row) in csv.records().enumerate() {
        let index = n as u64 + 1;
        match row {
            Ok(row) => {
                let line = row.position().map_or(0, |p| p.line());
                if row.len() != header.len() {
                    sink(Err(Unreadable {
                        line,
                        index,
                        reason: format!(
                            "{} fields where the header has {}",
                            row.len(),
                            header.len()
                        ),
                        text: csv_line(&row),
                    }));
                    continue;
                }
                let fields = header
                    .iter()
                    .zip(row.iter())
                    .map(|(k, v)| (k.clone(), json_string(v)))
                    .collect();
                sink(Ok(Record {
                    fields: Fields(fields),
                    text: csv_line(&row),
                    table_hint: None,
                    line,
                    index,
                }));
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                sink(Err(Unreadable {
                    line,
                    index,
                    reason: format!("not a readable CSV row: {e}"),
                    text: String::new(),
                }));
            }
        }
    }
    Ok(())
}

/// A CSV cell as a JSON string value.
fn json_string(cell: &str) -> Box<RawValue> {
    let text = serde_json::to_string(cell).expect("a string serializes");
    RawValue::from_string(text).expect("a serialized string is JSON")
}

/// A CSV row as CSV text (quoted where needed), to write a rejected row back.
fn csv_line(row: &csv::StringRecord) -> String {
    let mut writer = csv::WriterBuilder::new().from_writer(Vec::new());
    let _ = writer.write_record(row);
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, format: InputFormat) -> Vec<Item> {
        let mut items = Vec::new();
        read_records(text.as_bytes(), format, &mut |i| items.push(i)).unwrap();
        items
    }

    #[test]
    fn arrays_lines_captures_and_csv() {
        let items = read(
            "\n[\n  {\"a\": 1, \"Type\": \"DeviceFileEvents_CL\"},\n  {\"a\": 2}\n]\n",
            InputFormat::Auto,
        );
        assert_eq!(items.len(), 2);
        let first = items[0].as_ref().unwrap();
        assert_eq!(first.table_hint.as_deref(), Some("DeviceFileEvents"));
        assert_eq!((first.index, first.line), (1, 3));
        assert_eq!(items[1].as_ref().unwrap().line, 4);

        let lines = "{\"category\":\"AdvancedHunting-DeviceProcessEvents\",\"properties\":{\"x\":1}}\n\
                     {\"records\":[{\"category\":\"AdvancedHunting-DeviceNetworkEvents\",\"properties\":{}}]}\n\
                     {broken\n";
        let items = read(lines, InputFormat::Auto);
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[0].as_ref().unwrap().table_hint.as_deref(),
            Some("DeviceProcessEvents")
        );
        assert_eq!(
            items[0].as_ref().unwrap().fields.get("x").unwrap().get(),
            "1"
        );
        assert_eq!(
            items[1].as_ref().unwrap().table_hint.as_deref(),
            Some("DeviceNetworkEvents")
        );
        assert_eq!(items[2].as_ref().unwrap_err().line, 3);

        let items = read("\u{feff}A,B\n1,\"x,y\"\n2\n", InputFormat::Auto);
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[0].as_ref().unwrap().fields.text("B").as_deref(),
            Some("x,y")
        );
        assert!(items[1].as_ref().unwrap_err().reason.contains("1 fields"));
    }
}
