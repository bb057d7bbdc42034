//! Running a query across huntlake workers, on datafusion-distributed: the planner cuts the
//! physical plan (after huntlake's own optimizer rules) into stages and sends their tasks to
//! `huntlake worker` processes over Arrow Flight.
//!
//! What huntlake adds to the engine:
//! - [`channels`]: the connection to each worker: a connect timeout, keep-alives, the cluster
//!   token and huntlake's version on every request, and errors that name the worker;
//! - [`worker`]: serving a worker: the same functions and settings as every huntlake session,
//!   the lake's object stores from the environment, the token and version checked on every
//!   request, a log line per task, a clean stop on SIGTERM or Ctrl-C;
//! - [`page_index`]: worker scans read each file's page index with its footer, as the
//!   planner's cached footers have it in one process;
//! - [`routing`]: which worker runs which task, kept for `--explain`;
//! - [`scratch_sink`]: a materialized step written to the scratch folder by the workers that
//!   make its rows, with the codec that carries it to them;
//! - the settings that travel with a plan ([`WorkerSettings`]) and the run's metrics (bytes
//!   moved between processes).

pub(crate) mod channels;
mod routing;
pub mod scratch_sink;
pub(crate) mod worker;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use datafusion::common::config::ConfigExtension;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::MetricValue;
use datafusion::prelude::SessionContext;
use datafusion_distributed::{
    DistributedExec, DistributedExt, DistributedMetricsFormat, NetworkBoundaryExt,
    SessionStateBuilderExt, WorkerResolver, rewrite_distributed_plan_with_metrics,
};
use url::Url;

use crate::error::{HuntError, QueryContext, Result};
pub use channels::ClusterChannels;
use routing::RoundRobin;
pub use worker::{WorkerOptions, serve_worker};

/// How long a worker may take to answer before the query fails naming it.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The environment variable holding the cluster's shared secret.
pub const TOKEN_VARIABLE: &str = "HUNTLAKE_CLUSTER_TOKEN";

datafusion::common::extensions_options! {
    /// huntlake's settings that travel with each task from the planner to the workers.
    pub struct WorkerSettings {
        /// Kusto's `now()` for `ago()` and `now()`, nanoseconds since the epoch as text; empty
        /// when the query's own start time is meant.
        pub as_of: String, default = String::new()
    }
}

impl ConfigExtension for WorkerSettings {
    const PREFIX: &'static str = "huntlake";
}

impl WorkerSettings {
    pub fn new(as_of: Option<i64>) -> Self {
        WorkerSettings {
            as_of: as_of.map(|t| t.to_string()).unwrap_or_default(),
        }
    }

    pub fn as_of(&self) -> Option<i64> {
        self.as_of.parse().ok()
    }
}

/// huntlake's version as workers and planners compare it: the release, and a fingerprint of
/// the functions a session registers (plans name functions, which a worker must know).
pub fn version() -> &'static str {
    static VERSION: LazyLock<String> = LazyLock::new(|| {
        let ctx = SessionContext::new();
        crate::functions::register_all(&ctx);
        crate::functions::register_kql(&ctx, None);
        let state = ctx.state();
        let mut names: Vec<&str> = state
            .scalar_functions()
            .keys()
            .chain(state.aggregate_functions().keys())
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        // FNV-1a: stable across builds and machines, unlike the standard hasher.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in names.join(",").bytes() {
            hash = (hash ^ byte as u64).wrapping_mul(0x100_0000_01b3);
        }
        format!("{} (functions {hash:016x})", env!("CARGO_PKG_VERSION"))
    });
    &VERSION
}

/// The workers a session plans across, and what it learns about them.
#[derive(Debug, Clone)]
pub struct Cluster {
    workers: Vec<Url>,
    channels: ClusterChannels,
    routes: RoundRobin,
}

impl Cluster {
    /// A cluster of `workers` (`http://host:port` URLs), reached with `token` if there is one.
    pub fn new(workers: &[String], token: Option<String>) -> Result<Cluster> {
        let mut urls = Vec::new();
        for worker in workers.iter().map(|w| w.trim()).filter(|w| !w.is_empty()) {
            let with_scheme = if worker.contains("://") {
                worker.to_string()
            } else {
                format!("http://{worker}")
            };
            let url = Url::parse(&with_scheme)
                .ok()
                .filter(|u| u.scheme() == "http" && u.host().is_some() && u.port().is_some())
                .ok_or_else(|| {
                    HuntError::usage(format!(
                        "--workers {worker}: expected a worker's address, e.g. \
                         http://10.0.0.5:50051 or 10.0.0.5:50051"
                    ))
                })?;
            urls.push(url);
        }
        if urls.is_empty() {
            return Err(HuntError::usage("--workers: no worker address given"));
        }
        Ok(Cluster {
            channels: ClusterChannels::new(token, version()),
            routes: RoundRobin::new(urls.clone()),
            workers: urls,
        })
    }

    pub fn workers(&self) -> &[Url] {
        &self.workers
    }

    /// Asks every worker who it is, all at once, before anything runs: a worker that does not
    /// answer within [`CONNECT_TIMEOUT`], refuses the token, or runs another huntlake is an
    /// error naming it.
    pub async fn check_workers(&self) -> Result<()> {
        let checks = self.workers.iter().map(|url| self.channels.check(url));
        for result in futures::future::join_all(checks).await {
            result?;
        }
        Ok(())
    }

    /// Adds the distributed planner to a session: these workers, the channels to them, the
    /// task routing, and `settings` sent with every task.
    pub fn configure(
        &self,
        builder: SessionStateBuilder,
        settings: WorkerSettings,
    ) -> Result<SessionStateBuilder> {
        let builder = builder
            .with_distributed_worker_resolver(StaticWorkers(self.workers.clone()))
            .with_distributed_channel_resolver(self.channels.clone())
            .with_distributed_route_tasks_handler(self.routes.clone())
            .with_distributed_option_extension(settings)
            .with_distributed_user_codec(scratch_sink::ScratchSinkCodec)
            // Every file scan is split across the workers, however small.
            .with_distributed_file_scan_config_bytes_per_partition(1)
            .context("configuring the distributed planner")?;
        // huntlake's planner goes first: the distributed planner cuts what it plans.
        Ok(builder
            .with_query_planner(Arc::new(scratch_sink::ScratchSinkPlanner))
            .with_distributed_planner())
    }

    /// How many workers ran tasks so far.
    pub fn workers_used(&self) -> usize {
        self.routes.workers_used()
    }

    /// Which worker ran which task, a line per stage, for `--explain`.
    pub fn routes(&self) -> Vec<String> {
        self.routes.describe()
    }
}

/// The fixed list of workers.
struct StaticWorkers(Vec<Url>);

impl WorkerResolver for StaticWorkers {
    fn get_urls(&self) -> datafusion::common::Result<Vec<Url>> {
        Ok(self.0.clone())
    }
}

/// `plan` after it ran: a distributed plan with the metrics its workers sent back folded in
/// (scans, rows, bytes moved), so that progress, `--explain` and the summary see them; any
/// other plan as it is.
pub async fn with_worker_metrics(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    if plan.downcast_ref::<DistributedExec>().is_none() {
        return Ok(plan);
    }
    rewrite_distributed_plan_with_metrics(plan, DistributedMetricsFormat::Aggregated)
        .await
        .context("collecting the workers' metrics")
}

/// Bytes that crossed between processes in `plan` (after [`with_worker_metrics`]): what the
/// network boundaries between stages received.
pub fn bytes_moved(plan: &Arc<dyn ExecutionPlan>) -> u64 {
    let mut bytes = 0u64;
    let _ = plan.apply(|node| {
        if node.as_network_boundary().is_some() {
            // A custom metric, which `MetricsSet::sum_by_name` passes over.
            for metric in node.metrics().iter().flat_map(|m| m.iter()) {
                if let MetricValue::Custom { name, value } = metric.value()
                    && name == "bytes_transferred"
                {
                    bytes += value.as_usize() as u64;
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    bytes
}

/// `plan` as text: stages and tasks for a distributed plan, else DataFusion's indented plan.
pub fn display(plan: &Arc<dyn ExecutionPlan>) -> String {
    if plan.downcast_ref::<DistributedExec>().is_some() {
        return datafusion_distributed::display_plan_ascii(plan.as_ref(), true);
    }
    datafusion::physical_plan::display::DisplayableExecutionPlan::with_metrics(plan.as_ref())
        .indent(true)
        .to_string()
}
