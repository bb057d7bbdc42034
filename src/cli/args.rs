//! The flags the commands share: which lake and how to read it, the rule's parameters, and the
//! session's resources. `detect`, `sql` and the shell's `\detect` flatten the same structs, so
//! a flag has one spelling, one default and one meaning everywhere.

use std::path::PathBuf;

use clap::Args;
use clap::builder::PossibleValue;

use crate::error::Result;
use crate::ingest::InputFormat;
use crate::lake::LakeSource;
use crate::output::Format;
use crate::plan::SessionOptions;
use crate::plan::cluster::{Cluster, TOKEN_VARIABLE};
use crate::rule::{
    DEFAULT_LOOKBACK, DEFAULT_PARTITION_SLACK, DEFAULT_THRESHOLD, DetectRequest,
    MaterializeOptions, Plan, RuleOptions,
};

/// Which lake, as of when, and how to read its files.
#[derive(Args, Debug, Clone)]
pub struct LakeArgs {
    /// The lake root: one folder per table (DeviceProcessEvents/, DeviceNetworkEvents/,
    /// DeviceFileEvents/, DeviceImageLoadEvents/) with *.parquet files at any depth, on disk
    /// or in an object store (az://, abfss://, s3://, gs://). Default: the sample lake built
    /// into huntlake.
    #[arg(long, value_name = "PATH|URL")]
    pub lake: Option<String>,

    /// The query's now(), RFC 3339 (2026-11-19T12:00:00Z): ago() and the rule's window count
    /// back from it. Default: the lake's own reference time if it has one (the sample lake
    /// does), else now.
    #[arg(long, value_name = "RFC3339", value_parser = parse_datetime)]
    pub as_of: Option<i64>,

    /// Use this column as the event time of every table (default: TimeGenerated, or
    /// Timestamp in Advanced Hunting exports).
    #[arg(long, value_name = "NAME")]
    pub time_column: Option<String>,

    /// Set aside files that cannot be read (not Parquet, truncated, a corrupt page, a needed
    /// column of the wrong type) and go on without them; each is listed, and the result
    /// excludes them. Default: such a file stops the run.
    #[arg(long)]
    pub skip_bad_files: bool,
}

impl LakeArgs {
    pub fn source(&self) -> LakeSource {
        match &self.lake {
            Some(root) => LakeSource::Root(root.clone()),
            None => LakeSource::EmbeddedSample,
        }
    }
}

/// The rule's parameters.
#[derive(Args, Debug, Clone)]
pub struct RuleArgs {
    /// How far back to look, as a Kusto timespan: 14d, 30d, 36h, 90m.
    #[arg(long, value_name = "SPAN", default_value = DEFAULT_LOOKBACK, value_parser = parse_span)]
    pub lookback: i64,

    /// A service is rare when launched fewer than this many times on a device.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_THRESHOLD,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub threshold: i64,

    /// Add a service name to the allowlist (whole name, ASCII case ignored). Repeatable.
    #[arg(long = "allow", value_name = "NAME")]
    pub allow: Vec<String>,

    /// Replace the rule's allowlist with the names in FILE (one per line, # comments).
    #[arg(long, value_name = "FILE")]
    pub allowlist: Option<PathBuf>,

    /// Leave "" out of the sets (Kusto keeps it: a service with no network events has
    /// ConnectedAddresses [""]).
    #[arg(long)]
    pub drop_empty_in_sets: bool,

    /// Let a null ServiceProcessID or ServiceProcessCreationTime join another null (Kusto's
    /// behaviour is undocumented; by default nulls match nothing, as in SQL).
    #[arg(long)]
    pub null_keys_match: bool,
}

impl RuleArgs {
    /// The rule's options these flags give (the allowlist file is read here).
    pub fn options(&self) -> Result<RuleOptions> {
        let mut options = RuleOptions {
            lookback: self.lookback,
            threshold: self.threshold,
            keep_empty_in_sets: !self.drop_empty_in_sets,
            null_keys_match: self.null_keys_match,
            ..RuleOptions::default()
        };
        if let Some(path) = &self.allowlist {
            options.allowlist = crate::rule::read_allowlist(path)?;
        }
        options.allowlist.extend(self.allow.iter().cloned());
        Ok(options)
    }
}

/// The resources a run may use.
#[derive(Args, Debug, Clone)]
pub struct SessionArgs {
    /// Memory the run may use (e.g. 2GiB). Past it, sorts, aggregations and the materialized
    /// rule steps spill to disk. Default: no limit.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<usize>,

    /// Memory for the materialized rule steps (GetServices, RareServices) before they spill
    /// to disk (e.g. 512MiB). Default: a quarter of --memory-limit, else 1GiB.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub materialize_budget: Option<usize>,

    /// Folder for spill files (default: the system's temporary folder).
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,

    /// Query threads (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Plan and run across these huntlake workers (`huntlake worker`), comma-separated
    /// host:port or http://host:port. The cluster token comes from HUNTLAKE_CLUSTER_TOKEN.
    #[arg(
        long,
        value_name = "URL,...",
        env = "HUNTLAKE_WORKERS",
        value_delimiter = ','
    )]
    pub workers: Vec<String>,

    /// With --workers: where the materialized rule steps go, a folder or object-store URL
    /// every worker can read (default: the lake's _huntlake/scratch/; removed after the run).
    #[arg(long, value_name = "PATH|URL")]
    pub scratch: Option<String>,
}

impl SessionArgs {
    pub fn session(&self) -> Result<SessionOptions> {
        let cluster = match self.workers.is_empty() {
            true => None,
            false => Some(Cluster::new(&self.workers, cluster_token())?),
        };
        Ok(SessionOptions {
            target_partitions: self.threads,
            memory_limit: self.memory_limit,
            spill_dir: self.spill_dir.clone(),
            cluster,
            ..SessionOptions::default()
        })
    }

    pub fn materialize(&self) -> MaterializeOptions {
        MaterializeOptions::new(
            self.materialize_budget,
            self.memory_limit,
            self.spill_dir.clone(),
        )
    }
}

#[derive(Args, Debug, Clone)]
pub struct DetectArgs {
    #[command(flatten)]
    pub lake: LakeArgs,

    #[command(flatten)]
    pub rule: RuleArgs,

    #[command(flatten)]
    pub session: SessionArgs,

    /// Run with the tables whose folder is missing as empty tables (each named in a note).
    /// Default: a missing table folder stops the run.
    #[arg(long)]
    pub allow_missing_tables: bool,

    /// Output format: rows (table, csv, json, ndjson, parquet; each with the AlertId column
    /// after the rule's 18) or alerts as NDJSON (sentinel: Sentinel's SecurityAlert rows; ocsf:
    /// OCSF 1.8.0 Detection Findings). Default: from --output's extension, else table on a
    /// terminal and ndjson when piped.
    #[arg(long)]
    pub format: Option<Format>,

    /// Write the results to this file instead of standard output.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Files in time partitions (date=YYYY-MM-DD/, y=/m=/d=[/h=]/ folders) that end this long
    /// before the window are not opened: the slack allows for exports that partition by
    /// another time than the rule's (event time vs ingestion time).
    #[arg(long, value_name = "SPAN", default_value = DEFAULT_PARTITION_SLACK, value_parser = parse_span)]
    pub partition_slack: i64,

    /// Open every file, whatever its partition folder says.
    #[arg(long)]
    pub no_partition_pruning: bool,

    /// Run the literal translation (the KQL's join structure) instead of the keyed plan.
    /// Same answer, much slower on large lakes; for cross-checking.
    #[arg(long)]
    pub literal: bool,

    /// Print each step's physical plan with its run metrics (rows, time, bytes scanned,
    /// pruning) on standard error, as EXPLAIN ANALYZE does.
    #[arg(long)]
    pub explain: bool,

    /// Keep what this run reported in this folder (local or an object-store URL): each
    /// alert id with its first and last run and event times, and a ledger of runs. Daily runs
    /// with the same state and --new-only report each instance once.
    #[arg(long, value_name = "PATH|URL")]
    pub state: Option<String>,

    /// With --state: report only the instances not reported before, and those whose sets hold
    /// something not reported before (an update).
    #[arg(long, requires = "state")]
    pub new_only: bool,

    /// With --state: forget the state's alerts (keeping its ledger of runs), e.g. after
    /// changing the rule's parameters.
    #[arg(long, requires = "state")]
    pub reset_state: bool,

    /// Exit with 3 when the run succeeded and reported at least one detection (with
    /// --new-only: a new or updated one). Without it, a successful run exits 0.
    #[arg(long)]
    pub fail_on_detection: bool,

    /// Add huntlake's fleet prevalence columns after AlertId: ServiceDevices (devices running
    /// the service as a service in the window), SHA1Devices (devices running its SHA-1, as a
    /// service or not, in the window) and FirstSeen (the first sighting of either in the
    /// whole lake).
    #[arg(long)]
    pub with_prevalence: bool,
}

/// What to do with a detection's results, besides the request itself.
#[derive(Debug, Clone)]
pub struct DetectOutput {
    pub format: Option<Format>,
    pub output: Option<PathBuf>,
    pub explain: bool,
    pub state: Option<String>,
    pub new_only: bool,
    pub reset_state: bool,
    pub fail_on_detection: bool,
    pub with_prevalence: bool,
}

impl DetectOutput {
    /// Whether the output uses the detections' event times (alerts and the state do).
    pub fn needs_event_times(&self) -> bool {
        self.state.is_some() || self.format.is_some_and(Format::is_alert)
    }
}

impl DetectArgs {
    /// The request these flags describe, and what to do with its results.
    pub fn into_request(self) -> Result<(DetectRequest, DetectOutput)> {
        let mut request = DetectRequest::new(self.lake.source());
        request.as_of = self.lake.as_of;
        request.rule = self.rule.options()?;
        request.time_column = self.lake.time_column;
        request.skip_bad_files = self.lake.skip_bad_files;
        request.allow_missing_tables = self.allow_missing_tables;
        request.partition_slack = (!self.no_partition_pruning).then_some(self.partition_slack);
        request.plan = if self.literal {
            Plan::Literal
        } else {
            Plan::Keyed
        };
        request.materialize = self.session.materialize();
        request.session = self.session.session()?;
        request.scratch = self.session.scratch.clone();
        let output = DetectOutput {
            format: self.format,
            output: self.output,
            explain: self.explain,
            state: self.state,
            new_only: self.new_only,
            reset_state: self.reset_state,
            fail_on_detection: self.fail_on_detection,
            with_prevalence: self.with_prevalence,
        };
        Ok((request, output))
    }
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

/// `--format`'s values are the output module's formats.
impl clap::ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Self] {
        &Format::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

/// `ingest --format`'s values are the formats ingest reads.
impl clap::ValueEnum for InputFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &InputFormat::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()).help(self.describe()))
    }
}

/// The cluster's shared secret, from the environment (never from a flag: flags show in process
/// lists).
pub fn cluster_token() -> Option<String> {
    std::env::var(TOKEN_VARIABLE).ok().filter(|t| !t.is_empty())
}
