//! `huntlake ingest`: Defender exports (streaming-API JSON lines and Event Hubs captures,
//! Sentinel / Log Analytics JSON, portal CSV) into a lake of Parquet files by table and day,
//! typed by the Defender schemas, that huntlake reads fast.
//!
//! - Streaming: records are read one at a time and buffered per (table, day) up to a bound, so
//!   memory does not grow with the input.
//! - Nothing lost: every record read is written or rejected; each rejected one goes to
//!   `<lake>/_rejects/` with its file, line and reason (`_` folders are not lake data).
//! - Idempotent: a source file's outputs are named after it (`ingest-<hash>-...`), and a rerun
//!   replaces them instead of adding rows.

pub mod records;
pub mod typing;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use serde_json::Value;

use crate::error::{HuntError, Result};
use crate::lake::DefenderTable;
use crate::lake::schema::Column;
pub use records::InputFormat;
use records::{Item, Record};
use typing::TypedRow;

#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// A file, or a folder whose files (at any depth) are read.
    pub from: PathBuf,
    /// The lake root to write.
    pub to: PathBuf,
    pub format: InputFormat,
    /// The table of records that do not name theirs (CSV exports).
    pub table: Option<DefenderTable>,
    /// Rows buffered in memory, in all, before the largest buffer is written out.
    pub buffer_rows: usize,
}

impl IngestOptions {
    pub fn new(from: impl Into<PathBuf>, to: impl Into<PathBuf>) -> Self {
        IngestOptions {
            from: from.into(),
            to: to.into(),
            format: InputFormat::Auto,
            table: None,
            buffer_rows: 200_000,
        }
    }
}

/// Counts for one table (or one unknown table name).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub read: u64,
    pub written: u64,
    pub rejected: u64,
}

#[derive(Debug, Default)]
pub struct IngestReport {
    /// By table name; records whose table is unknown count under `(unknown table)`.
    pub tables: BTreeMap<String, Counts>,
    pub files_read: usize,
    pub files_written: usize,
    /// The reject files written.
    pub rejects: Vec<PathBuf>,
}

const UNKNOWN: &str = "(unknown table)";

/// Which column set a row follows: Sentinel's (with `TimeGenerated`) or Advanced Hunting's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Flavor {
    Sentinel,
    AdvancedHunting,
}

impl Flavor {
    fn columns(self, table: DefenderTable) -> &'static [Column] {
        match self {
            Flavor::Sentinel => table.columns(),
            Flavor::AdvancedHunting => table.advanced_hunting_columns(),
        }
    }

    fn time_column(self) -> &'static str {
        match self {
            Flavor::Sentinel => "TimeGenerated",
            Flavor::AdvancedHunting => "Timestamp",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Flavor::Sentinel => "s",
            Flavor::AdvancedHunting => "ah",
        }
    }
}

type PartitionKey = (DefenderTable, Flavor, i64);

/// Rows waiting to be written, per partition.
#[derive(Default)]
struct Buffers {
    rows: HashMap<PartitionKey, Vec<TypedRow>>,
    total: usize,
    /// Files written so far per partition (for the next file's number).
    parts: HashMap<PartitionKey, usize>,
}

/// Runs the ingest.
pub fn ingest(options: &IngestOptions, progress: &dyn Fn(u64)) -> Result<IngestReport> {
    let sources = source_files(&options.from)?;
    let mut report = IngestReport::default();
    for source in &sources {
        ingest_file(options, source, &mut report, progress)?;
    }
    report.files_read = sources.len();
    Ok(report)
}

/// The files below `from` (or `from` itself), sorted; hidden and `_` names skipped.
fn source_files(from: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| HuntError::Io {
        context: format!("reading {}", from.display()),
        source,
    };
    let meta = std::fs::metadata(from).map_err(io)?;
    if meta.is_file() {
        return Ok(vec![from.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut folders = vec![from.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if is_export_file(&path) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// In a folder, the files that can be exports: `.json`, `.jsonl`, `.ndjson`, `.csv` (a file
/// named on the command line is read whatever its name).
fn is_export_file(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["json", "jsonl", "ndjson", "csv"]
            .iter()
            .any(|known| e.eq_ignore_ascii_case(known))
    })
}

/// A stable name for a source file's outputs: FNV-1a of its path.
fn source_id(source: &Path) -> String {
    let absolute = std::path::absolute(source).unwrap_or_else(|_| source.to_path_buf());
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in absolute.to_string_lossy().bytes() {
        hash ^= byte as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

fn ingest_file(
    options: &IngestOptions,
    source: &Path,
    report: &mut IngestReport,
    progress: &dyn Fn(u64),
) -> Result<()> {
    let id = source_id(source);
    remove_outputs_of(&options.to, &id)?;
    let file = std::fs::File::open(source).map_err(|e| HuntError::Io {
        context: format!("reading {}", source.display()),
        source: e,
    })?;
    let stem_table = source
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| DefenderTable::from_name(s.trim_end_matches("_CL")));

    let mut buffers = Buffers::default();
    let mut rejects: Vec<String> = Vec::new();
    let mut failure: Option<HuntError> = None;
    let source_text = source.display().to_string();
    let mut handle = |item: Item| {
        if failure.is_some() {
            return;
        }
        let outcome = match item {
            Ok(record) => place(options, stem_table, record, &mut buffers, report),
            Err(unreadable) => {
                report.tables.entry(UNKNOWN.into()).or_default().read += 1;
                report.tables.entry(UNKNOWN.into()).or_default().rejected += 1;
                Err((
                    unreadable.line,
                    unreadable.index,
                    unreadable.reason,
                    unreadable.text,
                ))
            }
        };
        if let Err((line, index, reason, text)) = outcome {
            rejects.push(
                serde_json::json!({
                    "source": source_text,
                    "line": line,
                    "record": index,
                    "reason": reason,
                    "text": text,
                })
                .to_string(),
            );
        }
        progress(1);
        if buffers.total >= options.buffer_rows
            && let Err(e) = flush_largest(options, &id, &mut buffers, report)
        {
            failure = Some(e);
        }
    };
    records::read_records(file, options.format, &mut handle).map_err(|e| HuntError::Io {
        context: format!("reading {}", source.display()),
        source: e,
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    while buffers.total > 0 {
        flush_largest(options, &id, &mut buffers, report)?;
    }
    if !rejects.is_empty() {
        let path = options
            .to
            .join("_rejects")
            .join(format!("ingest-{id}.ndjson"));
        write_atomically(&path, |out| {
            for line in &rejects {
                writeln!(out, "{line}")?;
            }
            Ok(())
        })?;
        report.rejects.push(path);
    }
    Ok(())
}

/// Types a record and buffers it, or says why it is rejected: (line, record, reason, text).
fn place(
    options: &IngestOptions,
    stem_table: Option<DefenderTable>,
    record: Record,
    buffers: &mut Buffers,
    report: &mut IngestReport,
) -> std::result::Result<(), (u64, u64, String, String)> {
    let Record {
        fields,
        table_hint,
        line,
        index,
    } = record;
    let table = match &table_hint {
        Some(name) => DefenderTable::from_name(name),
        None => options.table.or(stem_table),
    };
    let reject = |reason: String, fields: &serde_json::Map<String, Value>| {
        (
            line,
            index,
            reason,
            Value::Object(fields.clone()).to_string(),
        )
    };
    let Some(table) = table else {
        let name = table_hint.clone().unwrap_or_else(|| UNKNOWN.into());
        let counts = report.tables.entry(name.clone()).or_default();
        counts.read += 1;
        counts.rejected += 1;
        let reason = match table_hint {
            Some(name) => format!("table {name} is not one of the four tables huntlake reads"),
            None => "the record names no table (pass --table)".into(),
        };
        return Err(reject(reason, &fields));
    };
    let counts = report.tables.entry(table.name().into()).or_default();
    counts.read += 1;
    let flavor = if fields.contains_key("TimeGenerated") {
        Flavor::Sentinel
    } else {
        Flavor::AdvancedHunting
    };
    let time = fields
        .get(flavor.time_column())
        .and_then(Value::as_str)
        .and_then(typing::parse_time);
    let Some(time) = time else {
        counts.rejected += 1;
        return Err(reject(
            format!("no readable {} (the row's time)", flavor.time_column()),
            &fields,
        ));
    };
    match typing::type_row(flavor.columns(table), fields) {
        Ok(row) => {
            const DAY: i64 = 86_400 * 1_000_000_000;
            let day = time.div_euclid(DAY) * DAY;
            buffers
                .rows
                .entry((table, flavor, day))
                .or_default()
                .push(row);
            buffers.total += 1;
            Ok(())
        }
        Err((reason, fields)) => {
            counts.rejected += 1;
            Err((line, index, reason, Value::Object(fields).to_string()))
        }
    }
}

/// Writes the biggest buffer as one Parquet file in its table's day folder.
fn flush_largest(
    options: &IngestOptions,
    id: &str,
    buffers: &mut Buffers,
    report: &mut IngestReport,
) -> Result<()> {
    let Some(key) = buffers
        .rows
        .iter()
        .max_by_key(|(key, rows)| (rows.len(), std::cmp::Reverse(**key)))
        .map(|(key, _)| *key)
    else {
        return Ok(());
    };
    let rows = buffers.rows.remove(&key).unwrap_or_default();
    buffers.total -= rows.len();
    let (table, flavor, day) = key;
    let part = buffers.parts.entry(key).or_default();
    *part += 1;
    let date = chrono::DateTime::from_timestamp_nanos(day).format("%Y-%m-%d");
    let path = options
        .to
        .join(table.name())
        .join(format!("date={date}"))
        .join(format!("ingest-{id}-{}-{:04}.parquet", flavor.tag(), part));
    // Unknown columns, in the order first seen.
    let mut extra: Vec<String> = Vec::new();
    for row in &rows {
        for (name, _) in &row.extra {
            if !extra.contains(name) {
                extra.push(name.clone());
            }
        }
    }
    let columns = flavor.columns(table);
    let batch = typing::batch(columns, &extra, &rows).map_err(|e| HuntError::Output {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let output_error =
        |e: datafusion::parquet::errors::ParquetError| std::io::Error::other(e.to_string());
    write_atomically(&path, |out| {
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        let mut buffer = Vec::new();
        let mut writer =
            ArrowWriter::try_new(&mut buffer, batch.schema(), Some(props)).map_err(output_error)?;
        writer.write(&batch).map_err(output_error)?;
        writer.close().map_err(output_error)?;
        out.write_all(&buffer)
    })?;
    report
        .tables
        .entry(table.name().into())
        .or_default()
        .written += rows.len() as u64;
    report.files_written += 1;
    Ok(())
}

/// Deletes the files an earlier ingest of the same source wrote (a rerun replaces them).
fn remove_outputs_of(lake: &Path, id: &str) -> Result<()> {
    let prefix = format!("ingest-{id}-");
    let reject = lake.join("_rejects").join(format!("ingest-{id}.ndjson"));
    let _ = std::fs::remove_file(reject);
    for table in DefenderTable::ALL {
        let dir = lake.join(table.name());
        if !dir.is_dir() {
            continue;
        }
        let mut folders = vec![dir];
        while let Some(folder) = folders.pop() {
            let entries = std::fs::read_dir(&folder).map_err(|source| HuntError::Io {
                context: format!("reading {}", folder.display()),
                source,
            })?;
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    folders.push(path);
                } else if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    std::fs::remove_file(&path).map_err(|source| HuntError::Io {
                        context: format!("replacing {}", path.display()),
                        source,
                    })?;
                }
            }
        }
    }
    Ok(())
}

/// Writes `path` through a temporary file beside it, renamed into place when complete.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let output_error = |message: String| HuntError::Output {
        path: path.to_path_buf(),
        message,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| output_error(e.to_string()))?;
    let temp = tempfile::Builder::new()
        .prefix(".huntlake-")
        .tempfile_in(dir)
        .map_err(|e| output_error(e.to_string()))?;
    {
        let mut out = std::io::BufWriter::new(temp.as_file());
        write(&mut out).map_err(|e| output_error(e.to_string()))?;
        out.flush().map_err(|e| output_error(e.to_string()))?;
    }
    temp.persist(path)
        .map_err(|e| output_error(e.error.to_string()))?;
    Ok(())
}
