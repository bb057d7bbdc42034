//! The DataFusion session every front end uses: huntlake's functions registered, identifiers
//! kept as typed (so `DeviceProcessEvents` and `DeviceName` work unquoted), and Parquet read
//! the way Defender exports need.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use super::page_index::PageIndexWithFooter;
use super::proven_bounds::ProvenBounds;
use super::rewrite::{ParquetScanRewrites, ScanRewrite};
use super::scan_order::MembershipFiltersFirst;
use super::window_pruning::WindowPruning;
use crate::error::{HuntError, QueryContext, Result};
use crate::functions;

#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Plan and run across these workers (datafusion-distributed), instead of in this process.
    pub cluster: Option<super::cluster::Cluster>,
    /// Kusto's `now()` of the KQL functions, sent to the workers with each task.
    pub as_of: Option<i64>,
    /// Worker threads for query execution (default: the number of cores).
    pub target_partitions: Option<usize>,
    /// The memory the query may use, in bytes; operators that can spill (sorts, aggregations)
    /// spill past it, and a query that cannot fit fails with an error naming the consumers.
    /// Default: no limit.
    pub memory_limit: Option<usize>,
    /// Where spill files go (default: the system's temporary folder).
    pub spill_dir: Option<PathBuf>,
    /// `information_schema` and `SHOW TABLES` / `SHOW COLUMNS` (the SQL shell).
    pub information_schema: bool,
    /// The SQL `substring(...)` / `substr(...)` syntax means Kusto's 0-based `substring` (the
    /// SQL shell's default).
    pub kusto_substring: bool,
}

pub fn new_session(options: &SessionOptions) -> Result<SessionContext> {
    // DataFusion's own DATAFUSION_* environment variables still win over these defaults, so a
    // setting can be tried without a rebuild.
    let mut config = SessionConfig::from_env().context("reading DATAFUSION_* variables")?;
    for (key, value) in [
        ("datafusion.sql_parser.enable_ident_normalization", "false"),
        // Some writers store strings as plain BYTE_ARRAY without the UTF8 annotation.
        ("datafusion.execution.parquet.binary_as_string", "true"),
        ("datafusion.execution.parquet.pushdown_filters", "true"),
        ("datafusion.execution.parquet.reorder_filters", "true"),
        // The cache keeps the filter columns' decoded values for the output; huntlake's
        // filters keep few rows, so rebuilding those costs less than caching (measured: 12%
        // less CPU and 18% less memory on the 100M-row benchmark lake).
        ("datafusion.execution.parquet.max_predicate_cache_size", "0"),
    ] {
        let variable = key.to_ascii_uppercase().replace('.', "_");
        if std::env::var_os(variable).is_none() {
            config = config.set_str(key, value);
        }
    }
    if let Some(limit) = options.memory_limit {
        // Each sort sets aside this much for its final merge (10 MiB by default), which alone
        // would exceed a small limit.
        let reserve = (limit / 16).min(10 << 20);
        config = config.set_usize("datafusion.execution.sort_spill_reservation_bytes", reserve);
    }
    if options.information_schema {
        config = config.with_information_schema(true);
    }
    if let Some(n) = options.target_partitions {
        config = config.with_target_partitions(n.max(1));
    }
    let runtime = runtime_builder(options)?
        .build_arc()
        .context("creating the runtime")?;
    let mut scan_rewrites: Vec<Arc<dyn ScanRewrite>> = vec![
        Arc::new(MembershipFiltersFirst),
        Arc::new(WindowPruning),
        Arc::new(PageIndexWithFooter),
    ];
    // Last, as it hides the Parquet source behind one of its own; not for a cluster, whose
    // workers receive the plan as DataFusion serializes it (with the whole predicate).
    if options.cluster.is_none() {
        scan_rewrites.push(Arc::new(ProvenBounds::new(Arc::clone(&runtime))));
    }
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(Arc::clone(&runtime))
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(ParquetScanRewrites::new(scan_rewrites)));
    if options.kusto_substring
        && let Some(planners) = state.expr_planners()
    {
        planners.insert(0, Arc::new(functions::kql::text::KustoSubstringPlanner));
    }
    if let Some(cluster) = &options.cluster {
        state = cluster.configure(state, super::cluster::WorkerSettings::new(options.as_of))?;
    }
    let state = state.build();
    let ctx = SessionContext::new_with_state(state);
    functions::register_all(&ctx);
    super::catalog::install(&ctx);
    Ok(ctx)
}

/// The runtime of a session's queries: the memory pool (with its limit) and the spill folder.
pub fn runtime_builder(options: &SessionOptions) -> Result<RuntimeEnvBuilder> {
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = options.memory_limit {
        // Fair shares, so that several spilling operators each get a part; the tracking
        // wrapper names the biggest consumers when the limit is hit.
        runtime = runtime.with_memory_pool(Arc::new(TrackConsumersPool::new(
            FairSpillPool::new(limit),
            NonZeroUsize::new(5).expect("5 is not zero"),
        )));
    }
    if let Some(dir) = &options.spill_dir {
        if !dir.is_dir() {
            return Err(HuntError::Usage(format!(
                "--spill-dir {}: not an existing folder",
                dir.display()
            )));
        }
        runtime = runtime.with_temp_file_path(dir);
    }
    Ok(runtime)
}
