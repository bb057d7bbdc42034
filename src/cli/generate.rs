//! `huntlake generate`: its flags, its progress, its report.

use std::path::PathBuf;

use clap::Args;

use super::args::parse_datetime;
use super::progress::bar;
use crate::error::{HuntError, Result};
use crate::lake::DefenderTable;
use crate::synth::{GenerateOptions, Rates, generate, write_sample_lake};

#[derive(Args)]
pub struct GenerateArgs {
    /// The lake root to write: a new or empty folder, or a lake generate wrote before (whose
    /// files are replaced). Nothing huntlake did not write is ever deleted.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Write into a folder that holds other files (none is deleted; a file generate would
    /// write that is already there stops it).
    #[arg(long)]
    force: bool,
    /// Write the sample lake built into huntlake (data/sample-lake) instead of a synthetic one.
    #[arg(long, conflicts_with_all = [
        "devices", "days", "seed", "as_of", "start", "process_per_day", "network_per_day",
        "file_per_day", "image_per_day", "rare_rate", "microsecond_times", "threads",
    ])]
    sample: bool,
    /// Number of devices.
    #[arg(long, value_name = "N", required_unless_present = "sample")]
    devices: Option<u32>,
    /// Number of days of data.
    #[arg(long, value_name = "N", required_unless_present = "sample")]
    days: Option<u32>,
    /// Seed: the same arguments and seed write the same data.
    #[arg(long)]
    seed: Option<u64>,
    /// The end of the data (exclusive), RFC 3339. Default: today 00:00 UTC.
    #[arg(long, value_name = "RFC3339", value_parser = parse_datetime, conflicts_with = "start")]
    as_of: Option<i64>,
    /// The start of the data, RFC 3339 (instead of --as-of).
    #[arg(long, value_name = "RFC3339", value_parser = parse_datetime)]
    start: Option<i64>,
    /// Process events per device per day.
    #[arg(long, default_value_t = Rates::default().process)]
    process_per_day: u32,
    /// Network events per device per day.
    #[arg(long, default_value_t = Rates::default().network)]
    network_per_day: u32,
    /// File events per device per day.
    #[arg(long, default_value_t = Rates::default().file)]
    file_per_day: u32,
    /// Image-load events per device per day.
    #[arg(long, default_value_t = Rates::default().image)]
    image_per_day: u32,
    /// Chance that a device-day gets a planted rare service (0 to 1).
    #[arg(long, default_value_t = 0.05)]
    rare_rate: f64,
    /// Whole-microsecond times (to compare with engines that hold microseconds, e.g. DuckDB).
    #[arg(long)]
    microsecond_times: bool,
    /// Writer threads (default: the number of cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

pub fn run(args: GenerateArgs) -> Result<()> {
    let started = std::time::Instant::now();
    if args.sample {
        let summary = write_sample_lake(&args.out, args.force)?;
        eprintln!(
            "huntlake: wrote the sample lake ({} Parquet files, {} bytes) to {}",
            summary.files.len(),
            summary.bytes,
            args.out.display()
        );
        return Ok(());
    }
    let options = options(&args)?;
    let bar = bar(
        options.expected_rows(),
        "{spinner} {elapsed_precise} [{wide_bar}] {human_pos}/{human_len} rows ({per_sec})",
    );
    let summary = generate(&options, &|rows| bar.set_position(rows));
    bar.finish_and_clear();
    let summary = summary?;
    let rows: u64 = summary.rows.iter().sum();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "huntlake: wrote {rows} rows ({}) in {} files, {:.1} MiB, {} planted rare services, in \
         {seconds:.1} s ({:.2} M rows/s) to {}",
        DefenderTable::ALL
            .iter()
            .map(|t| format!("{} {}", t, summary.rows[*t as usize]))
            .collect::<Vec<_>>()
            .join(", "),
        summary.files,
        summary.bytes as f64 / (1 << 20) as f64,
        summary.planted.len(),
        rows as f64 / seconds / 1e6,
        args.out.display()
    );
    Ok(())
}

/// The options the flags give; the library checks them all before anything is written.
fn options(args: &GenerateArgs) -> Result<GenerateOptions> {
    let (Some(devices), Some(days)) = (args.devices, args.days) else {
        return Err(HuntError::usage("--devices and --days are needed"));
    };
    let end = GenerateOptions::end_of(args.as_of, args.start, days)?;
    let mut options = GenerateOptions::new(&args.out, devices, days, end);
    if let Some(seed) = args.seed {
        options.seed = seed;
    }
    options.force = args.force;
    options.rates = Rates {
        process: args.process_per_day,
        network: args.network_per_day,
        file: args.file_per_day,
        image: args.image_per_day,
    };
    options.rare_per_device_day = args.rare_rate;
    options.microsecond_times = args.microsecond_times;
    if let Some(threads) = args.threads {
        options.threads = threads;
    }
    Ok(options)
}
