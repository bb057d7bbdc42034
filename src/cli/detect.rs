//! `huntlake detect`: run the detection, write the detections, summarize on standard error.

use std::path::Path;

use datafusion::arrow::record_batch::RecordBatch;

use super::args::{DetectArgs, DetectOutput};
use super::progress::ScanBar;
use crate::error::{HuntError, Result};
use crate::output::{self, Format};
use crate::rule::{DetectRequest, Detection, detect};

pub async fn run(args: DetectArgs) -> Result<()> {
    let (request, output) = args.into_request()?;
    let detection = run_with_bar(&request).await?;
    let format = Format::choose(output.format, output.output.as_deref());
    write_results(&detection.batches, format, output.output.as_deref())?;
    report(&detection, &output, "");
    Ok(())
}

/// Runs `request` with the scan progress bar on standard error.
pub async fn run_with_bar(request: &DetectRequest) -> Result<Detection> {
    let bar = ScanBar::start(&request.progress);
    let detection = detect(request, &mut |note| bar.println(note)).await;
    bar.finish();
    detection
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
/// formats for tools through [`output::write_results`].
pub fn write_results(batches: &[RecordBatch], format: Format, output: Option<&Path>) -> Result<()> {
    if format != Format::Table {
        return output::write_results(batches, format, output);
    }
    let text = super::table::render(batches) + "\n";
    let write = |out: &mut dyn std::io::Write| {
        out.write_all(text.as_bytes())
            .map_err(|source| HuntError::Io {
                context: "writing results".into(),
                source,
            })
    };
    match output {
        Some(path) => output::atomic::write_atomically(path, write),
        None => write(&mut std::io::stdout().lock()),
    }
}
