//! The `huntlake` command: parses arguments and hands over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use huntlake::HuntError;
use huntlake::args::{DetectArgs, parse_datetime};
use huntlake::detect;
use huntlake::shell::{self, SqlArgs};

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
    Detect(DetectArgs),
    /// An interactive SQL shell over the lake (or run SQL from -c, -f or standard input).
    Sql(SqlArgs),
    /// Turn Defender exports (streaming-API JSON, Event Hubs captures, Sentinel JSON, portal
    /// CSV) into a lake of Parquet files by table and day.
    Ingest(IngestArgs),
    /// Write a large synthetic Defender lake (for benchmarks), with planted rare services and a
    /// ground-truth manifest.
    Generate(GenerateArgs),
}

#[derive(Args)]
struct IngestArgs {
    /// An export file, or a folder of them (read at any depth).
    #[arg(long, value_name = "PATH")]
    from: PathBuf,
    /// The lake root to write (created if needed; a rerun replaces what the same files gave).
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// The input format (auto: from each file's first bytes).
    #[arg(long, value_enum, default_value = "auto")]
    format: huntlake::ingest::InputFormat,
    /// The table of records that do not name theirs (CSV exports); default: the file's name
    /// (DeviceFileEvents.csv).
    #[arg(long, value_name = "TABLE", value_parser = parse_table)]
    table: Option<huntlake::lake::DefenderTable>,
}

fn parse_table(text: &str) -> Result<huntlake::lake::DefenderTable, String> {
    huntlake::lake::DefenderTable::from_name(text).ok_or_else(|| {
        format!(
            "unknown table {text}; expected one of {}",
            huntlake::lake::DefenderTable::ALL
                .map(|t| t.name())
                .join(", ")
        )
    })
}

#[derive(Args)]
struct GenerateArgs {
    /// The lake root to write (its table folders are replaced).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Number of devices.
    #[arg(long, value_name = "N")]
    devices: u32,
    /// Number of days of data.
    #[arg(long, value_name = "N")]
    days: u32,
    /// Seed: the same arguments and seed write the same data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The end of the data (exclusive), RFC 3339. Default: today 00:00 UTC.
    #[arg(long, value_name = "RFC3339", value_parser = parse_datetime, conflicts_with = "start")]
    as_of: Option<i64>,
    /// The start of the data, RFC 3339 (instead of --as-of).
    #[arg(long, value_name = "RFC3339", value_parser = parse_datetime)]
    start: Option<i64>,
    /// Process events per device per day.
    #[arg(long, default_value_t = 1_200)]
    process_per_day: u32,
    /// Network events per device per day.
    #[arg(long, default_value_t = 2_500)]
    network_per_day: u32,
    /// File events per device per day.
    #[arg(long, default_value_t = 4_000)]
    file_per_day: u32,
    /// Image-load events per device per day.
    #[arg(long, default_value_t = 6_000)]
    image_per_day: u32,
    /// Chance that a device-day gets a planted rare service.
    #[arg(long, default_value_t = 0.05)]
    rare_rate: f64,
    /// Whole-microsecond times (to compare with engines that hold microseconds, e.g. DuckDB).
    #[arg(long)]
    microsecond_times: bool,
    /// Writer threads (default: the number of cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("huntlake: error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = match cli.command {
        Command::Detect(args) => runtime.block_on(run_detect(args)),
        Command::Sql(args) => runtime.block_on(shell::run(args)),
        Command::Generate(args) => run_generate(args),
        Command::Ingest(args) => run_ingest(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("huntlake: error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

async fn run_detect(args: DetectArgs) -> Result<(), HuntError> {
    let (request, output) = args.into_request(&detect::sample_lake_path())?;
    let format = detect::choose_format(output.format, output.output.as_deref());
    let bar = huntlake::progress::ScanBar::start(&request.progress);
    let detection = detect::detect(&request, &mut |note| bar.println(note)).await;
    bar.finish();
    let detection = detection?;
    detect::write(&detection, format, output.output.as_deref())?;
    if output.explain {
        for (step, plan) in &detection.plans {
            eprintln!("-- {step}\n{plan}");
        }
    }
    eprintln!("{}", detection.summary());
    Ok(())
}

fn run_ingest(args: IngestArgs) -> Result<(), HuntError> {
    use huntlake::ingest::{IngestOptions, ingest};
    let mut options = IngestOptions::new(&args.from, &args.to);
    options.format = args.format;
    options.table = args.table;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {elapsed_precise} {human_pos} records ({per_sec})",
        )
        .expect("valid template"),
    );
    let started = std::time::Instant::now();
    let report = ingest(&options, &|n| bar.inc(n));
    bar.finish_and_clear();
    let report = report?;
    for (table, counts) in &report.tables {
        eprintln!(
            "huntlake: {table}: read {}, written {}, rejected {}",
            counts.read, counts.written, counts.rejected
        );
    }
    for path in &report.rejects {
        eprintln!(
            "huntlake: rejected records (file, line, reason) in {}",
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

fn run_generate(args: GenerateArgs) -> Result<(), HuntError> {
    use huntlake::generate::{GenerateOptions, generate};
    const DAY: i64 = 86_400 * 1_000_000_000;
    let end = match (args.as_of, args.start) {
        (Some(end), _) => end,
        (None, Some(start)) => start + args.days as i64 * DAY,
        (None, None) => {
            let now = huntlake::time::now_nanos();
            now - now.rem_euclid(DAY)
        }
    };
    for table in huntlake::lake::DefenderTable::ALL {
        let dir = args.out.join(table.name());
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|source| HuntError::Io {
                context: format!("replacing {}", dir.display()),
                source,
            })?;
        }
    }
    let mut options = GenerateOptions::new(&args.out, args.devices, args.days, end);
    options.seed = args.seed;
    options.rates.process = args.process_per_day;
    options.rates.network = args.network_per_day;
    options.rates.file = args.file_per_day;
    options.rates.image = args.image_per_day;
    options.rare_per_device_day = args.rare_rate;
    options.microsecond_times = args.microsecond_times;
    if let Some(threads) = args.threads {
        options.threads = threads;
    }
    let bar = indicatif::ProgressBar::new(options.expected_rows());
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{wide_bar}] {human_pos}/{human_len} rows ({per_sec})",
        )
        .expect("valid template"),
    );
    let started = std::time::Instant::now();
    let summary = generate(&options, &|rows| bar.set_position(rows))?;
    bar.finish_and_clear();
    let rows: u64 = summary.rows.iter().sum();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "huntlake: wrote {rows} rows ({}) in {} files, {:.1} MiB, {} planted rare services, in {seconds:.1} s ({:.2} M rows/s) to {}",
        huntlake::lake::DefenderTable::ALL
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

/// glibc returns every large buffer (a Parquet column chunk, a decoded page) to the kernel and
/// maps a fresh, zeroed one for the next, so page faults and zeroing took about a tenth of a
/// detection's CPU. Keeping buffers up to 256 MiB on the heap lets them be reused.
/// `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_` in the environment still win.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let set = |variable: &str, param, value| {
            if std::env::var_os(variable).is_none() {
                // SAFETY: mallopt only changes allocator parameters, before any thread starts.
                unsafe { libc::mallopt(param, value) };
            }
        };
        set("MALLOC_MMAP_THRESHOLD_", libc::M_MMAP_THRESHOLD, 256 << 20);
        set("MALLOC_TRIM_THRESHOLD_", libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}
