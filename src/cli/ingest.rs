//! `huntlake ingest`: its flags, its progress, its report.

use std::path::PathBuf;

use clap::Args;

use super::progress::spinner;
use crate::error::Result;
use crate::ingest::{IngestOptions, InputFormat, ingest};
use crate::lake::DefenderTable;

#[derive(Args)]
pub struct IngestArgs {
    /// An export file, or a folder of them (read at any depth; each file's format is told by
    /// its first bytes, whatever its name).
    #[arg(long, value_name = "PATH")]
    from: PathBuf,
    /// The lake root to write (created if needed; a rerun replaces what the same sources gave).
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// The input format (auto: from each file's first bytes).
    #[arg(long, value_enum, default_value = "auto")]
    format: InputFormat,
    /// The table of records that do not name theirs (CSV exports); default: the file's name
    /// (DeviceFileEvents.csv).
    #[arg(long, value_name = "TABLE", value_parser = parse_table)]
    table: Option<DefenderTable>,
}

fn parse_table(text: &str) -> std::result::Result<DefenderTable, String> {
    DefenderTable::from_name(text).ok_or_else(|| {
        format!(
            "unknown table {text}; expected one of {}",
            DefenderTable::ALL.map(|t| t.name()).join(", ")
        )
    })
}

pub fn run(args: IngestArgs) -> Result<()> {
    let mut options = IngestOptions::new(&args.from, &args.to);
    options.format = args.format;
    options.table = args.table;
    let bar = spinner("{spinner} {elapsed_precise} {human_pos} records ({per_sec})");
    let started = std::time::Instant::now();
    let report = ingest(&options, &|n| bar.inc(n));
    bar.finish_and_clear();
    let report = report?;
    for (path, why) in &report.skipped {
        eprintln!("note: skipped {}: {why}", path.display());
    }
    for (table, counts) in &report.tables {
        eprintln!(
            "huntlake: {table}: read {}, written {}, rejected {}",
            counts.read, counts.written, counts.rejected
        );
    }
    if report.null_datetimes > 0 {
        eprintln!(
            "note: {} datetime cells were empty or 'Invalid date' (as the Defender portal writes \
             a missing time) and are stored as null",
            report.null_datetimes
        );
    }
    for path in &report.rejects {
        eprintln!(
            "huntlake: rejected records (file, line, reason, the record as it came) in {}",
            path.display()
        );
    }
    eprintln!(
        "huntlake: {} source files, {} Parquet files written to {} in {:.1} s",
        report.files_read,
        report.files_written,
        args.to.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
