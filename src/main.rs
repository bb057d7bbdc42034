//! The `huntlake` command: parses arguments and hands over to the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use huntlake::HuntError;
use huntlake::detect::{self, DetectRequest};
use huntlake::output::Format;
use huntlake::rule::{DEFAULT_ALLOWLIST, Plan};

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
    /// Write a large synthetic Defender lake (for benchmarks), with planted rare services and a
    /// ground-truth manifest.
    Generate(GenerateArgs),
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

#[derive(Args)]
struct DetectArgs {
    /// The lake root: one folder per table (DeviceProcessEvents/, DeviceNetworkEvents/,
    /// DeviceFileEvents/, DeviceImageLoadEvents/) with *.parquet files at any depth.
    /// Default: the sample lake embedded in data/.
    #[arg(long, value_name = "PATH")]
    lake: Option<PathBuf>,

    /// The query's now(), RFC 3339 (2026-11-19T12:00:00Z). Default: now, or the lake's own
    /// reference time if it has one (the sample lake does).
    #[arg(long, value_name = "RFC3339", value_parser = parse_datetime)]
    as_of: Option<i64>,

    /// How far back to look, as a Kusto timespan: 14d, 30d, 36h, 90m.
    #[arg(long, value_name = "SPAN", default_value = "14d", value_parser = parse_span)]
    lookback: i64,

    /// A service is rare when launched fewer than this many times on a device.
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = clap::value_parser!(i64).range(1..))]
    threshold: i64,

    /// Add a service name to the allowlist (whole name, ASCII case ignored). Repeatable.
    #[arg(long = "allow", value_name = "NAME")]
    allow: Vec<String>,

    /// Replace the rule's allowlist with the names in FILE (one per line, # comments).
    #[arg(long, value_name = "FILE")]
    allowlist: Option<PathBuf>,

    /// Use this column as the event time of every table (default: TimeGenerated, or
    /// Timestamp in Advanced Hunting exports).
    #[arg(long, value_name = "NAME")]
    time_column: Option<String>,

    /// Output format. Default: from --output's extension, else table on a terminal and
    /// ndjson when piped.
    #[arg(long, value_enum)]
    format: Option<Format>,

    /// Write the results to this file instead of standard output.
    #[arg(long, short, value_name = "PATH")]
    output: Option<PathBuf>,

    /// Leave "" out of the sets (Kusto keeps it: a service with no network events has
    /// ConnectedAddresses [""]).
    #[arg(long)]
    drop_empty_in_sets: bool,

    /// Let a null ServiceProcessID or ServiceProcessCreationTime join another null (Kusto's
    /// behaviour is undocumented; by default nulls match nothing, as in SQL).
    #[arg(long)]
    null_keys_match: bool,

    /// Run the literal translation (the KQL's join structure) instead of the keyed plan.
    /// Same answer, much slower on large lakes; for cross-checking.
    #[arg(long)]
    literal: bool,

    /// Memory the run may use (e.g. 2GiB). Past it, aggregations and the materialized
    /// GetServices step spill to disk. Default: no limit.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_limit: Option<usize>,

    /// Memory for the materialized GetServices step before it spills to disk (e.g. 512MiB).
    /// Default: 1GiB, or a quarter of --memory-limit.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    materialize_budget: Option<usize>,

    /// Folder for spill files (default: the system's temporary folder).
    #[arg(long, value_name = "DIR")]
    spill_dir: Option<PathBuf>,

    /// Print each step's physical plan with its run metrics (rows, time, bytes scanned,
    /// pruning) on standard error, as EXPLAIN ANALYZE does.
    #[arg(long)]
    explain: bool,

    /// Query threads (default: the number of cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

fn parse_datetime(text: &str) -> Result<i64, String> {
    huntlake::time::parse_datetime(text).map_err(|e| e.to_string())
}

fn parse_span(text: &str) -> Result<i64, String> {
    huntlake::time::parse_span(text).map_err(|e| e.to_string())
}

fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: usize = number
        .parse()
        .map_err(|_| format!("invalid size '{text}': expected e.g. 512MiB or 2GiB"))?;
    let scale: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "invalid size '{text}': expected e.g. 512MiB or 2GiB"
            ));
        }
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("invalid size '{text}': too large"))
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
        Command::Generate(args) => run_generate(args),
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
    let mut request = DetectRequest::new(args.lake.unwrap_or_else(detect::sample_lake_path));
    request.as_of = args.as_of;
    request.lookback = args.lookback;
    request.threshold = args.threshold;
    let mut allowlist = match &args.allowlist {
        Some(path) => detect::read_allowlist(path)?,
        None => DEFAULT_ALLOWLIST.iter().map(|s| s.to_string()).collect(),
    };
    allowlist.extend(args.allow);
    request.allowlist = allowlist;
    request.keep_empty_in_sets = !args.drop_empty_in_sets;
    request.null_keys_match = args.null_keys_match;
    request.time_column = args.time_column;
    request.plan = if args.literal {
        Plan::Literal
    } else {
        Plan::Keyed
    };
    if let Some(budget) = args
        .materialize_budget
        .or(args.memory_limit.map(|limit| limit / 4))
    {
        request.materialize.memory_budget = budget;
    }
    request.materialize.spill_dir = args.spill_dir.clone();
    request.session.spill_dir = args.spill_dir;
    request.session.memory_limit = args.memory_limit;
    request.session.target_partitions = args.threads;

    let format = detect::choose_format(args.format, args.output.as_deref());
    let bar = ScanBar::start(&request.progress);
    let detection = detect::detect(&request, &mut |note| bar.println(note)).await;
    bar.finish();
    let detection = detection?;
    detect::write(&detection, format, args.output.as_deref())?;
    if args.explain {
        for (step, plan) in &detection.plans {
            eprintln!("-- {step}\n{plan}");
        }
    }
    eprintln!("{}", detection.summary());
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

/// The detection's progress bar on standard error: files scanned of the lake's total. Drawn only
/// on a terminal, and only once the run has taken more than a moment.
struct ScanBar {
    bar: indicatif::ProgressBar,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl ScanBar {
    const DELAY: std::time::Duration = std::time::Duration::from_millis(750);

    fn start(progress: &huntlake::progress::ScanProgress) -> ScanBar {
        // indicatif draws nothing when standard error is not a terminal.
        let bar = indicatif::ProgressBar::hidden();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} files  {msg}",
            )
            .expect("valid template"),
        );
        if !std::io::stderr().is_terminal() {
            return ScanBar { bar, ticker: None };
        }
        let (shown, progress) = (bar.clone(), progress.clone());
        let ticker = tokio::spawn(async move {
            tokio::time::sleep(Self::DELAY).await;
            shown.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            loop {
                let (done, total) = progress.files();
                shown.set_length(total);
                shown.set_position(done);
                shown.set_message(progress.step());
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        });
        ScanBar {
            bar,
            ticker: Some(ticker),
        }
    }

    /// Prints a line above the bar (or plainly when there is none).
    fn println(&self, line: &str) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.suspend(|| eprintln!("{line}"));
        }
    }

    fn finish(self) {
        if let Some(ticker) = self.ticker {
            ticker.abort();
        }
        self.bar.finish_and_clear();
    }
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
