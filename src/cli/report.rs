//! `huntlake report`: the triage report, one self-contained HTML page per run.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use super::args::{LakeArgs, RuleArgs, SessionArgs};
use super::detect::run_with_bar;
use crate::error::{HuntError, Result};
use crate::lake::{Lake, LakeOptions};
use crate::output::alerts::{self, Instance};
use crate::output::atomic;
use crate::output::report::{self, DEFAULT_MAX_EVENTS, ReportData, html};
use crate::rule::{DetectRequest, RuleParams};
use crate::time::{format_rfc3339, now_nanos};

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    pub lake: LakeArgs,

    #[command(flatten)]
    pub rule: RuleArgs,

    #[command(flatten)]
    pub session: SessionArgs,

    /// Run with the tables whose folder is missing as empty tables.
    #[arg(long)]
    pub allow_missing_tables: bool,

    /// Report on the detections of an earlier run (its `--format ndjson` output) instead of
    /// running the rule; the lake and the rule's flags must be the run's.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,

    /// The HTML file to write (atomically).
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,

    /// Events shown per detection and kind (child processes, connections, files, image
    /// loads); the full counts are always shown.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_EVENTS)]
    pub max_events: usize,
}

pub async fn run(args: ReportArgs) -> Result<()> {
    let started = Instant::now();
    let options = args.rule.options()?;
    let session = args.session.session()?;
    let source = args.lake.source();
    // Prevalence counts first sightings across the whole lake: every file is opened.
    let whole_lake = LakeOptions {
        time_column: args.lake.time_column.clone(),
        skip_bad_files: args.lake.skip_bad_files,
        window: None,
        allow_missing_tables: args.allow_missing_tables,
    };
    let (lake, params, instances, scanned) = match &args.from {
        None => {
            let mut request = DetectRequest::new(source.clone());
            request.as_of = args.lake.as_of;
            request.rule = options;
            request.time_column = args.lake.time_column.clone();
            request.skip_bad_files = args.lake.skip_bad_files;
            request.allow_missing_tables = args.allow_missing_tables;
            request.materialize = args.session.materialize();
            request.session = session.clone();
            request.scratch = args.session.scratch.clone();
            let detection = run_with_bar(&request).await?;
            eprintln!("{}", detection.summary());
            let instances = alerts::instances(&detection.batches, &detection.event_times)?;
            let scanned = detection
                .lake
                .tables
                .iter()
                .map(|t| (t.table.to_string(), t.rows()))
                .collect();
            let lake = Lake::open(&source, &whole_lake).await?;
            (lake, detection.params, instances, scanned)
        }
        Some(path) => {
            let lake = Lake::open(&source, &whole_lake).await?;
            let as_of = args
                .lake
                .as_of
                .or(lake.reference_time)
                .unwrap_or_else(now_nanos);
            let instances = read_detections(path)?;
            let scanned = lake
                .tables
                .iter()
                .map(|t| (t.table.to_string(), t.rows()))
                .collect();
            (lake, RuleParams::new(as_of, options), instances, scanned)
        }
    };
    let max_events = report::events_per_kind(args.max_events, instances.len());
    if max_events < args.max_events {
        eprintln!(
            "note: {} detections: the timelines show at most {max_events} events per kind \
             (with the full counts), to keep the page small",
            instances.len()
        );
    }
    let (mut detections, days) =
        report::gather(&lake, &params, instances, &session, max_events).await?;
    html::triage_order(&mut detections);
    let data = ReportData {
        lake: lake.location.display.clone(),
        params,
        scanned,
        seconds: started.elapsed().as_secs_f64(),
        days,
        detections,
        max_events,
    };
    let page = html::render(&data);
    atomic::write_atomically(&args.out, |out| {
        out.write_all(page.as_bytes())
            .map_err(|source| HuntError::Io {
                context: format!("writing {}", args.out.display()),
                source,
            })
    })?;
    eprintln!(
        "huntlake: report of {} detection{} (as of {}) written to {} ({:.1} MiB) in {:.2} s",
        data.detections.len(),
        if data.detections.len() == 1 { "" } else { "s" },
        format_rfc3339(data.params.as_of),
        args.out.display(),
        page.len() as f64 / (1024.0 * 1024.0),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The detections of an earlier run's NDJSON output.
fn read_detections(path: &std::path::Path) -> Result<Vec<Instance>> {
    let text = std::fs::read_to_string(path).map_err(|source| HuntError::Io {
        context: format!("reading {}", path.display()),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(number, line)| {
            let at = |message: String| {
                HuntError::usage(format!("{} line {}: {message}", path.display(), number + 1))
            };
            let row: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| at(format!("not JSON ({e}); --from reads detect's NDJSON")))?;
            alerts::instance_from_row(&row).map_err(at)
        })
        .collect()
}
