//! Shared helpers for the integration tests:
//!
//! - [`Row`] and [`Lake`]: build small Defender lakes as Parquet files, with the file-level
//!   variations real exports show (time unit and zone, string layout, int32/int64 process ids,
//!   `TimeGenerated` / `Timestamp`, missing and unknown columns, hive or plain folders, litter);
//! - [`run_both`] and friends: run the detection with the keyed plan and the literal plan (the
//!   KQL's own join structure), assert both give the same NDJSON, and return it;
//! - [`layouts`]: the same lake as pyarrow, DuckDB and Spark-style writers lay it out; every
//!   run through [`run_both`] and [`run_keyed_and_literal`] is repeated on them;
//! - [`model`]: an independent, row-by-row Rust model of the KQL (the oracle for generated lakes);
//! - [`Rng`]: huntlake's seeded PRNG, for generated data.
//!
//! Every test file includes this module and uses part of it.
#![allow(dead_code)]

pub mod layouts;
pub mod model;

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{
    ArrayRef, DictionaryArray, Int32Array, Int64Array, LargeStringArray, StringArray,
    StringViewArray, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray, TimestampSecondArray,
};
use datafusion::arrow::datatypes::{Field, Int32Type, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_writer::ArrowWriterOptions;
use huntlake::Plan;
use huntlake::{DetectRequest, Detection};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

pub const NANOS_PER_SECOND: i64 = 1_000_000_000;
pub const NANOS_PER_DAY: i64 = 86_400 * NANOS_PER_SECOND;
/// One Kusto tick.
pub const TICK: i64 = 100;

/// The `now()` every test runs the rule at (unless it says otherwise).
pub const AS_OF: &str = "2026-11-19T12:00:00Z";
/// The default service instance's creation time: whole milliseconds, so that every time unit
/// holds it exactly.
pub const CREATED: &str = "2026-11-01T00:00:05.004Z";
/// The rule's default lookback, 14 days.
pub const LOOKBACK: i64 = 14 * NANOS_PER_DAY;

/// Nanoseconds since the epoch of an RFC 3339 datetime.
/// The sample lake as committed in the repository.
#[allow(dead_code)]
pub fn sample_lake_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample-lake")
}

pub fn at(text: &str) -> i64 {
    huntlake::parse_datetime(text).expect("a valid test datetime")
}

pub fn as_of() -> i64 {
    at(AS_OF)
}

pub fn created() -> i64 {
    at(CREATED)
}

/// The window's exclusive lower bound with the default lookback: `ago(14d)`.
pub fn since() -> i64 {
    as_of() - LOOKBACK
}

/// An instant safely inside the window.
pub fn in_window() -> i64 {
    as_of() - NANOS_PER_DAY
}

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Process,
    Network,
    File,
    Image,
}

impl Table {
    pub const ALL: [Table; 4] = [Table::Process, Table::Network, Table::File, Table::Image];

    pub fn name(self) -> &'static str {
        match self {
            Table::Process => "DeviceProcessEvents",
            Table::Network => "DeviceNetworkEvents",
            Table::File => "DeviceFileEvents",
            Table::Image => "DeviceImageLoadEvents",
        }
    }

    /// The table-specific columns the rule reads, besides the 8 initiating-process columns.
    pub fn own_columns(self) -> &'static [&'static str] {
        match self {
            Table::Process => &["FileName", "SHA1", "ProcessCommandLine"],
            Table::Network => &["ActionType", "RemoteIP", "RemoteUrl"],
            Table::File => &["ActionType", "FileName", "SHA1", "FolderPath"],
            Table::Image => &["FileName", "SHA1", "FolderPath"],
        }
    }
}

/// The columns every table shares and the rule reads (the service instance and its parent).
pub const SERVICE_COLUMNS: [&str; 8] = [
    "DeviceName",
    "InitiatingProcessParentFileName",
    "InitiatingProcessFileName",
    "InitiatingProcessCommandLine",
    "InitiatingProcessId",
    "InitiatingProcessCreationTime",
    "InitiatingProcessAccountName",
    "InitiatingProcessSHA1",
];

/// One event of any of the four tables. `None` is written as a Parquet null. The table-specific
/// fields are read only by the tables that have the column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    /// TimeGenerated (and Timestamp, unless `timestamp` is set), nanoseconds.
    pub time: Option<i64>,
    /// Timestamp when it should differ from `time`.
    pub timestamp: Option<i64>,
    pub device: Option<String>,
    pub parent: Option<String>,
    pub service: Option<String>,
    pub cmdline: Option<String>,
    pub pid: Option<i64>,
    pub created: Option<i64>,
    pub account: Option<String>,
    pub sha1: Option<String>,
    /// FileName: the child process (process), the modified file (file), the DLL (image).
    pub file_name: Option<String>,
    /// SHA1 of `file_name` (process, file, image).
    pub file_sha1: Option<String>,
    /// ProcessCommandLine (process).
    pub command_line: Option<String>,
    /// FolderPath (file, image).
    pub folder_path: Option<String>,
    /// ActionType (network, file).
    pub action: Option<String>,
    pub remote_ip: Option<String>,
    pub remote_url: Option<String>,
}

pub fn s(text: &str) -> Option<String> {
    Some(text.to_string())
}

pub const DEVICE: &str = "ws1.corp.example";
pub const PID: i64 = 4242;
pub const ACCOUNT: &str = "system";
pub const SHA1: &str = "3395856ce81f2b7382dee72602f798b642f14140";

/// The default instance's command line for `service`.
pub fn cmdline_of(service: &str) -> String {
    format!("\"C:\\Program Files\\{service}\" -k run")
}

impl Row {
    /// An event of the default instance of `service` on `device` (started by services.exe,
    /// pid 4242, created at [`CREATED`], user `system`), inside the window.
    pub fn service_event(device: &str, service: &str) -> Row {
        Row {
            time: Some(in_window()),
            device: s(device),
            parent: s("services.exe"),
            service: s(service),
            cmdline: Some(cmdline_of(service)),
            pid: Some(PID),
            created: Some(created()),
            account: s(ACCOUNT),
            sha1: s(SHA1),
            ..Row::default()
        }
    }

    /// A DeviceProcessEvents row: `service` launching `child`.
    pub fn launch(device: &str, service: &str, child: &str) -> Row {
        Row {
            file_name: s(child),
            file_sha1: Some(format!("sha1-of-{child}")),
            command_line: Some(format!("{child} /c whoami")),
            ..Row::service_event(device, service)
        }
    }

    /// A DeviceNetworkEvents row of the default instance of `service`.
    pub fn connection(device: &str, service: &str, ip: &str) -> Row {
        Row {
            action: s("ConnectionSuccess"),
            remote_ip: s(ip),
            remote_url: Some(format!("{ip}.example.net")),
            ..Row::service_event(device, service)
        }
    }

    /// A DeviceFileEvents row of the default instance of `service`.
    pub fn file_write(device: &str, service: &str, file: &str) -> Row {
        Row {
            action: s("FileCreated"),
            file_name: s(file),
            file_sha1: Some(format!("sha1-of-{file}")),
            folder_path: Some(format!("C:\\ProgramData\\{file}")),
            ..Row::service_event(device, service)
        }
    }

    /// A DeviceImageLoadEvents row of the default instance of `service`.
    pub fn image_load(device: &str, service: &str, dll: &str) -> Row {
        Row {
            file_name: s(dll),
            file_sha1: Some(format!("sha1-of-{dll}")),
            folder_path: Some(format!("C:\\Windows\\System32\\{dll}")),
            ..Row::service_event(device, service)
        }
    }

    /// Changes the row in place and returns it: `Row::launch(..).with(|r| r.pid = None)`.
    pub fn with(mut self, change: impl FnOnce(&mut Row)) -> Row {
        change(&mut self);
        self
    }

    pub fn at(self, time: i64) -> Row {
        self.with(|r| r.time = Some(time))
    }

    pub fn parent(self, parent: Option<&str>) -> Row {
        self.with(|r| r.parent = parent.map(str::to_string))
    }

    /// The value of the column `name` in this row, as text (for the string columns).
    fn string(&self, table: Table, name: &str) -> Option<&str> {
        match name {
            "DeviceName" => self.device.as_deref(),
            "InitiatingProcessParentFileName" => self.parent.as_deref(),
            "InitiatingProcessFileName" => self.service.as_deref(),
            "InitiatingProcessCommandLine" => self.cmdline.as_deref(),
            "InitiatingProcessAccountName" => self.account.as_deref(),
            "InitiatingProcessSHA1" => self.sha1.as_deref(),
            "FileName" => self.file_name.as_deref(),
            "SHA1" => self.file_sha1.as_deref(),
            "ProcessCommandLine" => self.command_line.as_deref(),
            "FolderPath" => self.folder_path.as_deref(),
            "ActionType" => self.action.as_deref(),
            "RemoteIP" => self.remote_ip.as_deref(),
            "RemoteUrl" => self.remote_url.as_deref(),
            other => panic!(
                "{}: no string column {other} in the test rows",
                table.name()
            ),
        }
    }

    /// Clears the field written to column `name` (the file does not have the column).
    fn clear(&mut self, name: &str) {
        match name {
            "DeviceName" => self.device = None,
            "InitiatingProcessParentFileName" => self.parent = None,
            "InitiatingProcessFileName" => self.service = None,
            "InitiatingProcessCommandLine" => self.cmdline = None,
            "InitiatingProcessId" => self.pid = None,
            "InitiatingProcessCreationTime" => self.created = None,
            "InitiatingProcessAccountName" => self.account = None,
            "InitiatingProcessSHA1" => self.sha1 = None,
            "FileName" => self.file_name = None,
            "SHA1" => self.file_sha1 = None,
            "ProcessCommandLine" => self.command_line = None,
            "FolderPath" => self.folder_path = None,
            "ActionType" => self.action = None,
            "RemoteIP" => self.remote_ip = None,
            "RemoteUrl" => self.remote_url = None,
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// File variations
// ---------------------------------------------------------------------------------------------

/// How a file stores its strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strings {
    Utf8,
    LargeUtf8,
    Utf8View,
    /// Dictionary(Int32, Utf8), as many writers store low-cardinality columns.
    Dictionary,
}

/// How a file stores InitiatingProcessId.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidType {
    Int32,
    Int64,
    /// Text: a wrong type the lake must reject, naming the file and the column.
    Utf8,
}

/// Which time columns a file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeColumns {
    /// Sentinel (Log Analytics) exports.
    TimeGenerated,
    /// Defender Advanced Hunting exports.
    Timestamp,
    Both,
}

/// Where below the table folder a file goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Folder {
    Flat,
    /// `date=2026-11-19/`
    Hive,
    /// `y=2026/m=11/d=19/`
    HiveNested,
    /// `2026/11/19/`
    Plain,
    Custom(String),
}

impl Folder {
    fn relative(&self) -> &str {
        match self {
            Folder::Flat => "",
            Folder::Hive => "date=2026-11-19",
            Folder::HiveNested => "y=2026/m=11/d=19",
            Folder::Plain => "2026/11/19",
            Folder::Custom(path) => path,
        }
    }
}

/// The layout of one Parquet file.
#[derive(Debug, Clone)]
pub struct FileSpec {
    /// The unit of every timestamp column; values are truncated to it.
    pub unit: TimeUnit,
    /// The timestamp columns' zone: `None` (no zone, UTC wall clock), `"UTC"`, `"+01:00"`, ...
    pub zone: Option<&'static str>,
    pub strings: Strings,
    pub pid: PidType,
    pub time_columns: TimeColumns,
    /// Columns the file does not have.
    pub omit: Vec<&'static str>,
    /// Add a column no Defender schema has.
    pub extra_column: bool,
    pub folder: Folder,
    /// The file name (default: `part-NNNNN.parquet`, numbered per lake).
    pub name: Option<String>,
    /// Store the Arrow schema in the file (as arrow-rs and pyarrow do). Without it, readers see
    /// only Parquet's own types, as with files from Spark or other writers: every string layout
    /// reads back as plain strings, zones as UTC or none.
    pub arrow_metadata: bool,
}

impl Default for FileSpec {
    fn default() -> Self {
        FileSpec {
            unit: TimeUnit::Nanosecond,
            zone: Some("UTC"),
            strings: Strings::Utf8,
            pid: PidType::Int64,
            time_columns: TimeColumns::TimeGenerated,
            omit: Vec::new(),
            extra_column: false,
            folder: Folder::Flat,
            name: None,
            arrow_metadata: true,
        }
    }
}

impl FileSpec {
    pub fn unit(self, unit: TimeUnit) -> Self {
        FileSpec { unit, ..self }
    }
    pub fn zone(self, zone: Option<&'static str>) -> Self {
        FileSpec { zone, ..self }
    }
    pub fn strings(self, strings: Strings) -> Self {
        FileSpec { strings, ..self }
    }
    pub fn pid(self, pid: PidType) -> Self {
        FileSpec { pid, ..self }
    }
    pub fn time_columns(self, time_columns: TimeColumns) -> Self {
        FileSpec {
            time_columns,
            ..self
        }
    }
    pub fn omit(self, omit: &[&'static str]) -> Self {
        FileSpec {
            omit: omit.to_vec(),
            ..self
        }
    }
    pub fn extra_column(self) -> Self {
        FileSpec {
            extra_column: true,
            ..self
        }
    }
    pub fn folder(self, folder: Folder) -> Self {
        FileSpec { folder, ..self }
    }
    pub fn without_arrow_metadata(self) -> Self {
        FileSpec {
            arrow_metadata: false,
            ..self
        }
    }
    pub fn named(self, name: &str) -> Self {
        FileSpec {
            name: Some(name.to_string()),
            ..self
        }
    }

    fn has(&self, column: &str) -> bool {
        !self.omit.contains(&column)
    }

    /// The rows as huntlake will read them back from this file: times truncated to the unit,
    /// omitted columns null, and the event time taken from the column the file has.
    pub fn effective_rows(&self, rows: &[Row]) -> Vec<Row> {
        rows.iter()
            .map(|row| {
                let mut row = row.clone();
                if self.time_columns == TimeColumns::Timestamp {
                    row.time = row.timestamp.or(row.time);
                }
                row.timestamp = None;
                row.time = row.time.map(|t| truncate(t, self.unit));
                row.created = row.created.map(|t| truncate(t, self.unit));
                for column in &self.omit {
                    row.clear(column);
                }
                row
            })
            .collect()
    }
}

fn unit_nanos(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => NANOS_PER_SECOND,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    }
}

/// `nanos` truncated (towards the past) to a whole `unit`.
pub fn truncate(nanos: i64, unit: TimeUnit) -> i64 {
    nanos - nanos.rem_euclid(unit_nanos(unit))
}

fn time_array(spec: &FileSpec, values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    let per = unit_nanos(spec.unit);
    let values: Vec<Option<i64>> = values.map(|v| v.map(|n| n.div_euclid(per))).collect();
    let zone = spec.zone.map(Arc::<str>::from);
    match spec.unit {
        TimeUnit::Second => Arc::new(TimestampSecondArray::from(values).with_timezone_opt(zone)),
        TimeUnit::Millisecond => {
            Arc::new(TimestampMillisecondArray::from(values).with_timezone_opt(zone))
        }
        TimeUnit::Microsecond => {
            Arc::new(TimestampMicrosecondArray::from(values).with_timezone_opt(zone))
        }
        TimeUnit::Nanosecond => {
            Arc::new(TimestampNanosecondArray::from(values).with_timezone_opt(zone))
        }
    }
}

fn string_array(layout: Strings, values: Vec<Option<&str>>) -> ArrayRef {
    match layout {
        Strings::Utf8 => Arc::new(StringArray::from(values)),
        Strings::LargeUtf8 => Arc::new(LargeStringArray::from(values)),
        Strings::Utf8View => Arc::new(StringViewArray::from(values)),
        Strings::Dictionary => Arc::new(values.into_iter().collect::<DictionaryArray<Int32Type>>()),
    }
}

/// The record batch of `rows` for `table` laid out as `spec` says.
pub fn record_batch(table: Table, spec: &FileSpec, rows: &[Row]) -> RecordBatch {
    let mut columns: Vec<(&str, ArrayRef)> = Vec::new();
    if spec.time_columns != TimeColumns::Timestamp {
        columns.push((
            "TimeGenerated",
            time_array(spec, rows.iter().map(|r| r.time)),
        ));
    }
    if spec.time_columns != TimeColumns::TimeGenerated {
        let values = rows.iter().map(|r| r.timestamp.or(r.time));
        columns.push(("Timestamp", time_array(spec, values)));
    }
    let names = SERVICE_COLUMNS.iter().chain(table.own_columns());
    for &name in names {
        if !spec.has(name) {
            continue;
        }
        let array: ArrayRef = match name {
            "InitiatingProcessId" => match spec.pid {
                PidType::Int64 => Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.pid).collect::<Vec<_>>(),
                )),
                PidType::Int32 => Arc::new(Int32Array::from(
                    rows.iter()
                        .map(|r| r.pid.map(|p| i32::try_from(p).expect("pid fits int32")))
                        .collect::<Vec<_>>(),
                )),
                PidType::Utf8 => Arc::new(StringArray::from(
                    rows.iter()
                        .map(|r| r.pid.map(|p| p.to_string()))
                        .collect::<Vec<_>>(),
                )),
            },
            "InitiatingProcessCreationTime" => time_array(spec, rows.iter().map(|r| r.created)),
            _ => string_array(
                spec.strings,
                rows.iter().map(|r| r.string(table, name)).collect(),
            ),
        };
        columns.push((name, array));
    }
    if spec.extra_column {
        let values: Vec<Option<&str>> = rows.iter().map(|_| Some("from a newer schema")).collect();
        columns.push((
            "SomeColumnFromTheFuture",
            string_array(spec.strings, values),
        ));
    }
    let schema = Schema::new(
        columns
            .iter()
            .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    RecordBatch::try_new(
        Arc::new(schema),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .expect("a consistent test batch")
}

// ---------------------------------------------------------------------------------------------
// Lakes
// ---------------------------------------------------------------------------------------------

/// A lake in a temporary folder, removed when dropped.
pub struct Lake {
    /// Holds the temporary folder (removed on drop).
    _dir: tempfile::TempDir,
    root: PathBuf,
    next_file: Cell<u32>,
    /// The rows written so far per table, as huntlake reads them back.
    written: RefCell<Vec<(Table, Vec<Row>)>>,
}

impl Default for Lake {
    fn default() -> Self {
        Self::new()
    }
}

impl Lake {
    /// An empty lake with the four table folders.
    pub fn new() -> Lake {
        let lake = Lake::without_tables();
        for table in Table::ALL {
            std::fs::create_dir_all(lake.table_dir(table)).unwrap();
        }
        lake
    }

    /// An empty lake with no table folders at all.
    pub fn without_tables() -> Lake {
        Lake::at_relative("")
    }

    /// An empty lake (with the four table folders) whose root is `relative` below a temporary
    /// folder, for roots with unusual names.
    pub fn named(relative: &str) -> Lake {
        let lake = Lake::at_relative(relative);
        for table in Table::ALL {
            std::fs::create_dir_all(lake.table_dir(table)).unwrap();
        }
        lake
    }

    fn at_relative(relative: &str) -> Lake {
        let dir = tempfile::Builder::new()
            .prefix("huntlake-test-lake-")
            .tempdir()
            .unwrap();
        let root = dir.path().join(relative);
        std::fs::create_dir_all(&root).unwrap();
        Lake {
            _dir: dir,
            root,
            next_file: Cell::new(0),
            written: RefCell::new(Vec::new()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    pub fn table_dir(&self, table: Table) -> PathBuf {
        self.path().join(table.name())
    }

    fn file_path(&self, table: Table, spec: &FileSpec) -> PathBuf {
        let dir = self.table_dir(table).join(spec.folder.relative());
        std::fs::create_dir_all(&dir).unwrap();
        let name = spec.name.clone().unwrap_or_else(|| {
            let n = self.next_file.get();
            self.next_file.set(n + 1);
            format!("part-{n:05}.parquet")
        });
        dir.join(name)
    }

    /// Writes `rows` as one Parquet file of `table` with the default layout.
    pub fn add(&self, table: Table, rows: &[Row]) -> PathBuf {
        self.write(table, &FileSpec::default(), rows)
    }

    /// Writes `rows` as one Parquet file of `table` laid out as `spec` says.
    pub fn write(&self, table: Table, spec: &FileSpec, rows: &[Row]) -> PathBuf {
        let path = self.file_path(table, spec);
        let batch = record_batch(table, spec, rows);
        let file = std::fs::File::create(&path).unwrap();
        let options = ArrowWriterOptions::new().with_skip_arrow_metadata(!spec.arrow_metadata);
        let mut writer = ArrowWriter::try_new_with_options(file, batch.schema(), options).unwrap();
        // Small files get several row groups of 7 rows; large ones groups of 16,384.
        let group = if batch.num_rows() <= 100 { 7 } else { 16_384 };
        for start in (0..batch.num_rows()).step_by(group) {
            let len = group.min(batch.num_rows() - start);
            writer.write(&batch.slice(start, len)).unwrap();
            writer.flush().unwrap();
        }
        writer.close().unwrap();
        self.written
            .borrow_mut()
            .push((table, spec.effective_rows(rows)));
        path
    }

    /// Writes `batch` as is (any schema) to `relative`, below the table's folder.
    pub fn write_batch(&self, table: Table, relative: &str, batch: &RecordBatch) -> PathBuf {
        self.write_batch_with(table, relative, batch, true)
    }

    /// [`Lake::write_batch`], storing the Arrow schema in the file or not.
    pub fn write_batch_with(
        &self,
        table: Table,
        relative: &str,
        batch: &RecordBatch,
        arrow_metadata: bool,
    ) -> PathBuf {
        let path = self.table_dir(table).join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let file = std::fs::File::create(&path).unwrap();
        let options = ArrowWriterOptions::new().with_skip_arrow_metadata(!arrow_metadata);
        let mut writer = ArrowWriter::try_new_with_options(file, batch.schema(), options).unwrap();
        writer.write(batch).unwrap();
        writer.close().unwrap();
        path
    }

    /// A valid Parquet file of `table` with no rows.
    pub fn write_zero_rows(&self, table: Table, spec: &FileSpec) -> PathBuf {
        self.write(table, spec, &[])
    }

    /// What export jobs leave beside the data, none of which is data: `_SUCCESS`, checksums,
    /// a zero-byte `.parquet`, hidden files and in-progress `_temporary/` output (whose
    /// contents are not Parquet, so reading them would fail).
    pub fn write_litter(&self, table: Table) {
        let dir = self.table_dir(table);
        let put = |relative: &str, bytes: &[u8]| {
            let path = dir.join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        };
        put("_SUCCESS", b"");
        put("x.parquet.crc", b"crc\x00\x01\x02");
        put(".part-00000.parquet.crc", b"crc\x00\x01\x02");
        put("zero-bytes.parquet", b"");
        put(".hidden.parquet", b"not parquet at all");
        put("_temporary/0/part-00000.parquet", b"PAR1 half written");
        put("date=2026-11-19/_SUCCESS", b"");
        put("_delta_log/00000.json", b"{}");
    }

    /// A file named `name` (below the table folder) that is not valid Parquet.
    pub fn write_corrupt(&self, table: Table, name: &str) -> PathBuf {
        let path = self.table_dir(table).join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"PAR1\x15\x04garbage, not a parquet footer PAR1").unwrap();
        path
    }

    /// Writes a zero-row file (full schema) in every table that has no file yet, so that a
    /// test only writes the tables it is about.
    pub fn fill_empty_tables(&self) {
        for table in Table::ALL {
            let has_file = self.written.borrow().iter().any(|(t, _)| *t == table);
            if !has_file {
                self.write_zero_rows(table, &FileSpec::default());
            }
        }
    }

    /// Every row written so far, as huntlake reads it back, per table.
    pub fn rows(&self, table: Table) -> Vec<Row> {
        self.written
            .borrow()
            .iter()
            .filter(|(t, _)| *t == table)
            .flat_map(|(_, rows)| rows.iter().cloned())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Running the detection
// ---------------------------------------------------------------------------------------------

/// What one run returned.
#[derive(Debug)]
pub struct Run {
    /// The NDJSON lines, one per detection, in output order.
    pub lines: Vec<String>,
    /// The notes the run emitted (stderr in the CLI).
    pub notes: Vec<String>,
    pub spilled: bool,
    pub summary: String,
}

impl Run {
    /// The detections as JSON objects.
    pub fn rows(&self) -> Vec<Value> {
        self.lines
            .iter()
            .map(|l| serde_json::from_str(l).expect("every NDJSON line is JSON"))
            .collect()
    }
}

/// A request for `lake` as of [`AS_OF`], changed by `configure`.
pub fn request(lake: &Path, plan: Plan, configure: &dyn Fn(&mut DetectRequest)) -> DetectRequest {
    let mut request = DetectRequest::new(lake);
    request.as_of = Some(as_of());
    configure(&mut request);
    request.plan = plan;
    request
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs one plan and returns the library's result.
pub fn try_detect(
    lake: &Path,
    plan: Plan,
    configure: &dyn Fn(&mut DetectRequest),
) -> Result<(Detection, Vec<String>), huntlake::HuntError> {
    let request = request(lake, plan, configure);
    let mut notes = Vec::new();
    let result = runtime().block_on(huntlake::detect(&request, &mut |note| {
        notes.push(note.to_string())
    }));
    result.map(|detection| (detection, notes))
}

/// Runs one plan; panics on error.
pub fn run_plan(lake: &Path, plan: Plan, configure: &dyn Fn(&mut DetectRequest)) -> Run {
    let (detection, notes) = try_detect(lake, plan, configure)
        .unwrap_or_else(|e| panic!("detect ({plan:?}) failed on {}: {e}", lake.display()));
    let lines = detection
        .batches
        .iter()
        .flat_map(|batch| (0..batch.num_rows()).map(move |row| huntlake::json_object(batch, row)))
        .collect();
    Run {
        lines,
        notes,
        spilled: detection.spilled,
        summary: detection.summary(),
    }
}

/// Runs the keyed plan and the literal plan (the KQL's own join structure) on the lake at
/// `path`, and the keyed plan again across three workers ([`local_cluster`]); asserts all give
/// the same lines in the same order, and returns the keyed run.
pub fn run_both_at(path: &Path, configure: &dyn Fn(&mut DetectRequest)) -> Run {
    let keyed = run_keyed_and_literal_at(path, configure);
    let distributed = run_plan(path, Plan::Keyed, &|request| {
        configure(request);
        request.session.cluster = Some(local_cluster());
    });
    assert_eq!(
        keyed.lines,
        distributed.lines,
        "one process and three workers disagree on {}",
        path.display()
    );
    keyed
}

/// A `huntlake worker` child process, killed when dropped.
pub struct WorkerProcess {
    pub child: Child,
    pub url: String,
    /// The lines it logged so far (read on a thread of its own).
    log: mpsc::Receiver<String>,
}

impl WorkerProcess {
    /// Starts a worker on a port the system chooses, with `env` set and `args` added.
    pub fn start(env: &[(&str, &str)], args: &[&str]) -> WorkerProcess {
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("huntlake"));
        command
            .args(["worker", "--listen", "127.0.0.1:0", "--threads", "1"])
            .args(args)
            .env_remove("HUNTLAKE_CLUSTER_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (lines, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let first = log
            .recv_timeout(Duration::from_secs(60))
            .expect("the worker says where it listens");
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_string();
        WorkerProcess { child, url, log }
    }

    /// The lines logged so far.
    pub fn lines(&self) -> Vec<String> {
        self.log.try_iter().collect()
    }

    /// Waits for a line containing `text`.
    pub fn wait_for(&self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(_) => panic!("the worker logged no {text:?} within {within:?}"),
            }
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three huntlake workers served by this test process on 127.0.0.1 (ports the system
/// chose), started on first use and shared by the process's tests.
pub fn local_cluster() -> huntlake::Cluster {
    static WORKERS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let workers = WORKERS.get_or_init(|| {
        let (ready, addresses) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            runtime().block_on(async move {
                let mut served = Vec::new();
                for _ in 0..3 {
                    let ready = ready.clone();
                    let options = huntlake::WorkerOptions {
                        listen: "127.0.0.1:0".parse().unwrap(),
                        token: None,
                        session: huntlake::SessionOptions::default(),
                        log: Arc::new(|_: &str| {}),
                        log_plans: false,
                        version: huntlake::cluster_version().to_string(),
                    };
                    served.push(tokio::spawn(huntlake::serve_worker(
                        options,
                        move |address| ready.send(format!("http://{address}")).unwrap(),
                    )));
                }
                for worker in served {
                    worker.await.unwrap().unwrap();
                }
            })
        });
        (0..3).map(|_| addresses.recv().unwrap()).collect()
    });
    huntlake::Cluster::new(workers, None).unwrap()
}

/// The keyed plan and the literal plan on the lake at `path`, asserted equal: the keyed run.
pub fn run_keyed_and_literal_at(path: &Path, configure: &dyn Fn(&mut DetectRequest)) -> Run {
    let keyed = run_plan(path, Plan::Keyed, configure);
    let literal = run_plan(path, Plan::Literal, configure);
    assert_eq!(
        keyed.lines,
        literal.lines,
        "the keyed plan and the literal plan disagree on {}",
        path.display()
    );
    keyed
}

/// [`run_both_at`] on a test lake, after giving every table without a file a zero-row one.
/// Then both plans again on the lake as each [`layouts::ForeignLayout`] lays it out.
pub fn run_both(lake: &Lake, configure: &dyn Fn(&mut DetectRequest)) -> Run {
    lake.fill_empty_tables();
    let run = run_both_at(lake.path(), configure);
    same_on_foreign_layouts(lake, &run, &layouts::ForeignLayout::ALL, configure);
    run
}

/// [`run_keyed_and_literal_at`] on a test lake (the random lakes, too many to run three ways),
/// then on the lake as `layout` lays it out.
pub fn run_keyed_and_literal(
    lake: &Lake,
    layout: layouts::ForeignLayout,
    configure: &dyn Fn(&mut DetectRequest),
) -> Run {
    lake.fill_empty_tables();
    let run = run_keyed_and_literal_at(lake.path(), configure);
    same_on_foreign_layouts(lake, &run, &[layout], configure);
    run
}

/// Asserts that both plans give `run`'s lines on `lake` rewritten as each of `layouts`.
fn same_on_foreign_layouts(
    lake: &Lake,
    run: &Run,
    layouts: &[layouts::ForeignLayout],
    configure: &dyn Fn(&mut DetectRequest),
) {
    for &layout in layouts {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("lake");
        layouts::relayout(lake.path(), &copy, layout);
        let foreign = run_keyed_and_literal_at(&copy, configure);
        assert_eq!(
            run.lines,
            foreign.lines,
            "the lake as {layout:?} writes it gives other detections ({}): {}; {:?}",
            lake.path().display(),
            foreign.summary,
            foreign.notes
        );
    }
}

/// The detections of `lake` with the default parameters, as JSON objects (both plans checked).
pub fn detections(lake: &Lake) -> Vec<Value> {
    run_both(lake, &|_| {}).rows()
}

/// No change to the default request.
pub fn defaults(_: &mut DetectRequest) {}

/// The one detection for `service` (the test fails if there is not exactly one).
pub fn only_row<'a>(rows: &'a [Value], service: &str) -> &'a Value {
    let found: Vec<&Value> = rows
        .iter()
        .filter(|r| r["ServiceProcess"] == service)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one detection of {service:?}, got {rows:#?}"
    );
    found[0]
}

/// The service names of `rows`, in order.
pub fn services(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["ServiceProcess"].as_str().unwrap().to_string())
        .collect()
}

/// A JSON array of strings.
pub fn strings(values: &[&str]) -> Value {
    Value::Array(
        values
            .iter()
            .map(|v| Value::String(v.to_string()))
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// Random data
// ---------------------------------------------------------------------------------------------

/// huntlake's splitmix64, with the draws the generated test lakes use (by remainder).
#[derive(Debug, Clone)]
pub struct Rng(huntlake::synth::SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(huntlake::synth::SplitMix64::new(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0.modulo(n as u64) as usize
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.0.modulo(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        self.0.pick(items)
    }
}

/// This process's umask (read from /proc, without changing it; 022 where it cannot be read).
pub fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .and_then(|m| u32::from_str_radix(m.trim(), 8).ok())
        .unwrap_or(0o022)
}

/// Every file below `dir`, sorted.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Copies the folder `from` (recursively) to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
