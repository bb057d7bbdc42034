//! The rule: Sentinel's "Rare Process as a Service", translated to the SQL in `sql/`, with its
//! parameters bound (never spliced into the SQL text).

mod bound_lists;
mod compact;
pub mod detect;
pub mod materialize;
pub mod metadata;
mod planning;
pub mod scratch;
pub mod steps;

use datafusion::arrow::array::{Array, ArrayRef, ListArray, StringArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, ParamValues, ScalarValue};
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::{DataFrame, SessionContext};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{QueryContext, Result};
use crate::plan::ScanProgress;
pub use detect::{DetectRequest, Detection, detect};
pub use materialize::{MaterializeOptions, Materialized};
use steps::{DETECTION, GET_SERVICES, LITERAL, RARE_SERVICES};

/// The rule's lookback as published (`LookupTime = 14d`), as a Kusto timespan.
pub const DEFAULT_LOOKBACK: &str = "14d";

/// The rule's threshold as published: a service is rare below this many launches on a device.
pub const DEFAULT_THRESHOLD: i64 = 6;

/// How far before the window a time partition must end to be left unopened (see
/// `--partition-slack`), as a Kusto timespan.
pub const DEFAULT_PARTITION_SLACK: &str = "1d";

/// The rule's allowlist as published.
pub const DEFAULT_ALLOWLIST: [&str; 5] = [
    "svchost.exe",
    "mssense.exe",
    "msmpeng.exe",
    "searchindexer.exe",
    "microsoftedgeupdate.exe",
];

/// The output columns, in order: other tools parse them.
pub const OUTPUT_COLUMNS: [&str; 18] = [
    "DeviceName",
    "ServiceProcess",
    "ServiceProcessCmdline",
    "ServiceProcessCreationTime",
    "ServiceProcessID",
    "ServiceProcessUser",
    "ServiceProcessSHA1",
    "ConnectedAddresses",
    "ConnectedUrls",
    "FilesModified",
    "FileModFolderPath",
    "FileModHA1s",
    "ChildProcesses",
    "ChildCommandlines",
    "DLLsLoaded",
    "DLLSHA1",
    "HostName",
    "DnsDomain",
];

/// huntlake's columns after the rule's in both plans: the first and last TimeGenerated of the
/// events behind each instance. [`run`] takes them off the batches into
/// [`RuleRun::event_times`], so that the rule's output stays the rule's 18 columns.
pub const EVENT_TIME_COLUMNS: [&str; 2] = ["FirstEventTime", "LastEventTime"];

/// The first and last event time of one detection (nanoseconds since the epoch), from the
/// events behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventTimes {
    pub first: Option<i64>,
    pub last: Option<i64>,
}

/// The rule's tunable parameters. The default is the rule as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleOptions {
    /// `LookupTime`, nanoseconds.
    pub lookback: i64,
    /// A service is rare when launched fewer than this many times (`count_ < 6`).
    pub threshold: i64,
    /// Service names that never alert, matched whole and ignoring ASCII case (`!in~`).
    pub allowlist: Vec<String>,
    /// Keep `""` inside sets, as Kusto's `make_set` does (the default).
    pub keep_empty_in_sets: bool,
    /// Let a null ServiceProcessID / ServiceProcessCreationTime join a null (default: no).
    pub null_keys_match: bool,
}

impl Default for RuleOptions {
    fn default() -> Self {
        RuleOptions {
            lookback: crate::time::parse_span(DEFAULT_LOOKBACK).expect("a valid default lookback"),
            threshold: DEFAULT_THRESHOLD,
            allowlist: DEFAULT_ALLOWLIST.iter().map(|s| s.to_string()).collect(),
            keep_empty_in_sets: true,
            null_keys_match: false,
        }
    }
}

/// The parameters of one run of the rule: its options and its `now()`.
#[derive(Debug, Clone)]
pub struct RuleParams {
    /// `now()` of the query, nanoseconds since the epoch (a whole tick).
    pub as_of: i64,
    pub options: RuleOptions,
    /// Compute each detection's first and last event time (alerts, the state and the report
    /// need them; rows do not, and skipping them saves decoding the time column again).
    pub event_times: bool,
}

impl RuleParams {
    pub fn new(as_of: i64, options: RuleOptions) -> Self {
        RuleParams {
            as_of,
            options,
            event_times: true,
        }
    }

    /// The exclusive lower bound of the window: `ago(LookupTime)`.
    pub fn since(&self) -> i64 {
        self.as_of.saturating_sub(self.options.lookback)
    }

    /// The values bound to the SQL's `$name` placeholders.
    pub fn bindings(&self) -> ParamValues {
        ParamValues::from(self.binding_list())
    }

    /// [`Self::bindings`] as a list, to which a step can add its own.
    fn binding_list(&self) -> Vec<(&'static str, ScalarValue)> {
        let options = &self.options;
        let allowlist: Vec<&str> = options.allowlist.iter().map(String::as_str).collect();
        let unmatched: &[&str] = if options.keep_empty_in_sets {
            &[""]
        } else {
            &[]
        };
        vec![
            (
                "since",
                ScalarValue::TimestampNanosecond(Some(self.since()), Some("UTC".into())),
            ),
            ("allowlist", string_list(&allowlist)),
            ("threshold", ScalarValue::Int64(Some(options.threshold))),
            (
                "keep_empty",
                ScalarValue::Boolean(Some(options.keep_empty_in_sets)),
            ),
            ("unmatched", string_list(unmatched)),
            (
                "null_keys_match",
                ScalarValue::Boolean(Some(options.null_keys_match)),
            ),
            ("event_times", ScalarValue::Boolean(Some(self.event_times))),
        ]
    }
}

/// Reads an allowlist file: one name per line, `#` starts a comment, blank lines ignored,
/// surrounding spaces trimmed.
pub fn read_allowlist(path: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|source| crate::error::HuntError::Io {
        context: format!("reading allowlist {}", path.display()),
        source,
    })?;
    Ok(text
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect())
}

/// A bound list of strings (`$allowlist`, `$rare_services`).
pub(crate) fn string_list(values: &[&str]) -> ScalarValue {
    let values: ArrayRef = Arc::new(StringArray::from(values.to_vec()));
    let list = ListArray::new(
        Arc::new(Field::new_list_field(DataType::Utf8, true)),
        OffsetBuffer::from_lengths([values.len()]),
        values,
        None,
    );
    ScalarValue::List(Arc::new(list))
}

/// Which translation to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// GetServices materialized once, then sets per instance and keyed left joins.
    Keyed,
    /// The KQL's join structure with full multiplicity (small data only).
    Literal,
}

/// What a run of the rule produced.
#[derive(Debug)]
pub struct RuleRun {
    /// The detections, sorted by the 7 keys.
    pub batches: Vec<RecordBatch>,
    /// With [`Plan::Keyed`]: GetServices and RareServices, registered in the session while
    /// these guards live.
    pub materialized: Option<Materialized>,
    /// RareServices, kept (with its spill files) for as long as the run's tables are used.
    pub _rare: Option<Materialized>,
    /// Each step's name and time, and its physical plan with the run's metrics.
    pub plans: Vec<(String, StepPlan)>,
    /// On a cluster: the bytes that crossed between processes.
    pub bytes_moved: u64,
    /// Each detection's first and last event time, in the order of `batches`' rows.
    pub event_times: Vec<EventTimes>,
}

/// Runs the rule on the tables registered in `ctx`.
pub async fn run(
    ctx: &SessionContext,
    params: &RuleParams,
    plan: Plan,
    options: &MaterializeOptions,
    progress: &ScanProgress,
) -> Result<RuleRun> {
    match plan {
        Plan::Keyed => {
            let started = Instant::now();
            let _one_round = planning::one_optimizer_round(ctx);
            let services = GET_SERVICES.plan(ctx, params.bindings()).await?;
            let materialized =
                materialize::materialize(ctx, services, GET_SERVICES.name, options, progress)
                    .await?;
            let services_done = started.elapsed();
            let rare = RARE_SERVICES.plan(ctx, params.bindings()).await?;
            let rare =
                materialize::materialize(ctx, rare, RARE_SERVICES.name, options, progress).await?;
            let rare_done = started.elapsed();
            let mut bindings = params.binding_list();
            let lists =
                bound_lists::bound_lists(ctx, materialized.batches(), rare.batches()).await?;
            bindings.push(("rare_services", lists.rare_services));
            bindings.push(("rare_devices", lists.rare_devices));
            bindings.push(("min_pid", ScalarValue::Int64(lists.pid_range.0)));
            bindings.push(("max_pid", ScalarValue::Int64(lists.pid_range.1)));
            without_join_dynamic_filters(ctx);
            let detect = DETECTION.plan(ctx, ParamValues::from(bindings)).await?;
            check_output_columns(&detect, DETECTION.file)?;
            let (batches, detect_plan) =
                collect_with_schema(detect, "running the detection", DETECTION.name, progress)
                    .await?;
            let plans = vec![
                step_report(GET_SERVICES.name, services_done, &materialized.plan),
                step_report(RARE_SERVICES.name, rare_done - services_done, &rare.plan),
                step_report(DETECTION.name, started.elapsed() - rare_done, &detect_plan),
            ];
            let bytes_moved = [&materialized.plan, &rare.plan, &detect_plan]
                .into_iter()
                .map(crate::plan::cluster::bytes_moved)
                .sum();
            let (batches, event_times) = split_event_times(batches)?;
            Ok(RuleRun {
                batches,
                event_times,
                materialized: Some(materialized),
                _rare: Some(rare),
                plans,
                bytes_moved,
            })
        }
        Plan::Literal => {
            let started = Instant::now();
            let literal = LITERAL.plan(ctx, params.bindings()).await?;
            check_output_columns(&literal, LITERAL.file)?;
            let (batches, plan) = collect_with_schema(
                literal,
                "running the literal translation",
                LITERAL.name,
                progress,
            )
            .await?;
            let (batches, event_times) = split_event_times(batches)?;
            Ok(RuleRun {
                batches,
                event_times,
                materialized: None,
                _rare: None,
                bytes_moved: crate::plan::cluster::bytes_moved(&plan),
                plans: vec![step_report(LITERAL.name, started.elapsed(), &plan)],
            })
        }
    }
}

/// The detection's joins are keyed on the materialized steps, whose keys already reach the
/// scans as bound lists (`$rare_services`, `$rare_devices`, the process-id range) on the raw
/// columns. A join's dynamic filter repeats them on the Kusto view's wrapped columns, which
/// row-group statistics cannot use, and each file's opening pays for rewriting it: turned off,
/// the detection took a fifth less time on a lake of 1,400 small files and no more elsewhere.
fn without_join_dynamic_filters(ctx: &SessionContext) {
    planning::set_optimizer_options(ctx, |optimizer| {
        optimizer.enable_join_dynamic_filter_pushdown = false
    });
}

/// The rule's output columns are a contract other tools parse: a plan (or a file tried with
/// `HUNTLAKE_SQL_DIR`) that gives others is refused before it runs.
fn check_output_columns(df: &DataFrame, file: &str) -> Result<()> {
    let names: Vec<&str> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    let expected: Vec<&str> = OUTPUT_COLUMNS
        .iter()
        .chain(&EVENT_TIME_COLUMNS)
        .copied()
        .collect();
    if names == expected {
        return Ok(());
    }
    Err(DataFusionError::Plan(format!(
        "it gives the columns {}; the rule's output is {}, then huntlake's {}",
        names.join(", "),
        OUTPUT_COLUMNS.join(", "),
        EVENT_TIME_COLUMNS.join(", ")
    )))
    .context(format!("planning sql/{file}"))
}

/// Takes the event-time columns off the detection's batches.
fn split_event_times(batches: Vec<RecordBatch>) -> Result<(Vec<RecordBatch>, Vec<EventTimes>)> {
    let rule_columns: Vec<usize> = (0..OUTPUT_COLUMNS.len()).collect();
    let mut times = Vec::new();
    let mut rule_batches = Vec::with_capacity(batches.len());
    for batch in batches {
        let column = |i: usize| -> Result<Vec<Option<i64>>> {
            let array = batch.column(OUTPUT_COLUMNS.len() + i);
            let array = datafusion::arrow::compute::cast(
                array,
                &DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Nanosecond, None),
            )
            .map_err(DataFusionError::from)
            .context(format!("reading {}", EVENT_TIME_COLUMNS[i]))?;
            let array = array
                .as_any()
                .downcast_ref::<datafusion::arrow::array::TimestampNanosecondArray>()
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            Ok(array)
        };
        let (first, last) = (column(0)?, column(1)?);
        times.extend(
            first
                .into_iter()
                .zip(last)
                .map(|(first, last)| EventTimes { first, last }),
        );
        rule_batches.push(
            batch
                .project(&rule_columns)
                .map_err(DataFusionError::from)
                .context("taking the rule's columns")?,
        );
    }
    Ok((rule_batches, times))
}

fn plain_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Dictionary(_, value) if **value == DataType::Utf8 => {
                f.as_ref().clone().with_data_type(DataType::Utf8View)
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn plain_strings(batch: &RecordBatch) -> datafusion::common::Result<RecordBatch> {
    materialize::cast_to_schema(batch, &plain_schema(&batch.schema()))
}

/// A step's name and time, and its plan with the run's metrics.
fn step_report(step: &str, took: Duration, plan: &Arc<dyn ExecutionPlan>) -> (String, StepPlan) {
    (
        format!("{step} ({:.3} s)", took.as_secs_f64()),
        StepPlan::Executed(Arc::clone(plan)),
    )
}

/// What `--explain` prints for a step: its physical plan with the run's metrics, as `EXPLAIN
/// ANALYZE` prints them, rendered only when shown (on a small lake, rendering the three plans
/// took longer than running one of them), or a text.
#[derive(Debug, Clone)]
pub enum StepPlan {
    Executed(Arc<dyn ExecutionPlan>),
    Text(String),
}

impl fmt::Display for StepPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepPlan::Executed(plan) => f.write_str(&crate::plan::cluster::display(plan)),
            StepPlan::Text(text) => f.write_str(text),
        }
    }
}

/// Collects `df`; with no rows, one empty batch, so writers still know the columns (a CSV
/// header, a valid empty Parquet file).
async fn collect_with_schema(
    df: DataFrame,
    what: &str,
    step: &'static str,
    progress: &ScanProgress,
) -> Result<(Vec<RecordBatch>, Arc<dyn ExecutionPlan>)> {
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let task = Arc::new(df.task_ctx());
    let plan = df.create_physical_plan().await.context(what)?;
    progress.start(step, &plan);
    let mut batches = collect(Arc::clone(&plan), task).await.context(what)?;
    let plan = crate::plan::cluster::with_worker_metrics(plan).await?;
    progress.finish(&plan);
    batches.retain(|b| b.num_rows() > 0);
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(schema));
    }
    // Columns that come from a materialized step are dictionaries: give them back as the
    // lake's string views, so that both plans output the same types.
    let batches = batches
        .iter()
        .map(plain_strings)
        .collect::<datafusion::common::Result<Vec<_>>>()
        .context(what)?;
    Ok((batches, plan))
}
