//! A detection from start to end: open the lake, run the rule, say what was read.

use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::record_batch::RecordBatch;

use crate::error::{HuntError, Result};
use crate::lake::{DefenderTable, Lake, LakeOptions, LakeSource};
use crate::plan::{ScanProgress, SessionOptions, new_session};
use crate::rule::scratch::Scratch;
use crate::rule::{
    self, DEFAULT_PARTITION_SLACK, MaterializeOptions, Plan, RuleOptions, RuleParams,
};
use crate::time::{format_rfc3339, now_nanos, parse_span};

/// What to run the detection on, and how.
#[derive(Debug, Clone)]
pub struct DetectRequest {
    pub lake: LakeSource,
    /// `None`: the lake's reference time if it has one, else now.
    pub as_of: Option<i64>,
    /// The rule's parameters (default: as published).
    pub rule: RuleOptions,
    pub time_column: Option<String>,
    /// Set aside unreadable files instead of failing (listed in the summary).
    pub skip_bad_files: bool,
    /// Run with a table whose folder is missing as an empty table (with a note), instead of
    /// failing.
    pub allow_missing_tables: bool,
    /// On a cluster: where the materialized steps go (default: below the lake).
    pub scratch: Option<String>,
    /// Partition pruning: files in time partitions ending more than this before the window
    /// are not opened. `None`: every file is opened.
    pub partition_slack: Option<i64>,
    pub plan: Plan,
    pub materialize: MaterializeOptions,
    pub session: SessionOptions,
    /// Where the run reports how far its scans are.
    pub progress: ScanProgress,
    /// Compute each detection's first and last event time ([`Detection::event_times`]);
    /// without, they are `None` and the run is faster.
    pub event_times: bool,
}

impl DetectRequest {
    pub fn new(lake: impl Into<LakeSource>) -> Self {
        DetectRequest {
            lake: lake.into(),
            as_of: None,
            rule: RuleOptions::default(),
            time_column: None,
            skip_bad_files: false,
            allow_missing_tables: false,
            scratch: None,
            partition_slack: Some(
                parse_span(DEFAULT_PARTITION_SLACK).expect("a valid default partition slack"),
            ),
            plan: Plan::Keyed,
            materialize: MaterializeOptions::default(),
            session: SessionOptions::default(),
            progress: ScanProgress::default(),
            event_times: true,
        }
    }
}

/// What a run found, and what it read.
#[derive(Debug)]
pub struct Detection {
    /// The rule's 18 columns, sorted by the 7 keys.
    pub batches: Vec<RecordBatch>,
    /// Each detection's first and last event time, in the order of `batches`' rows.
    pub event_times: Vec<rule::EventTimes>,
    pub params: RuleParams,
    pub lake: Lake,
    pub service_launches: Option<usize>,
    pub spilled: bool,
    /// Each step's name and time, and its physical plan with its metrics (printed by
    /// `--explain`).
    pub plans: Vec<(String, rule::StepPlan)>,
    /// Bytes the scans read from the lake's files.
    pub bytes_read: u64,
    /// On a cluster: how many workers took part, and the bytes that moved between processes.
    pub cluster: Option<(usize, u64)>,
    pub elapsed: std::time::Duration,
}

/// `123.4 MiB`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

impl Detection {
    pub fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    /// The one-line run summary printed on stderr.
    pub fn summary(&self) -> String {
        let scanned = self
            .lake
            .tables
            .iter()
            .map(|t| format!("{} {} rows", t.table, t.rows()))
            .collect::<Vec<_>>()
            .join(", ");
        let (pruned_files, pruned_bytes) = self
            .lake
            .tables
            .iter()
            .fold((0, 0), |(n, b), t| (n + t.pruned.0, b + t.pruned.1));
        let pruned = if pruned_files > 0 {
            format!(
                "; {pruned_files} file{} ({}) in partitions before the window not opened",
                if pruned_files == 1 { "" } else { "s" },
                human_bytes(pruned_bytes)
            )
        } else {
            String::new()
        };
        let services = match self.service_launches {
            Some(n) if self.spilled => format!("; {n} service launches (spilled to disk)"),
            Some(n) => format!("; {n} service launches"),
            None => String::new(),
        };
        let rows = self.rows();
        let skipped_files: Vec<_> = self.lake.tables.iter().flat_map(|t| &t.skipped).collect();
        let skipped: String = skipped_files
            .iter()
            .map(|s| {
                format!(
                    "huntlake: skipped {} file {}: {}\n",
                    s.table, s.file, s.reason
                )
            })
            .collect();
        let excluded = match skipped_files.len() {
            0 => String::new(),
            1 => "; the result excludes the 1 skipped file".to_string(),
            n => format!("; the result excludes the {n} skipped files"),
        };
        let cluster = match self.cluster {
            // datafusion-distributed splits a plan into tasks for two workers or more; with
            // one, the planner runs it whole.
            Some((0, _)) => "; run in this process (one worker: nothing to split)".to_string(),
            Some((workers, moved)) => format!(
                "; on {workers} worker{}, {} moved between processes",
                if workers == 1 { "" } else { "s" },
                human_bytes(moved)
            ),
            None => String::new(),
        };
        format!(
            "{skipped}huntlake: scanned {scanned}{pruned}; read {} of Parquet{services}{excluded}{cluster}; \
             {rows} detection{} in {:.2} s (as of {}, lookback {})",
            human_bytes(self.bytes_read),
            if rows == 1 { "" } else { "s" },
            self.elapsed.as_secs_f64(),
            format_rfc3339(self.params.as_of),
            crate::time::format_span(self.params.options.lookback),
        )
    }
}

/// Runs the detection. `notes` receives what the user should know along the way.
pub async fn detect(request: &DetectRequest, notes: &mut dyn FnMut(&str)) -> Result<Detection> {
    let started = Instant::now();
    let now = now_nanos();
    if let Some(cluster) = &request.session.cluster {
        cluster.check_workers().await?;
    }
    let mut lake = Lake::open(&request.lake, &lake_options(request, now)).await?;
    for note in &lake.notes {
        notes(note);
    }
    let opened = started.elapsed();
    let as_of = match (request.as_of, lake.reference_time) {
        (Some(t), _) => t,
        (None, Some(t)) => {
            notes(&format!(
                "note: as of {}, the lake's reference time ({}); pass --as-of to change it",
                format_rfc3339(t),
                crate::lake::LAKE_INFO_FILE
            ));
            t
        }
        (None, None) => now,
    };
    let mut params = RuleParams::new(as_of, request.rule.clone());
    params.event_times = request.event_times;
    let run = loop {
        let error = match run_rule(request, &lake, &params).await {
            Ok(run) => break run,
            Err(e) => e,
        };
        // A corrupt data page behind a readable footer is only found by the scan, which does
        // not say which file it was reading: find every such file, then fail naming the first,
        // or set them all aside and run again without them.
        if !is_decode_error(&error) {
            return Err(name_the_file(&lake, error).await);
        }
        let undecodable = lake.find_undecodable_files().await;
        match undecodable.first() {
            None => return Err(error),
            Some(first) if !request.skip_bad_files => return Err(lake.undecodable_error(first)),
            Some(_) => lake.set_aside(undecodable)?,
        }
    };
    Ok(Detection {
        batches: run.batches,
        event_times: run.event_times,
        params,
        lake,
        service_launches: run.materialized.as_ref().map(|m| m.rows),
        spilled: run.materialized.as_ref().is_some_and(|m| m.spilled),
        plans: std::iter::once((
            format!("opening the lake ({:.3} s)", opened.as_secs_f64()),
            rule::StepPlan::Text(String::new()),
        ))
        .chain(run.plans)
        .chain(request.session.cluster.as_ref().map(|cluster| {
            (
                format!("workers ({} taking part)", cluster.workers_used()),
                rule::StepPlan::Text(cluster.routes().join("\n")),
            )
        }))
        .collect(),
        bytes_read: request.progress.bytes_read(),
        cluster: request
            .session
            .cluster
            .as_ref()
            .map(|c| (c.workers_used(), run.bytes_moved)),
        elapsed: started.elapsed(),
    })
}

fn lake_options(request: &DetectRequest, now: i64) -> LakeOptions {
    LakeOptions {
        time_column: request.time_column.clone(),
        skip_bad_files: request.skip_bad_files,
        window: request.partition_slack.map(|slack| crate::lake::Window {
            as_of: request.as_of,
            now,
            lookback: request.rule.lookback,
            slack,
        }),
        allow_missing_tables: request.allow_missing_tables,
    }
}

/// One run of the rule over `lake`, in a session of its own.
async fn run_rule(
    request: &DetectRequest,
    lake: &Lake,
    params: &RuleParams,
) -> Result<rule::RuleRun> {
    let ctx = new_session(&request.session)?;
    if request.session.cluster.is_none() {
        let process_events = lake
            .tables
            .iter()
            .filter(|t| t.table == DefenderTable::DeviceProcessEvents)
            .map(|t| t.rows())
            .sum();
        rule::planning::small_lake_aggregates_in_one_partition(&ctx, process_events);
    }
    lake.register(&ctx).await?;
    request
        .progress
        .set_total_files(lake.tables.iter().map(|t| t.files.len() as u64).sum());
    if request.session.cluster.is_none() {
        return rule::run(
            &ctx,
            params,
            request.plan,
            &request.materialize,
            &request.progress,
        )
        .await;
    }
    // On a cluster the materialized steps go to a scratch folder every worker reads, removed
    // when the run ends, whether it succeeded or not.
    let run_id = format!("{:x}-{}", now_nanos(), std::process::id());
    let scratch = Arc::new(Scratch::new(
        request.scratch.as_deref(),
        &lake.location,
        &run_id,
    )?);
    scratch.register(&ctx);
    let materialize = MaterializeOptions {
        scratch: Some(Arc::clone(&scratch)),
        ..request.materialize.clone()
    };
    let run = rule::run(&ctx, params, request.plan, &materialize, &request.progress).await;
    let removed = scratch.remove(run.is_err()).await;
    let run = run?;
    removed?;
    Ok(run)
}

/// Whether a query failed decoding a Parquet file (as opposed to planning, memory, or I/O).
fn is_decode_error(error: &HuntError) -> bool {
    matches!(error, HuntError::Query { .. }) && error.to_string().contains("Parquet error")
}

/// A query's error does not say which file it was reading. For bytes that are not UTF-8 and
/// for a file that cannot be decoded, find the file, and name it with its table (and where in
/// it); any other error is returned as it is.
pub async fn name_the_file(lake: &Lake, error: HuntError) -> HuntError {
    if error
        .to_string()
        .contains(crate::functions::utf8_check::NOT_UTF8)
    {
        return lake.explain_non_utf8().await.unwrap_or(error);
    }
    if is_decode_error(&error)
        && let Some(first) = lake.find_undecodable_files().await.first()
    {
        return lake.undecodable_error(first);
    }
    error
}
