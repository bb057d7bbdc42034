//! Live progress of a detection's scans, for the progress bar. It reads the running plan's own
//! metrics (`files_processed` of each Parquet scan), so it costs nothing while nobody looks.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use datafusion::physical_plan::ExecutionPlan;

/// Shared between the run and whoever displays it; clones see the same run.
#[derive(Clone, Default)]
pub struct ScanProgress {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Data files the run will scan (known once the lake is open).
    total_files: u64,
    /// Files processed by plans that have finished.
    finished_files: u64,
    /// Bytes read by the scans of plans that have finished.
    finished_bytes: u64,
    /// The plan running now.
    running: Option<Arc<dyn ExecutionPlan>>,
    /// What the run is doing, for the bar's message.
    step: &'static str,
}

impl fmt::Debug for ScanProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (done, total) = self.files();
        write!(f, "ScanProgress({done}/{total} files)")
    }
}

impl ScanProgress {
    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn set_total_files(&self, total: u64) {
        self.with_state(|s| s.total_files = total);
    }

    /// `plan` is about to run as `step`.
    pub fn start(&self, step: &'static str, plan: &Arc<dyn ExecutionPlan>) {
        self.with_state(|s| {
            s.running = Some(Arc::clone(plan));
            s.step = step;
        });
    }

    /// The running plan has finished; `executed` is it with its final metrics (for a
    /// distributed plan, with those its workers sent back).
    pub fn finish(&self, executed: &Arc<dyn ExecutionPlan>) {
        self.with_state(|s| {
            s.running = None;
            s.finished_files += metric_sum(executed.as_ref(), "files_processed");
            s.finished_bytes += metric_sum(executed.as_ref(), "bytes_scanned");
        });
    }

    /// Files processed so far and files in all, the first never above the second.
    pub fn files(&self) -> (u64, u64) {
        self.with_state(|s| {
            let running = s
                .running
                .as_deref()
                .map_or(0, |p| metric_sum(p, "files_processed"));
            (
                (s.finished_files + running).min(s.total_files),
                s.total_files,
            )
        })
    }

    /// Bytes the finished plans' Parquet scans read.
    pub fn bytes_read(&self) -> u64 {
        self.with_state(|s| s.finished_bytes)
    }

    pub fn step(&self) -> &'static str {
        self.with_state(|s| s.step)
    }
}

/// Metric `name` summed over the plan's nodes (`files_processed`, `bytes_scanned` of its
/// Parquet scans). A file split into byte ranges counts once per range in `files_processed`,
/// hence the clamp in [`ScanProgress::files`].
fn metric_sum(plan: &dyn ExecutionPlan, name: &str) -> u64 {
    let own = plan
        .metrics()
        .and_then(|m| m.sum_by_name(name))
        .map_or(0, |v| v.as_usize() as u64);
    own + plan
        .children()
        .into_iter()
        .map(|child| metric_sum(child.as_ref(), name))
        .sum::<u64>()
}
