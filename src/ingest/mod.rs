//! `huntlake ingest`: Defender exports (streaming-API JSON lines and Event Hubs captures,
//! Sentinel / Log Analytics JSON, portal CSV) into a lake of Parquet files by table and day,
//! typed by the Defender schemas, that huntlake reads fast.
//!
//! - Streaming: records are read one at a time and buffered per (table, day) up to a bound, so
//!   memory does not grow with the input.
//! - By content: a file's format is told by its first bytes, whatever its name; a file that is
//!   no export is listed as skipped, with why.
//! - Nothing lost: every record read is written or rejected; each rejected one goes to
//!   `<lake>/_rejects/` as it came, with its file, line and reason (`_` folders are not lake
//!   data).
//! - Reruns replace, never duplicate, never lose: a source's outputs are written to a staging
//!   folder first and moved into the lake only once the whole source is read; then the outputs
//!   of earlier ingests of the same source are deleted. "The same source" is a file with the
//!   same path relative to `--from`, or with the same content (size and fingerprint): moving or
//!   remounting the export folder changes neither.

pub mod records;
pub mod typing;

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use md5::{Digest, Md5};

use crate::error::{HuntError, Result};
use crate::lake::{Column, DefenderTable};
use crate::time::{DAY, now_nanos};
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
    /// Files below `--from` that were not read, and why.
    pub skipped: Vec<(PathBuf, String)>,
    /// Datetime cells that were empty or `Invalid date`, stored as null.
    pub null_datetimes: u64,
}

const UNKNOWN: &str = "(unknown table)";

/// Where a run stages its outputs before they move into the lake (a `_` folder: not lake data).
const STAGING: &str = "_huntlake/ingest-staging";

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

/// One source file to read: where it is, and the name that identifies it in the lake.
struct Source {
    path: PathBuf,
    /// Its path relative to `--from` (its file name when `--from` is the file).
    relative: String,
    format: InputFormat,
}

/// Runs the ingest.
pub fn ingest(options: &IngestOptions, progress: &dyn Fn(u64)) -> Result<IngestReport> {
    let mut report = IngestReport::default();
    let sources = find_sources(options, &mut report.skipped)?;
    if sources.is_empty() {
        return Err(nothing_to_read(&options.from, &report.skipped));
    }
    let run = Run::start(&options.to)?;
    let mut contents_seen: HashMap<String, String> = HashMap::new();
    for source in &sources {
        let ingested = ingest_source(options, &run, source, &mut report, progress);
        match ingested {
            Ok(staged) => {
                if let Some(first) = contents_seen.get(&staged.content_id) {
                    report.skipped.push((
                        source.path.clone(),
                        format!("the same content as {first}, read already"),
                    ));
                    staged.discard();
                    continue;
                }
                contents_seen.insert(staged.content_id.clone(), source.relative.clone());
                staged.commit(&options.to, &run, &mut report)?;
                report.files_read += 1;
            }
            Err(e) => {
                run.clean_up();
                return Err(e);
            }
        }
    }
    run.clean_up();
    Ok(report)
}

/// The error for a `--from` where no export file was found, naming what was skipped.
fn nothing_to_read(from: &Path, skipped: &[(PathBuf, String)]) -> HuntError {
    let mut message = format!("{}: no export file to read", from.display());
    if skipped.is_empty() {
        message.push_str(" (the folder holds no files)");
    } else {
        message.push_str("; skipped:");
        for (path, why) in skipped.iter().take(20) {
            message.push_str(&format!("\n  {}: {why}", path.display()));
        }
        if skipped.len() > 20 {
            message.push_str(&format!("\n  ... and {} more", skipped.len() - 20));
        }
    }
    HuntError::usage(message)
}

/// The files below `--from` (or `--from` itself) that are exports, sorted; each other file is
/// listed in `skipped` with why. Hidden and `_` names are not looked at.
fn find_sources(
    options: &IngestOptions,
    skipped: &mut Vec<(PathBuf, String)>,
) -> Result<Vec<Source>> {
    let from = &options.from;
    let io = |source| HuntError::Io {
        context: format!("reading {}", from.display()),
        source,
    };
    let meta = std::fs::metadata(from).map_err(io)?;
    let mut files = Vec::new();
    if meta.is_file() {
        files.push(from.to_path_buf());
    } else {
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
                } else {
                    files.push(path);
                }
            }
        }
    }
    files.sort();
    let mut sources = Vec::new();
    for path in files {
        let relative = match path.strip_prefix(from) {
            Ok(rest) if !rest.as_os_str().is_empty() => rest,
            _ => Path::new(path.file_name().unwrap_or(path.as_os_str())),
        };
        let relative = relative.to_string_lossy().replace('\\', "/");
        let format = match options.format {
            InputFormat::Auto => match sniff_file(&path) {
                Ok(format) => format,
                Err(why) => {
                    skipped.push((path, why));
                    continue;
                }
            },
            other => other,
        };
        sources.push(Source {
            path,
            relative,
            format,
        });
    }
    Ok(sources)
}

/// A file's format from its first bytes, or why it is not an export.
fn sniff_file(path: &Path) -> std::result::Result<InputFormat, String> {
    let mut head = Vec::with_capacity(64 << 10);
    std::fs::File::open(path)
        .and_then(|f| f.take(64 << 10).read_to_end(&mut head))
        .map_err(|e| format!("cannot be read: {e}"))?;
    records::sniff(&head)
}

/// One ingest run: its id (part of every file name it writes) and its staging folder.
struct Run {
    id: String,
    staging: PathBuf,
}

impl Run {
    fn start(lake: &Path) -> Result<Run> {
        // Runs that were stopped left their staging folders, which are huntlake's own; one a
        // day old is no run's that is still going.
        let parent = lake.join(STAGING);
        for entry in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 86_400);
            if stale {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let id = format!("{:x}", now_nanos());
        let staging = parent.join(&id);
        std::fs::create_dir_all(&staging).map_err(|source| HuntError::Io {
            context: format!("creating {}", staging.display()),
            source,
        })?;
        Ok(Run { id, staging })
    }

    fn clean_up(&self) {
        let _ = std::fs::remove_dir_all(&self.staging);
        if let Some(parent) = self.staging.parent() {
            let _ = std::fs::remove_dir(parent);
            if let Some(huntlake) = parent.parent() {
                let _ = std::fs::remove_dir(huntlake);
            }
        }
    }
}

/// A source's outputs, written to the staging folder, not yet in the lake.
struct Staged {
    /// Identifies the source by its path relative to `--from`.
    path_id: String,
    /// Identifies the source by its content.
    content_id: String,
    /// The id earlier versions of huntlake named a source's outputs with.
    legacy_id: String,
    /// (staged file, its folder in the lake relative to the root, its name's tail).
    files: Vec<(PathBuf, PathBuf, String)>,
    /// The staged reject file, if any record was rejected.
    rejects: Option<PathBuf>,
    counts: BTreeMap<String, u64>,
}

impl Staged {
    fn discard(self) {
        for (staged, _, _) in &self.files {
            let _ = std::fs::remove_file(staged);
        }
        if let Some(rejects) = &self.rejects {
            let _ = std::fs::remove_file(rejects);
        }
    }

    /// Moves the outputs into the lake, then deletes what earlier ingests of the same source
    /// wrote (the same relative path, or the same content).
    fn commit(mut self, lake: &Path, run: &Run, report: &mut IngestReport) -> Result<()> {
        let earlier = self.earlier_outputs(lake)?;
        // The source keeps the path id it was first ingested under, so that a file ingested
        // once from a parent folder is still recognised when it changes later.
        if let Some(first) = earlier.iter().find_map(|(_, path_id)| path_id.clone()) {
            self.path_id = first;
        }
        let prefix = format!("ingest-{}-{}-{}-", self.path_id, self.content_id, run.id);
        let io = |path: &Path| {
            let context = format!("writing {}", path.display());
            move |source| HuntError::Io { context, source }
        };
        for (staged, folder, tail) in &self.files {
            let dir = lake.join(folder);
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            let path = dir.join(format!("{prefix}{tail}"));
            std::fs::rename(staged, &path).map_err(io(&path))?;
            report.files_written += 1;
        }
        if let Some(staged) = &self.rejects {
            let path = lake
                .join("_rejects")
                .join(format!("{}.ndjson", prefix.trim_end_matches('-')));
            std::fs::create_dir_all(path.parent().expect("a folder")).map_err(io(&path))?;
            std::fs::rename(staged, &path).map_err(io(&path))?;
            report.rejects.push(path);
        }
        for (table, written) in &self.counts {
            report.tables.entry(table.clone()).or_default().written += written;
        }
        // Only now, with the new outputs in place, do the earlier ones go.
        for (path, _) in earlier {
            std::fs::remove_file(&path).map_err(|source| HuntError::Io {
                context: format!("replacing {}", path.display()),
                source,
            })?;
        }
        Ok(())
    }

    /// The files earlier ingests of this source wrote: huntlake's own names only
    /// (`ingest-<path id>-...`, `ingest-*-<content id>-...`, and the names of earlier
    /// versions), each with the path id it was written under when it matched by content.
    fn earlier_outputs(&self, lake: &Path) -> Result<Vec<(PathBuf, Option<String>)>> {
        let matches = |name: &str| -> Option<Option<String>> {
            let rest = name.strip_prefix("ingest-")?;
            let mut parts = rest.split('-');
            let (first, second) = (parts.next()?, parts.next());
            if second == Some(self.content_id.as_str()) {
                return Some(Some(first.to_string()));
            }
            let legacy = rest
                .strip_prefix(self.legacy_id.as_str())
                .is_some_and(|tail| {
                    tail == ".ndjson" || tail.starts_with("-s-") || tail.starts_with("-ah-")
                });
            (first == self.path_id || legacy).then_some(None)
        };
        let mut found = Vec::new();
        let mut folders: Vec<PathBuf> = DefenderTable::ALL
            .iter()
            .map(|t| lake.join(t.name()))
            .chain(std::iter::once(lake.join("_rejects")))
            .filter(|dir| dir.is_dir())
            .collect();
        while let Some(folder) = folders.pop() {
            let entries = std::fs::read_dir(&folder).map_err(|source| HuntError::Io {
                context: format!("reading {}", folder.display()),
                source,
            })?;
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    folders.push(path);
                } else if let Some(path_id) = matches(&entry.file_name().to_string_lossy()) {
                    found.push((path, path_id));
                }
            }
        }
        found.sort();
        Ok(found)
    }
}

/// The name earlier versions of huntlake gave a source's outputs: FNV-1a of its absolute path
/// (`ingest-<id>-s-0001.parquet`, `_rejects/ingest-<id>.ndjson`), so that an upgrade's first
/// rerun replaces them too.
fn legacy_id(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in absolute.to_string_lossy().bytes() {
        hash ^= byte as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// A 16-hex-digit id of `bytes` (the first half of their MD5: an identity, not a security
/// check).
fn short_id(digest: &[u8]) -> String {
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a file while fingerprinting what it reads.
struct Fingerprinting<R> {
    inner: R,
    hasher: Md5,
    bytes: u64,
}

impl<R: Read> Read for Fingerprinting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Reads one source into the staging folder. A source without a record still commits (with
/// no files): it replaces what an earlier ingest of it wrote.
fn ingest_source(
    options: &IngestOptions,
    run: &Run,
    source: &Source,
    report: &mut IngestReport,
    progress: &dyn Fn(u64),
) -> Result<Staged> {
    let file = std::fs::File::open(&source.path).map_err(|e| HuntError::Io {
        context: format!("reading {}", source.path.display()),
        source: e,
    })?;
    let stem_table = source
        .path
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| DefenderTable::from_name(s.trim_end_matches("_CL")));
    let path_id = short_id(&Md5::digest(source.relative.as_bytes()));
    let mut writer = StagedWriter {
        staging: run.staging.join(&path_id),
        buffers: Buffers::default(),
        files: Vec::new(),
        counts: BTreeMap::new(),
        rejects: None,
    };
    let mut failure: Option<HuntError> = None;
    let source_text = source.path.display().to_string();
    let mut handle = |item: Item| {
        if failure.is_some() {
            return;
        }
        let outcome = match item {
            Ok(record) => place(options, stem_table, record, &mut writer.buffers, report),
            Err(unreadable) => {
                let counts = report.tables.entry(UNKNOWN.into()).or_default();
                counts.read += 1;
                counts.rejected += 1;
                Err(Rejected {
                    line: unreadable.line,
                    index: unreadable.index,
                    reason: unreadable.reason,
                    text: unreadable.text,
                })
            }
        };
        let written = match outcome {
            Ok(()) => writer.flush_if_full(options.buffer_rows),
            Err(rejected) => writer.reject(&source_text, rejected),
        };
        progress(1);
        if let Err(e) = written {
            failure = Some(e);
        }
    };
    let mut reader = Fingerprinting {
        inner: file,
        hasher: Md5::new(),
        bytes: 0,
    };
    let read_error = |e| HuntError::Io {
        context: format!("reading {}", source.path.display()),
        source: e,
    };
    records::read_records(&mut reader, source.format, &mut handle).map_err(read_error)?;
    if let Some(e) = failure {
        return Err(e);
    }
    // What the reader did not consume still belongs to the content.
    std::io::copy(&mut reader, &mut std::io::sink()).map_err(read_error)?;
    let mut content = reader.hasher;
    content.update(reader.bytes.to_le_bytes());
    writer.finish(
        path_id,
        short_id(&content.finalize()),
        legacy_id(&source.path),
    )
}

/// A record that is not written, and why: it goes to the reject file as it came.
struct Rejected {
    line: u64,
    index: u64,
    reason: String,
    text: String,
}

/// Buffers rows and writes them, as Parquet files, into a source's staging folder.
struct StagedWriter {
    staging: PathBuf,
    buffers: Buffers,
    /// (staged file, its folder in the lake, its name's tail).
    files: Vec<(PathBuf, PathBuf, String)>,
    /// Rows written per table.
    counts: BTreeMap<String, u64>,
    /// The reject file, once a record is rejected.
    rejects: Option<(PathBuf, std::io::BufWriter<std::fs::File>)>,
}

impl StagedWriter {
    /// Writes the biggest buffers out while more than `limit` rows wait.
    fn flush_if_full(&mut self, limit: usize) -> Result<()> {
        while self.buffers.total >= limit.max(1) {
            self.flush_largest()?;
        }
        Ok(())
    }

    /// Adds a line for `rejected` to the staged reject file.
    fn reject(&mut self, source: &str, rejected: Rejected) -> Result<()> {
        let line = serde_json::json!({
            "source": source,
            "line": rejected.line,
            "record": rejected.index,
            "reason": rejected.reason,
            "text": rejected.text,
        });
        let path = self.staging.join("rejects.ndjson");
        let io = |source| HuntError::Io {
            context: format!("writing {}", path.display()),
            source,
        };
        if self.rejects.is_none() {
            std::fs::create_dir_all(&self.staging).map_err(io)?;
            let file = std::fs::File::create(&path).map_err(io)?;
            self.rejects = Some((path.clone(), std::io::BufWriter::new(file)));
        }
        let (_, out) = self.rejects.as_mut().expect("opened above");
        writeln!(out, "{line}").map_err(io)
    }

    /// Writes every buffered row and closes the reject file: the source, staged.
    fn finish(mut self, path_id: String, content_id: String, legacy_id: String) -> Result<Staged> {
        while self.buffers.total > 0 {
            self.flush_largest()?;
        }
        let rejects = match self.rejects.take() {
            None => None,
            Some((path, mut out)) => {
                out.flush().map_err(|source| HuntError::Io {
                    context: format!("writing {}", path.display()),
                    source,
                })?;
                Some(path)
            }
        };
        Ok(Staged {
            path_id,
            content_id,
            legacy_id,
            files: self.files,
            rejects,
            counts: self.counts,
        })
    }

    /// Writes the biggest buffer as one Parquet file of its table's day.
    fn flush_largest(&mut self) -> Result<()> {
        let buffers = &mut self.buffers;
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
        let folder = Path::new(table.name()).join(format!("date={date}"));
        let tail = format!("{}-{:04}.parquet", flavor.tag(), part);
        let staged = self.staging.join(format!("{}-{date}-{tail}", table.name()));
        // Unknown columns, in the order first seen.
        let mut extra: Vec<String> = Vec::new();
        for row in &rows {
            for (name, _) in &row.extra {
                if !extra.contains(name) {
                    extra.push(name.clone());
                }
            }
        }
        let output_error = |message: String| HuntError::Output {
            path: staged.clone(),
            message,
        };
        let batch = typing::batch(flavor.columns(table), &extra, &rows)
            .map_err(|e| output_error(e.to_string()))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        std::fs::create_dir_all(&self.staging).map_err(|e| output_error(e.to_string()))?;
        let file = std::fs::File::create(&staged).map_err(|e| output_error(e.to_string()))?;
        let mut out = std::io::BufWriter::new(file);
        let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(props))
            .map_err(|e| output_error(e.to_string()))?;
        writer
            .write(&batch)
            .and_then(|()| writer.close().map(|_| ()))
            .map_err(|e| output_error(e.to_string()))?;
        out.flush().map_err(|e| output_error(e.to_string()))?;
        *self.counts.entry(table.name().into()).or_default() += rows.len() as u64;
        self.files.push((staged, folder, tail));
        Ok(())
    }
}

/// Types a record and buffers it, or says why it is rejected.
fn place(
    options: &IngestOptions,
    stem_table: Option<DefenderTable>,
    record: Record,
    buffers: &mut Buffers,
    report: &mut IngestReport,
) -> std::result::Result<(), Rejected> {
    let Record {
        fields,
        text,
        table_hint,
        line,
        index,
    } = record;
    let table = match &table_hint {
        Some(name) => DefenderTable::from_name(name),
        None => options.table.or(stem_table),
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
        return Err(Rejected {
            line,
            index,
            reason,
            text,
        });
    };
    let counts = report.tables.entry(table.name().into()).or_default();
    counts.read += 1;
    let flavor = if fields.contains("TimeGenerated") {
        Flavor::Sentinel
    } else {
        Flavor::AdvancedHunting
    };
    let Some(time) = fields
        .text(flavor.time_column())
        .and_then(|t| typing::parse_time(&t))
    else {
        counts.rejected += 1;
        return Err(Rejected {
            line,
            index,
            reason: format!("no readable {} (the row's time)", flavor.time_column()),
            text,
        });
    };
    match typing::type_row(flavor.columns(table), fields) {
        Ok(row) => {
            report.null_datetimes += row.null_datetimes as u64;
            let day = time.div_euclid(DAY) * DAY;
            buffers
                .rows
                .entry((table, flavor, day))
                .or_default()
                .push(row);
            buffers.total += 1;
            Ok(())
        }
        Err(reason) => {
            counts.rejected += 1;
            Err(Rejected {
                line,
                index,
                reason,
                text,
            })
        }
    }
}
