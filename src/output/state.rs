//! What earlier runs reported, so that a daily run reports each instance once (`--state`).
//!
//! A state is a folder, on disk or in an object store, that huntlake alone writes:
//!
//! - `state.json`: the manifest, the one object a run replaces to commit: the rule parameters
//!   the state was made with, its generation, and the names of the two tables below;
//! - `alerts-<generation>.parquet`: one row per alert id: first and last run, first and last
//!   event time, a hash of the sets and the fingerprints of every set element reported;
//! - `runs-<generation>.parquet`: the ledger, one row per run that committed.
//!
//! A run writes the next generation's tables under new names, then replaces the manifest: on
//! disk by a rename while holding a lock on `.lock` (taken when the state is opened, so a second
//! run on the same state stops at once); in an object store by a conditional put against the
//! manifest's version read at the start, so that of two overlapping runs one fails, saying so.
//! A run that fails before that replace leaves the state as it was. The previous generation's
//! tables are deleted after the commit (they are huntlake's, named in the old manifest).

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, ListArray,
    RecordBatch, StringArray, TimestampNanosecondArray, UInt64Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{
    DataType, Field, Float64Type, Int32Type, Int64Type, Schema, SchemaRef, TimeUnit,
    TimestampNanosecondType, UInt64Type,
};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use super::alerts::{Instance, ReportKind};
use crate::error::{HuntError, Result};
use crate::lake::LakeLocation;
use crate::rule::{RuleOptions, RuleParams};
use crate::time::{format_rfc3339, format_span, parse_span};

/// The manifest's name in the state folder.
pub const MANIFEST: &str = "state.json";

/// What the manifest says it is.
const FORMAT: &str = "huntlake-state/1";

/// How long past the window an instance is remembered: one run's interval (the rule's
/// queryFrequency), so that an instance at the window's edge is not reported again tomorrow.
pub const PRUNE_MARGIN: &str = crate::rule::metadata::QUERY_FREQUENCY;

/// The rule parameters a state was made with: a run with others would report against the
/// wrong history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateParameters {
    pub lookback: String,
    pub threshold: i64,
    /// Sorted, ASCII-lowercased, without duplicates (the allowlist matches ignoring case).
    pub allowlist: Vec<String>,
    pub keep_empty_in_sets: bool,
    pub null_keys_match: bool,
}

impl StateParameters {
    pub fn of(options: &RuleOptions) -> Self {
        let mut allowlist: Vec<String> = options
            .allowlist
            .iter()
            .map(|name| name.to_ascii_lowercase())
            .collect();
        allowlist.sort();
        allowlist.dedup();
        StateParameters {
            lookback: format_span(options.lookback),
            threshold: options.threshold,
            allowlist,
            keep_empty_in_sets: options.keep_empty_in_sets,
            null_keys_match: options.null_keys_match,
        }
    }

    /// How `self` (the state's) differs from `run` (this run's), for the refusal.
    fn differences(&self, run: &StateParameters) -> Vec<String> {
        let mut out = Vec::new();
        if self.lookback != run.lookback {
            out.push(format!(
                "lookback {} (this run: {})",
                self.lookback, run.lookback
            ));
        }
        if self.threshold != run.threshold {
            out.push(format!(
                "threshold {} (this run: {})",
                self.threshold, run.threshold
            ));
        }
        if self.allowlist != run.allowlist {
            out.push(format!(
                "allowlist [{}] (this run: [{}])",
                self.allowlist.join(", "),
                run.allowlist.join(", ")
            ));
        }
        if self.keep_empty_in_sets != run.keep_empty_in_sets {
            out.push("--drop-empty-in-sets differs".into());
        }
        if self.null_keys_match != run.null_keys_match {
            out.push("--null-keys-match differs".into());
        }
        out
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    format: String,
    rule_id: String,
    parameters: StateParameters,
    generation: u64,
    alerts: String,
    runs: String,
    committed: String,
}

/// One alert id the state remembers.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    pub alert_id: String,
    pub device_name: Option<String>,
    pub service_process: Option<String>,
    pub first_run: String,
    pub last_run: String,
    /// The as-of of the first and last run that detected the instance.
    pub first_run_as_of: i64,
    pub last_run_as_of: i64,
    pub first_event_time: Option<i64>,
    pub last_event_time: Option<i64>,
    pub sets_hash: String,
    /// The fingerprints of every set element reported so far (sorted).
    pub seen: Vec<u64>,
    /// How many runs reported it (new or updated).
    pub reports: i64,
}

/// One committed run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub run_id: String,
    pub started: i64,
    pub as_of: i64,
    pub window_start: i64,
    pub window_end: i64,
    pub rows: i64,
    pub new: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub pruned: i64,
    pub new_only: bool,
    pub duration_seconds: f64,
    pub exit_code: i32,
}

/// What one run found against the state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Review {
    pub new: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// An opened state: what earlier runs left, locked (on disk) or versioned (in a store) until
/// this run commits or drops it.
pub struct State {
    location: LakeLocation,
    manifest: Option<Manifest>,
    /// The manifest's version when read, for the conditional put.
    version: Option<UpdateVersion>,
    /// On disk: the lock held for the run (released when dropped).
    _lock: Option<std::fs::File>,
    parameters: StateParameters,
    pub alerts: Vec<AlertRecord>,
    pub runs: Vec<RunRecord>,
}

impl State {
    /// Opens (or starts) the state at `root` for a run with `options`. A state made with other
    /// rule parameters is refused unless `reset` (which starts its alerts afresh and keeps the
    /// ledger).
    pub async fn open(root: &str, options: &RuleOptions, reset: bool) -> Result<State> {
        let parameters = StateParameters::of(options);
        let local = !root.contains("://") || root.starts_with("file://");
        let lock = if local {
            let folder = root.strip_prefix("file://").unwrap_or(root);
            std::fs::create_dir_all(folder).map_err(|source| HuntError::Io {
                context: format!("creating the state folder {folder}"),
                source,
            })?;
            Some(lock_folder(std::path::Path::new(folder))?)
        } else {
            None
        };
        let location = LakeLocation::parse(root)?;
        let (manifest, version) = read_manifest(&location).await?;
        let mut state = State {
            location,
            manifest,
            version,
            _lock: lock,
            parameters,
            alerts: Vec::new(),
            runs: Vec::new(),
        };
        let Some(manifest) = state.manifest.clone() else {
            return Ok(state);
        };
        state.runs = runs_from(&read_table(&state.location, &manifest.runs).await?)
            .map_err(|e| state_error(root, format!("{}: {e}", manifest.runs)))?;
        let differences = manifest.parameters.differences(&state.parameters);
        if !differences.is_empty() && !reset {
            return Err(HuntError::usage(format!(
                "the state {root} was made with other rule parameters: {}; run with the \
                 state's parameters, use another --state, or pass --reset-state to start its \
                 alerts afresh",
                differences.join("; ")
            )));
        }
        if !reset {
            state.alerts = alerts_from(&read_table(&state.location, &manifest.alerts).await?)
                .map_err(|e| state_error(root, format!("{}: {e}", manifest.alerts)))?;
        }
        Ok(state)
    }

    /// The state's tables as they are (alerts, runs), for reading with SQL; no lock is taken.
    pub async fn inspect(root: &str) -> Result<(Vec<RecordBatch>, Vec<RecordBatch>)> {
        let location = LakeLocation::parse(root)?;
        let Some(manifest) = read_manifest(&location).await?.0 else {
            return Ok((vec![alerts_batch(&[])], vec![runs_batch(&[])]));
        };
        let mut alerts = read_table(&location, &manifest.alerts).await?;
        let mut runs = read_table(&location, &manifest.runs).await?;
        if alerts.is_empty() {
            alerts.push(alerts_batch(&[]));
        }
        if runs.is_empty() {
            runs.push(runs_batch(&[]));
        }
        Ok((alerts, runs))
    }

    /// Where the state is, as the user wrote it.
    pub fn display(&self) -> &str {
        &self.location.display
    }

    /// Marks each instance new, updated (a set holds an element never reported) or unchanged.
    pub fn review(&self, instances: &mut [Instance]) -> Review {
        let known: std::collections::HashMap<&str, &AlertRecord> = self
            .alerts
            .iter()
            .map(|a| (a.alert_id.as_str(), a))
            .collect();
        let mut review = Review::default();
        for instance in instances.iter_mut() {
            let id = instance.id.to_string();
            instance.kind = match known.get(id.as_str()) {
                None => ReportKind::New,
                Some(record) => {
                    let grew = instance
                        .element_fingerprints()
                        .iter()
                        .any(|print| record.seen.binary_search(print).is_err());
                    if grew {
                        ReportKind::Updated
                    } else {
                        ReportKind::Unchanged
                    }
                }
            };
            match instance.kind {
                ReportKind::New => review.new += 1,
                ReportKind::Updated => review.updated += 1,
                ReportKind::Unchanged => review.unchanged += 1,
            }
        }
        review
    }

    /// Records this run's instances (all of them: an unchanged one's last run moves on) and
    /// prunes the instances that left the window; returns how many were pruned.
    /// `reported` is row-aligned with `instances`.
    pub fn record(
        &mut self,
        instances: &[Instance],
        reported: &[bool],
        params: &RuleParams,
        run_id: &str,
    ) -> usize {
        let mut by_id: std::collections::HashMap<String, usize> = self
            .alerts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.alert_id.clone(), i))
            .collect();
        for (instance, reported) in instances.iter().zip(reported) {
            let id = instance.id.to_string();
            let prints = instance.element_fingerprints();
            let reports = i64::from(*reported);
            match by_id.get(&id) {
                Some(&i) => {
                    let record = &mut self.alerts[i];
                    record.last_run = run_id.to_string();
                    record.last_run_as_of = params.as_of;
                    record.first_event_time =
                        min_some(record.first_event_time, instance.times.first);
                    record.last_event_time = max_some(record.last_event_time, instance.times.last);
                    record.sets_hash = instance.sets_hash();
                    record.seen.extend(prints);
                    record.seen.sort_unstable();
                    record.seen.dedup();
                    record.reports += reports;
                }
                None => {
                    by_id.insert(id.clone(), self.alerts.len());
                    self.alerts.push(AlertRecord {
                        alert_id: id,
                        device_name: instance.get("DeviceName").as_str().map(str::to_string),
                        service_process: instance
                            .get("ServiceProcess")
                            .as_str()
                            .map(str::to_string),
                        first_run: run_id.to_string(),
                        last_run: run_id.to_string(),
                        first_run_as_of: params.as_of,
                        last_run_as_of: params.as_of,
                        first_event_time: instance.times.first,
                        last_event_time: instance.times.last,
                        sets_hash: instance.sets_hash(),
                        seen: prints,
                        reports,
                    });
                }
            }
        }
        let margin = parse_span(PRUNE_MARGIN).expect("a valid margin");
        let horizon = params.since().saturating_sub(margin);
        let before = self.alerts.len();
        self.alerts.retain(|a| {
            a.last_event_time.unwrap_or(a.last_run_as_of) >= horizon
                || a.last_run_as_of >= params.as_of
        });
        before - self.alerts.len()
    }

    /// Writes the next generation and replaces the manifest (see the module). On failure the
    /// state is as it was.
    pub async fn commit(self) -> Result<()> {
        let root = self.location.display.clone();
        let store = Arc::clone(&self.location.store);
        let generation = self.manifest.as_ref().map_or(0, |m| m.generation) + 1;
        let alerts_name = format!("alerts-{generation:06}.parquet");
        let runs_name = format!("runs-{generation:06}.parquet");
        let new_files = [
            self.location.prefix.clone().join(alerts_name.as_str()),
            self.location.prefix.clone().join(runs_name.as_str()),
        ];
        // The files this run created, removed again if it cannot commit (never another's).
        let mut created: Vec<&Path> = Vec::new();
        let written = async {
            let tables = [
                (&new_files[0], parquet(&alerts_batch(&self.alerts))?),
                (&new_files[1], parquet(&runs_batch(&self.runs))?),
            ];
            for (path, bytes) in tables {
                put(&*store, path, bytes, PutMode::Create)
                    .await
                    .map_err(|e| conflict_or(&root, e))?;
                created.push(path);
            }
            let manifest = Manifest {
                format: FORMAT.into(),
                rule_id: crate::rule::metadata::RULE_ID.into(),
                parameters: self.parameters.clone(),
                generation,
                alerts: alerts_name.clone(),
                runs: runs_name.clone(),
                committed: format_rfc3339(crate::time::now_nanos()),
            };
            let text = serde_json::to_vec_pretty(&manifest)
                .map_err(|e| state_error(&root, e.to_string()))?;
            let mode = match (&self._lock, &self.version) {
                // On disk the lock keeps other runs out; the rename is atomic.
                (Some(_), _) => PutMode::Overwrite,
                (None, Some(version)) => PutMode::Update(version.clone()),
                (None, None) => PutMode::Create,
            };
            let manifest_path = self.location.prefix.clone().join(MANIFEST);
            put(&*store, &manifest_path, Bytes::from(text), mode)
                .await
                .map_err(|e| conflict_or(&root, e))
        }
        .await;
        if let Err(e) = written {
            for path in created {
                let _ = store.delete(path).await;
            }
            return Err(e);
        }
        if let Some(old) = &self.manifest {
            for name in [&old.alerts, &old.runs] {
                if *name != alerts_name && *name != runs_name {
                    let _ = store
                        .delete(&self.location.prefix.clone().join(name.as_str()))
                        .await;
                }
            }
        }
        Ok(())
    }
}

/// One of the state's Parquet tables, whole.
async fn read_table(location: &LakeLocation, name: &str) -> Result<Vec<RecordBatch>> {
    let error = |e: &dyn std::fmt::Display| state_error(&location.display, format!("{name}: {e}"));
    let path = location.prefix.clone().join(name);
    let bytes = location
        .store
        .get(&path)
        .await
        .map_err(|e| error(&e))?
        .bytes()
        .await
        .map_err(|e| error(&e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.build())
        .map_err(|e| error(&e))?;
    reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| error(&e))
}

/// The manifest of the state at `location` and its version, if there is one.
async fn read_manifest(
    location: &LakeLocation,
) -> Result<(Option<Manifest>, Option<UpdateVersion>)> {
    let root = &location.display;
    let manifest_path = location.prefix.clone().join(MANIFEST);
    let got = match location.store.get(&manifest_path).await {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => return Ok((None, None)),
        Err(e) => return Err(state_error(root, e)),
    };
    let version = UpdateVersion {
        e_tag: got.meta.e_tag.clone(),
        version: got.meta.version.clone(),
    };
    let bytes = got.bytes().await.map_err(|e| state_error(root, e))?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| state_error(root, format!("{MANIFEST} is not a huntlake state: {e}")))?;
    if manifest.format != FORMAT {
        return Err(state_error(
            root,
            format!(
                "{MANIFEST} is {}, this huntlake reads {FORMAT}",
                manifest.format
            ),
        ));
    }
    Ok((Some(manifest), Some(version)))
}

/// Takes the lock of a state folder on disk, or says that another run holds it.
fn lock_folder(folder: &std::path::Path) -> Result<std::fs::File> {
    let path = folder.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| HuntError::Io {
            context: format!("opening the state lock {}", path.display()),
            source,
        })?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor this function owns; released when the file closes.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if locked != 0 {
            return Err(state_error(
                &folder.display().to_string(),
                "another huntlake run is using this state (it holds .lock); it was left as it \
                 was",
            ));
        }
    }
    Ok(file)
}

async fn put(
    store: &dyn ObjectStore,
    path: &Path,
    bytes: Bytes,
    mode: PutMode,
) -> object_store::Result<()> {
    let options = PutOptions {
        mode,
        ..PutOptions::default()
    };
    store
        .put_opts(path, PutPayload::from(bytes), options)
        .await
        .map(|_| ())
}

fn conflict_or(root: &str, e: object_store::Error) -> HuntError {
    match e {
        object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. } => {
            state_error(
                root,
                "another huntlake run updated this state while this run was going: this run's \
                 alerts were not recorded and its output file not written; run it again",
            )
        }
        other => state_error(root, other),
    }
}

fn state_error(root: &str, message: impl std::fmt::Display) -> HuntError {
    HuntError::Lake {
        root: format!("state {root}"),
        message: message.to_string(),
    }
}

fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn parquet(batch: &RecordBatch) -> Result<Bytes> {
    let mut buffer = Vec::new();
    let error = |e: datafusion::parquet::errors::ParquetError| {
        HuntError::Internal(format!("writing the state: {e}"))
    };
    let mut writer = ArrowWriter::try_new(&mut buffer, batch.schema(), None).map_err(error)?;
    writer.write(batch).map_err(error)?;
    writer.close().map_err(error)?;
    Ok(Bytes::from(buffer))
}

fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

fn alerts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("AlertId", DataType::Utf8, false),
        Field::new("DeviceName", DataType::Utf8, true),
        Field::new("ServiceProcess", DataType::Utf8, true),
        Field::new("FirstRun", DataType::Utf8, false),
        Field::new("LastRun", DataType::Utf8, false),
        Field::new("FirstRunAsOf", time_type(), false),
        Field::new("LastRunAsOf", time_type(), false),
        Field::new("FirstEventTime", time_type(), true),
        Field::new("LastEventTime", time_type(), true),
        Field::new("SetsHash", DataType::Utf8, false),
        Field::new(
            "SeenElements",
            DataType::List(Arc::new(Field::new_list_field(DataType::UInt64, false))),
            false,
        ),
        Field::new("Reports", DataType::Int64, false),
    ]))
}

fn runs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("RunId", DataType::Utf8, false),
        Field::new("Started", time_type(), false),
        Field::new("AsOf", time_type(), false),
        Field::new("WindowStart", time_type(), false),
        Field::new("WindowEnd", time_type(), false),
        Field::new("Rows", DataType::Int64, false),
        Field::new("New", DataType::Int64, false),
        Field::new("Updated", DataType::Int64, false),
        Field::new("Unchanged", DataType::Int64, false),
        Field::new("Pruned", DataType::Int64, false),
        Field::new("NewOnly", DataType::Boolean, false),
        Field::new("DurationSeconds", DataType::Float64, false),
        Field::new("ExitCode", DataType::Int32, false),
    ]))
}

fn times(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from_iter(values).with_timezone("UTC"))
}

fn alerts_batch(alerts: &[AlertRecord]) -> RecordBatch {
    let strings = |f: &dyn Fn(&AlertRecord) -> Option<String>| -> ArrayRef {
        Arc::new(alerts.iter().map(f).collect::<StringArray>())
    };
    let seen_values = UInt64Array::from_iter_values(alerts.iter().flat_map(|a| a.seen.clone()));
    let seen = ListArray::new(
        Arc::new(Field::new_list_field(DataType::UInt64, false)),
        OffsetBuffer::from_lengths(alerts.iter().map(|a| a.seen.len())),
        Arc::new(seen_values),
        None,
    );
    let columns: Vec<ArrayRef> = vec![
        strings(&|a| Some(a.alert_id.clone())),
        strings(&|a| a.device_name.clone()),
        strings(&|a| a.service_process.clone()),
        strings(&|a| Some(a.first_run.clone())),
        strings(&|a| Some(a.last_run.clone())),
        times(alerts.iter().map(|a| Some(a.first_run_as_of))),
        times(alerts.iter().map(|a| Some(a.last_run_as_of))),
        times(alerts.iter().map(|a| a.first_event_time)),
        times(alerts.iter().map(|a| a.last_event_time)),
        strings(&|a| Some(a.sets_hash.clone())),
        Arc::new(seen),
        Arc::new(Int64Array::from_iter_values(
            alerts.iter().map(|a| a.reports),
        )),
    ];
    RecordBatch::try_new(alerts_schema(), columns).expect("the alerts table's columns match")
}

fn runs_batch(runs: &[RunRecord]) -> RecordBatch {
    let ints = |f: &dyn Fn(&RunRecord) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(runs.iter().map(f)))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            runs.iter()
                .map(|r| Some(r.run_id.clone()))
                .collect::<StringArray>(),
        ),
        times(runs.iter().map(|r| Some(r.started))),
        times(runs.iter().map(|r| Some(r.as_of))),
        times(runs.iter().map(|r| Some(r.window_start))),
        times(runs.iter().map(|r| Some(r.window_end))),
        ints(&|r| r.rows),
        ints(&|r| r.new),
        ints(&|r| r.updated),
        ints(&|r| r.unchanged),
        ints(&|r| r.pruned),
        Arc::new(BooleanArray::from_iter(
            runs.iter().map(|r| Some(r.new_only)),
        )),
        Arc::new(Float64Array::from_iter_values(
            runs.iter().map(|r| r.duration_seconds),
        )),
        Arc::new(Int32Array::from_iter_values(
            runs.iter().map(|r| r.exit_code),
        )),
    ];
    RecordBatch::try_new(runs_schema(), columns).expect("the runs table's columns match")
}

/// A column of `batch` by name, or what is missing.
fn column<'a>(batch: &'a RecordBatch, name: &str) -> std::result::Result<&'a ArrayRef, String> {
    batch
        .column_by_name(name)
        .ok_or_else(|| format!("no column {name}"))
}

fn string_at(array: &ArrayRef, row: usize) -> Option<String> {
    let strings = array.as_string_opt::<i32>()?;
    (!strings.is_null(row)).then(|| strings.value(row).to_string())
}

fn time_at(array: &ArrayRef, row: usize) -> Option<i64> {
    let times = array.as_primitive_opt::<TimestampNanosecondType>()?;
    (!times.is_null(row)).then(|| times.value(row))
}

fn alerts_from(batches: &[RecordBatch]) -> std::result::Result<Vec<AlertRecord>, String> {
    let mut out = Vec::new();
    for batch in batches {
        let c = |name| column(batch, name);
        let (ids, devices, services) = (c("AlertId")?, c("DeviceName")?, c("ServiceProcess")?);
        let (first_run, last_run) = (c("FirstRun")?, c("LastRun")?);
        let (first_as_of, last_as_of) = (c("FirstRunAsOf")?, c("LastRunAsOf")?);
        let (first_event, last_event) = (c("FirstEventTime")?, c("LastEventTime")?);
        let hashes = c("SetsHash")?;
        let seen = c("SeenElements")?
            .as_list_opt::<i32>()
            .ok_or("SeenElements is not a list")?;
        let reports = c("Reports")?
            .as_primitive_opt::<Int64Type>()
            .ok_or("Reports is not an integer")?;
        for row in 0..batch.num_rows() {
            let elements = seen.value(row);
            let elements = elements
                .as_primitive_opt::<UInt64Type>()
                .ok_or("SeenElements does not hold integers")?;
            out.push(AlertRecord {
                alert_id: string_at(ids, row).ok_or("an alert without an id")?,
                device_name: string_at(devices, row),
                service_process: string_at(services, row),
                first_run: string_at(first_run, row).unwrap_or_default(),
                last_run: string_at(last_run, row).unwrap_or_default(),
                first_run_as_of: time_at(first_as_of, row).ok_or("FirstRunAsOf is missing")?,
                last_run_as_of: time_at(last_as_of, row).ok_or("LastRunAsOf is missing")?,
                first_event_time: time_at(first_event, row),
                last_event_time: time_at(last_event, row),
                sets_hash: string_at(hashes, row).unwrap_or_default(),
                seen: elements.values().to_vec(),
                reports: reports.value(row),
            });
        }
    }
    Ok(out)
}

fn runs_from(batches: &[RecordBatch]) -> std::result::Result<Vec<RunRecord>, String> {
    let mut out = Vec::new();
    for batch in batches {
        let c = |name| column(batch, name);
        let int = |name| -> std::result::Result<Vec<i64>, String> {
            Ok(c(name)?
                .as_primitive_opt::<Int64Type>()
                .ok_or(format!("{name} is not an integer"))?
                .values()
                .to_vec())
        };
        let (rows, new, updated, unchanged, pruned) = (
            int("Rows")?,
            int("New")?,
            int("Updated")?,
            int("Unchanged")?,
            int("Pruned")?,
        );
        let new_only = c("NewOnly")?
            .as_boolean_opt()
            .ok_or("NewOnly is not a boolean")?;
        let duration = c("DurationSeconds")?
            .as_primitive_opt::<Float64Type>()
            .ok_or("DurationSeconds is not a number")?;
        let exit = c("ExitCode")?
            .as_primitive_opt::<Int32Type>()
            .ok_or("ExitCode is not an integer")?;
        for row in 0..batch.num_rows() {
            let time = |name| time_at(c(name).ok()?, row);
            out.push(RunRecord {
                run_id: string_at(c("RunId")?, row).unwrap_or_default(),
                started: time("Started").unwrap_or_default(),
                as_of: time("AsOf").unwrap_or_default(),
                window_start: time("WindowStart").unwrap_or_default(),
                window_end: time("WindowEnd").unwrap_or_default(),
                rows: rows[row],
                new: new[row],
                updated: updated[row],
                unchanged: unchanged[row],
                pruned: pruned[row],
                new_only: new_only.value(row),
                duration_seconds: duration.value(row),
                exit_code: exit.value(row),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_read_back_as_written() {
        let alerts = vec![AlertRecord {
            alert_id: "a".into(),
            device_name: Some("ws01".into()),
            service_process: None,
            first_run: "r1".into(),
            last_run: "r2".into(),
            first_run_as_of: 1,
            last_run_as_of: 2,
            first_event_time: None,
            last_event_time: Some(5),
            sets_hash: "h".into(),
            seen: vec![3, 9],
            reports: 2,
        }];
        let batch = alerts_batch(&alerts);
        let bytes = parquet(&batch).unwrap();
        let read: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        assert_eq!(alerts_from(&read).unwrap(), alerts);
        let runs = vec![RunRecord {
            run_id: "r".into(),
            started: 1,
            as_of: 2,
            window_start: 0,
            window_end: 2,
            rows: 3,
            new: 1,
            updated: 1,
            unchanged: 1,
            pruned: 0,
            new_only: true,
            duration_seconds: 0.5,
            exit_code: 3,
        }];
        assert_eq!(runs_from(&[runs_batch(&runs)]).unwrap(), runs);
    }
}
