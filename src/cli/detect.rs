//! `huntlake detect`: run the detection, write the detections (rows or alerts), record them in
//! the state, summarize on standard error.
//!
//! The order makes failures safe: the state is opened (and on disk locked) before the run; the
//! output file is written beside its destination; the state is committed; only then is the
//! output renamed into place. A run that fails leaves no output file and the state as it was.
//! Standard output cannot be taken back, so it is written before the commit: a commit that
//! fails then means the next run reports those instances again (at least once, never lost).

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array, TimestampNanosecondArray};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;

use super::args::{DetectArgs, DetectOutput};
use super::progress::ScanBar;
use crate::error::{HuntError, Result};
use crate::lake::{Lake, LakeOptions};
use crate::output::alerts::{self, Instance, ReportKind};
use crate::output::atomic::{self, Pending};
use crate::output::report::{self, Prevalence};
use crate::output::state::{Review, RunRecord, State};
use crate::output::{self, Format};
use crate::rule::{DetectRequest, Detection, detect};
use crate::time::now_nanos;

/// How a `detect` that did not fail ended: the scheduler's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// Exit 0: the run succeeded, whatever it found.
    Succeeded,
    /// Exit 3: with `--fail-on-detection`, the run reported at least one detection.
    Reported,
}

pub async fn run(args: DetectArgs) -> Result<Finished> {
    let (mut request, output) = args.into_request()?;
    request.event_times = output.needs_event_times();
    let started = now_nanos();
    let clock = Instant::now();
    // A run that cannot keep its state does not run.
    let state = match &output.state {
        Some(root) => Some(State::open(root, &request.rule, output.reset_state).await?),
        None => None,
    };
    let detection = run_with_bar(&request).await?;
    let prevalence = prevalence_for(&request, &detection, &output).await?;
    let delivered = deliver(&detection, &output, prevalence, state, started, clock).await?;
    report(&detection, &output, &delivered.summary());
    // The process ends after this: the lake's footers and the detections are left for the
    // operating system to take back whole, rather than freed one allocation at a time.
    std::mem::forget(detection);
    Ok(if output.fail_on_detection && delivered.reported > 0 {
        Finished::Reported
    } else {
        Finished::Succeeded
    })
}

/// Runs `request` with the scan progress bar on standard error.
pub async fn run_with_bar(request: &DetectRequest) -> Result<Detection> {
    let bar = ScanBar::start(&request.progress);
    let detection = detect(request, &mut |note| bar.println(note)).await;
    bar.finish();
    detection
}

/// What [`deliver`] reported.
#[derive(Debug, Clone, Default)]
pub struct Delivered {
    /// Detections written (all of them, or with `--new-only` the new and updated ones).
    pub reported: usize,
    /// With a state: how the detections compared with earlier runs, and where the state is.
    pub review: Option<(Review, usize, String)>,
}

impl Delivered {
    /// What the summary line adds.
    pub fn summary(&self) -> String {
        match &self.review {
            Some((review, pruned, state)) => format!(
                "; {} new, {} updated, {} reported before; {} reported; state {state}{}",
                review.new,
                review.updated,
                review.unchanged,
                self.reported,
                if *pruned > 0 {
                    format!(" ({pruned} instances past the window forgotten)")
                } else {
                    String::new()
                }
            ),
            None => String::new(),
        }
    }
}

/// With `--with-prevalence`: each detection's fleet prevalence, read from the whole lake
/// (row-aligned with the detections).
pub async fn prevalence_for(
    request: &DetectRequest,
    detection: &Detection,
    output: &DetectOutput,
) -> Result<Option<Vec<Prevalence>>> {
    if !output.with_prevalence {
        return Ok(None);
    }
    let options = LakeOptions {
        time_column: request.time_column.clone(),
        skip_bad_files: request.skip_bad_files,
        window: None,
        allow_missing_tables: request.allow_missing_tables,
    };
    let lake = Lake::open(&request.lake, &options).await?;
    let instances = alerts::instances(&detection.batches, &detection.event_times)?;
    report::prevalence(&lake, &detection.params, &instances, &request.session)
        .await
        .map(Some)
}

/// Writes the detections in the output's format, with the state when there is one (see the
/// module for the order).
pub async fn deliver(
    detection: &Detection,
    output: &DetectOutput,
    prevalence: Option<Vec<Prevalence>>,
    state: Option<State>,
    started: i64,
    clock: Instant,
) -> Result<Delivered> {
    let format = Format::choose(output.format, output.output.as_deref());
    let mut instances = alerts::instances(&detection.batches, &detection.event_times)?;
    let review = state.as_ref().map(|s| s.review(&mut instances));
    let keep: Vec<bool> = instances
        .iter()
        .map(|i| !output.new_only || i.kind != ReportKind::Unchanged)
        .collect();
    if !output.new_only {
        // Without --new-only every detection is reported as a first report.
        for instance in &mut instances {
            instance.kind = ReportKind::New;
        }
    }
    let reported_instances: Vec<&Instance> = instances
        .iter()
        .zip(&keep)
        .filter_map(|(i, keep)| keep.then_some(i))
        .collect();
    let reported = reported_instances.len();
    let pending = if format.is_alert() {
        let lines: Vec<String> = reported_instances
            .iter()
            .map(|i| match format {
                Format::Sentinel => alerts::sentinel::alert(i, &detection.params),
                _ => alerts::ocsf::finding(i, &detection.params),
            })
            .collect();
        match output.output.as_deref() {
            Some(path) => Some(atomic::prepare(path, |out| {
                output::write_lines(&lines, out)
            })?),
            None => {
                let stdout = std::io::stdout();
                let mut lock = std::io::BufWriter::new(stdout.lock());
                output::write_lines(&lines, &mut lock)?;
                None
            }
        }
    } else {
        let mut rows = alerts::with_alert_ids(&keep_rows(&detection.batches, &keep)?)?;
        if let Some(prevalence) = &prevalence {
            let kept: Vec<Prevalence> = prevalence
                .iter()
                .zip(&keep)
                .filter_map(|(p, keep)| keep.then_some(*p))
                .collect();
            rows = with_prevalence_columns(&rows, &kept)?;
        }
        prepare_results(&rows, format, output.output.as_deref())?
    };
    let Some(mut state) = state else {
        if let Some(pending) = pending {
            pending.persist()?;
        }
        return Ok(Delivered {
            reported,
            review: None,
        });
    };
    let review = review.unwrap_or_default();
    let run_id = uuid::Uuid::new_v4().to_string();
    let pruned = state.record(&instances, &keep, &detection.params, &run_id);
    state.runs.push(RunRecord {
        run_id,
        started,
        as_of: detection.params.as_of,
        window_start: detection.params.since(),
        window_end: detection.params.as_of,
        rows: instances.len() as i64,
        new: review.new as i64,
        updated: review.updated as i64,
        unchanged: review.unchanged as i64,
        pruned: pruned as i64,
        new_only: output.new_only,
        duration_seconds: clock.elapsed().as_secs_f64(),
        exit_code: if output.fail_on_detection && reported > 0 {
            3
        } else {
            0
        },
    });
    let display = state.display().to_string();
    state.commit().await?;
    if let Some(pending) = pending {
        pending.persist()?;
    }
    Ok(Delivered {
        reported,
        review: Some((review, pruned, display)),
    })
}

/// `batches` with the prevalence columns (row-aligned across batches) at the end.
fn with_prevalence_columns(
    batches: &[RecordBatch],
    prevalence: &[Prevalence],
) -> Result<Vec<RecordBatch>> {
    let mut offset = 0;
    let mut out = Vec::with_capacity(batches.len());
    for batch in batches {
        let rows = &prevalence[offset..offset + batch.num_rows()];
        offset += batch.num_rows();
        let mut fields: Vec<Arc<Field>> = batch.schema().fields().iter().cloned().collect();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        for (name, values) in [
            (
                "ServiceDevices",
                rows.iter().map(|p| p.service_devices).collect::<Vec<_>>(),
            ),
            ("SHA1Devices", rows.iter().map(|p| p.sha1_devices).collect()),
        ] {
            fields.push(Arc::new(Field::new(name, DataType::Int64, false)));
            columns.push(Arc::new(Int64Array::from(values)));
        }
        let utc = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
        fields.push(Arc::new(Field::new("FirstSeen", utc, true)));
        columns.push(Arc::new(
            TimestampNanosecondArray::from_iter(rows.iter().map(|p| p.first_seen))
                .with_timezone("UTC"),
        ));
        out.push(
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
                .map_err(|e| HuntError::Internal(format!("adding the prevalence columns: {e}")))?,
        );
    }
    Ok(out)
}

/// The rows of `batches` whose flag in `keep` (row-aligned across batches) is set.
fn keep_rows(batches: &[RecordBatch], keep: &[bool]) -> Result<Vec<RecordBatch>> {
    let mut offset = 0;
    let mut out = Vec::with_capacity(batches.len());
    for batch in batches {
        let mask = BooleanArray::from(keep[offset..offset + batch.num_rows()].to_vec());
        offset += batch.num_rows();
        out.push(
            filter_record_batch(batch, &mask)
                .map_err(|e| HuntError::Internal(format!("keeping the reported rows: {e}")))?,
        );
    }
    Ok(out)
}

/// The plans (with `--explain`) and the summary line, on standard error.
pub fn report(detection: &Detection, output: &DetectOutput, after_summary: &str) {
    if output.explain {
        for (step, plan) in &detection.plans {
            eprintln!("-- {step}\n{plan}");
        }
    }
    eprintln!("{}{after_summary}", detection.summary());
}

/// Writes results in `format` to `output` or standard output: the table for people here, the
/// formats for tools through [`output::prepare_results`]. A file is left beside its destination
/// until persisted.
fn prepare_results(
    batches: &[RecordBatch],
    format: Format,
    output: Option<&Path>,
) -> Result<Option<Pending>> {
    if format != Format::Table {
        return output::prepare_results(batches, format, output);
    }
    let text = super::table::render(batches) + "\n";
    let write = |out: &mut dyn Write| {
        out.write_all(text.as_bytes())
            .map_err(|source| HuntError::Io {
                context: "writing results".into(),
                source,
            })
    };
    match output {
        Some(path) => atomic::prepare(path, write).map(Some),
        None => write(&mut std::io::stdout().lock()).map(|()| None),
    }
}
