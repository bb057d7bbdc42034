//! The `huntlake` command line: argument parsing, progress bars, the table drawn for people, and
//! the SQL shell. Everything else is the library's; this room is the only one that uses the
//! command-line crates (clap, indicatif, rustyline, comfy-table).

pub mod args;
mod detect;
mod generate;
mod ingest;
mod progress;
mod report;
pub mod shell;
mod table;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::HuntError;

#[derive(Parser)]
#[command(
    name = "huntlake",
    version,
    about = "Sentinel's Rare Process as a Service detection, and ad-hoc SQL, over Defender XDR Parquet lakes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the "Rare Process as a Service" detection over a lake.
    Detect(args::DetectArgs),
    /// An interactive SQL shell over the lake (or run SQL from -c, -f or standard input).
    Sql(shell::SqlArgs),
    /// Turn Defender exports (streaming-API JSON, Event Hubs captures, Sentinel JSON, portal
    /// CSV) into a lake of Parquet files by table and day.
    Ingest(ingest::IngestArgs),
    /// Write a large synthetic Defender lake (for benchmarks), with planted rare services and a
    /// ground-truth manifest; or, with --sample, the sample lake built into huntlake.
    Generate(generate::GenerateArgs),
    /// Serve one worker of a cluster: `detect --workers` and `sql --workers` run across them.
    Worker(worker::WorkerArgs),
    /// Write a triage report: one self-contained HTML page with each detection's timeline,
    /// fleet prevalence and pivots.
    Report(report::ReportArgs),
}

/// The exit code of a run that reported detections under `--fail-on-detection`.
pub const REPORTED_EXIT_CODE: u8 = 3;

/// The tokio runtime of a command. Local files are read on tokio's blocking threads, one per
/// read in flight, and tokio starts up to 512 of them: the Spark-style benchmark lake's 1,444
/// small files took 54 threads on 2 cores, each with its own allocator caches. A few per core
/// keep the disk as busy.
pub fn tokio_runtime_builder() -> tokio::runtime::Builder {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder
        .max_blocking_threads((4 * cores).max(8))
        .enable_all();
    builder
}

/// Runs the command line and returns the process's exit code: 0 on success, 1 for an error
/// while running, 2 for a command line that is wrong, 3 for a detection that reported
/// something under `--fail-on-detection`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match &cli.command {
        Command::Worker(args) => worker::runtime(args),
        _ => tokio_runtime_builder().build(),
    };
    let result = match runtime {
        Ok(runtime) => match cli.command {
            Command::Detect(args) => match runtime.block_on(detect::run(args)) {
                Ok(detect::Finished::Reported) => return ExitCode::from(REPORTED_EXIT_CODE),
                other => other.map(|_| ()),
            },
            Command::Sql(args) => runtime.block_on(shell::run(args)),
            Command::Generate(args) => generate::run(args),
            Command::Ingest(args) => ingest::run(args),
            Command::Worker(args) => runtime.block_on(worker::run(args)),
            Command::Report(args) => runtime.block_on(report::run(args)),
        },
        Err(e) => Err(HuntError::Io {
            context: "starting the runtime".into(),
            source: e,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("huntlake: error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
