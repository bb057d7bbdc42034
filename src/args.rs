//! Command-line arguments shared by the `huntlake` binary and the SQL shell's `\detect`, so
//! that both accept the same flags with the same meaning.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::detect::{self, DetectRequest};
use crate::error::Result;
use crate::output::Format;
use crate::rule::{DEFAULT_ALLOWLIST, Plan};

#[derive(Args, Debug, Clone)]
pub struct DetectArgs {
    /// The lake root: one folder per table (DeviceProcessEvents/, DeviceNetworkEvents/,
    /// DeviceFileEvents/, DeviceImageLoadEvents/) with *.parquet files at any depth, on disk
    /// or in an object store (az://, abfss://, s3://, gs://). Default: the sample lake
    /// embedded in data/.
    #[arg(long, value_name = "PATH|URL")]
    pub lake: Option<PathBuf>,

    /// The query's now(), RFC 3339 (2026-11-19T12:00:00Z). Default: now, or the lake's own
    /// reference time if it has one (the sample lake does).
    #[arg(long, value_name = "RFC3339", value_parser = parse_datetime)]
    pub as_of: Option<i64>,

    /// How far back to look, as a Kusto timespan: 14d, 30d, 36h, 90m.
    #[arg(long, value_name = "SPAN", default_value = "14d", value_parser = parse_span)]
    pub lookback: i64,

    /// A service is rare when launched fewer than this many times on a device.
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = clap::value_parser!(i64).range(1..))]
    pub threshold: i64,

    /// Add a service name to the allowlist (whole name, ASCII case ignored). Repeatable.
    #[arg(long = "allow", value_name = "NAME")]
    pub allow: Vec<String>,

    /// Replace the rule's allowlist with the names in FILE (one per line, # comments).
    #[arg(long, value_name = "FILE")]
    pub allowlist: Option<PathBuf>,

    /// Use this column as the event time of every table (default: TimeGenerated, or
    /// Timestamp in Advanced Hunting exports).
    #[arg(long, value_name = "NAME")]
    pub time_column: Option<String>,

    /// Output format. Default: from --output's extension, else table on a terminal and
    /// ndjson when piped.
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Write the results to this file instead of standard output.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Leave "" out of the sets (Kusto keeps it: a service with no network events has
    /// ConnectedAddresses [""]).
    #[arg(long)]
    pub drop_empty_in_sets: bool,

    /// Let a null ServiceProcessID or ServiceProcessCreationTime join another null (Kusto's
    /// behaviour is undocumented; by default nulls match nothing, as in SQL).
    #[arg(long)]
    pub null_keys_match: bool,

    /// Set aside files that cannot be read (not Parquet, truncated, a needed column of the
    /// wrong type) and go on without them; they are listed in the summary. Default: such a
    /// file stops the run.
    #[arg(long)]
    pub skip_bad_files: bool,

    /// Files in time partitions (date=YYYY-MM-DD/, y=/m=/d=[/h=]/ folders) that end this long
    /// before the window are not opened: the slack allows for exports that partition by
    /// another time than the rule's (event time vs ingestion time).
    #[arg(long, value_name = "SPAN", default_value = "1d", value_parser = parse_span)]
    pub partition_slack: i64,

    /// Open every file, whatever its partition folder says.
    #[arg(long)]
    pub no_partition_pruning: bool,

    /// Run the literal translation (the KQL's join structure) instead of the keyed plan.
    /// Same answer, much slower on large lakes; for cross-checking.
    #[arg(long)]
    pub literal: bool,

    /// Memory the run may use (e.g. 2GiB). Past it, aggregations and the materialized
    /// GetServices step spill to disk. Default: no limit.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<usize>,

    /// Memory for the materialized GetServices step before it spills to disk (e.g. 512MiB).
    /// Default: 1GiB, or a quarter of --memory-limit.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub materialize_budget: Option<usize>,

    /// Folder for spill files (default: the system's temporary folder).
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,

    /// Print each step's physical plan with its run metrics (rows, time, bytes scanned,
    /// pruning) on standard error, as EXPLAIN ANALYZE does.
    #[arg(long)]
    pub explain: bool,

    /// Query threads (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

pub fn parse_datetime(text: &str) -> Result<i64, String> {
    crate::time::parse_datetime(text).map_err(|e| e.to_string())
}

pub fn parse_span(text: &str) -> Result<i64, String> {
    crate::time::parse_span(text).map_err(|e| e.to_string())
}

pub fn parse_size(text: &str) -> Result<usize, String> {
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

/// What to do with a detection's results, besides the request itself.
#[derive(Debug, Clone)]
pub struct DetectOutput {
    pub format: Option<Format>,
    pub output: Option<PathBuf>,
    pub explain: bool,
}

impl DetectArgs {
    /// The request these flags describe, for the lake `default_lake` when `--lake` is absent.
    pub fn into_request(self, default_lake: &Path) -> Result<(DetectRequest, DetectOutput)> {
        let mut request =
            DetectRequest::new(self.lake.unwrap_or_else(|| default_lake.to_path_buf()));
        request.as_of = self.as_of;
        request.lookback = self.lookback;
        request.threshold = self.threshold;
        let mut allowlist = match &self.allowlist {
            Some(path) => detect::read_allowlist(path)?,
            None => DEFAULT_ALLOWLIST.iter().map(|s| s.to_string()).collect(),
        };
        allowlist.extend(self.allow);
        request.allowlist = allowlist;
        request.keep_empty_in_sets = !self.drop_empty_in_sets;
        request.null_keys_match = self.null_keys_match;
        request.time_column = self.time_column;
        request.skip_bad_files = self.skip_bad_files;
        request.partition_slack = (!self.no_partition_pruning).then_some(self.partition_slack);
        request.plan = if self.literal {
            Plan::Literal
        } else {
            Plan::Keyed
        };
        if let Some(budget) = self
            .materialize_budget
            .or(self.memory_limit.map(|limit| limit / 4))
        {
            request.materialize.memory_budget = budget;
        }
        request.materialize.spill_dir = self.spill_dir.clone();
        request.session.spill_dir = self.spill_dir;
        request.session.memory_limit = self.memory_limit;
        request.session.target_partitions = self.threads;
        let output = DetectOutput {
            format: self.format,
            output: self.output,
            explain: self.explain,
        };
        Ok((request, output))
    }
}
