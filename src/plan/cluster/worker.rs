//! Serving one worker: datafusion-distributed's worker service on tonic, with huntlake's
//! sessions (the same functions and settings as every huntlake session), the lakes' object
//! stores from the environment, a gate that checks the token and the version on every request,
//! and a clean stop on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::common::DataFusionError;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::SessionState;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::prelude::SessionContext;
use datafusion_distributed::{
    DistributedExt, DistributedTaskContext, Worker, WorkerPlanRewriteEvent,
    WorkerPlanRewriteEventResponse, WorkerQueryContext, WorkerSessionBuilder,
};
use object_store::ObjectStore;
use tonic::service::interceptor::InterceptedService;
use url::Url;

use super::WorkerSettings;
use super::channels::{ClusterChannels, VERSION_HEADER};
use crate::error::{HuntError, Result};
use crate::lake::location::{SAMPLE_STORE_URL, cloud_store, embedded_sample_store};
use crate::plan::session::{SessionOptions, runtime_builder};

/// Where a line of the worker's log goes.
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// How to serve a worker.
pub struct WorkerOptions {
    /// The address to listen on. Off loopback, a token is required.
    pub listen: SocketAddr,
    /// The cluster's shared secret, which every request must carry.
    pub token: Option<String>,
    /// The memory limit and spill folder of the worker's queries.
    pub session: SessionOptions,
    /// A line per task run and per request refused.
    pub log: Log,
    /// Also log each task's plan as the worker runs it.
    pub log_plans: bool,
    /// The version the worker answers with and requires of planners (see [`version`]).
    pub version: String,
}

/// Serves a worker until SIGTERM or Ctrl-C. `ready` is told the address it listens on (the port
/// the system chose, with port 0) once it accepts connections.
pub async fn serve_worker(options: WorkerOptions, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    if !options.listen.ip().is_loopback() && options.token.is_none() {
        return Err(HuntError::usage(format!(
            "--listen {}: off loopback a worker needs the cluster token; set {} (the same \
             secret on every machine of the cluster)",
            options.listen,
            super::TOKEN_VARIABLE
        )));
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| HuntError::Io {
            context: format!("listening on {}", options.listen),
            source,
        })?;
    let address = listener.local_addr().map_err(|source| HuntError::Io {
        context: format!("listening on {}", options.listen),
        source,
    })?;
    let stores = LakeStores::new(embedded_sample_store().await?);
    let runtime = runtime_builder(&options.session)?
        .with_object_store_registry(Arc::new(stores))
        .build_arc()
        .map_err(|source| HuntError::Query {
            context: "creating the worker's runtime".into(),
            source,
        })?;
    let sessions = WorkerSessions {
        channels: ClusterChannels::new(options.token.clone(), &options.version),
        log: Arc::clone(&options.log),
        log_plans: options.log_plans,
    };
    let worker = Worker::from_session_builder(sessions)
        .with_runtime_env(runtime)
        .with_version(options.version.clone());
    let gate = Gate {
        authorization: options.token.as_ref().map(|t| format!("Bearer {t}")),
        version: options.version.clone(),
        log: Arc::clone(&options.log),
    };
    let service = InterceptedService::new(worker.into_worker_server(), gate);
    // Listen for the signals before saying the worker is ready: a stop sent right after is
    // a clean stop too.
    let signals = Signals::listen()?;
    ready(address);
    let stop = Arc::new(tokio::sync::Notify::new());
    let server = tonic::transport::Server::builder()
        .tcp_keepalive(Some(Duration::from_secs(30)))
        .http2_keepalive_interval(Some(Duration::from_secs(15)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .add_service(service)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            signals.wait(Arc::clone(&stop)),
        );
    // A stop lets running tasks finish, for a while: a planner that stopped reading does not
    // keep the worker alive.
    let deadline = async {
        stop.notified().await;
        tokio::time::sleep(Duration::from_secs(10)).await;
    };
    tokio::select! {
        served = server => served.map_err(|e| HuntError::Io {
            context: format!("serving on {address}"),
            source: std::io::Error::other(e),
        }),
        () = deadline => Ok(()),
    }
}

/// SIGTERM and Ctrl-C, listened for.
struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> Result<Signals> {
        Ok(Signals {
            #[cfg(unix)]
            terminate: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|source| HuntError::Io {
                    context: "listening for SIGTERM".into(),
                    source,
                })?,
        })
    }

    /// Resolves on SIGTERM or Ctrl-C, and tells `stop`.
    async fn wait(mut self, stop: Arc<tokio::sync::Notify>) {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        stop.notify_one();
    }
}

/// Builds each task's session: the planner's settings, huntlake's functions, the channels to
/// the other workers, and a log line for the task.
struct WorkerSessions {
    channels: ClusterChannels,
    log: Log,
    log_plans: bool,
}

#[async_trait]
impl WorkerSessionBuilder for WorkerSessions {
    async fn build_session_state(
        &self,
        ctx: WorkerQueryContext,
    ) -> Result<SessionState, DataFusionError> {
        let WorkerQueryContext { builder, headers } = ctx;
        let (log, log_plans) = (Arc::clone(&self.log), self.log_plans);
        let state = builder
            .with_distributed_channel_resolver(self.channels.clone())
            .with_distributed_user_codec(super::scratch_sink::ScratchSinkCodec)
            .with_distributed_option_extension_from_headers::<WorkerSettings>(&headers)?
            .with_distributed_worker_plan_rewrite_handler(
                move |ev: WorkerPlanRewriteEvent| -> datafusion::common::Result<_> {
                    log(&describe_task(&ev));
                    let plan = crate::plan::page_index::read_page_index_with_footer(ev.plan)?;
                    if log_plans {
                        log(&DisplayableExecutionPlan::new(plan.as_ref())
                            .indent(true)
                            .to_string());
                    }
                    Ok(WorkerPlanRewriteEventResponse::new(plan))
                },
            )
            .build();
        let as_of = state
            .config()
            .options()
            .extensions
            .get::<WorkerSettings>()
            .and_then(WorkerSettings::as_of);
        let ctx = SessionContext::new_with_state(state);
        crate::functions::register_all(&ctx);
        crate::functions::register_kql(&ctx, as_of);
        Ok(ctx.state())
    }
}

/// `task 2/3: AggregateExec, 14 files`: a task as the worker's log shows it.
fn describe_task(ev: &WorkerPlanRewriteEvent) -> String {
    let (index, count) = ev
        .session_config
        .get_extension::<DistributedTaskContext>()
        .map_or((0, 1), |t| (t.task_index, t.task_count));
    let files = files_read(&ev.plan);
    let files = match files {
        0 => String::new(),
        1 => ", 1 file".to_string(),
        n => format!(", {n} files"),
    };
    format!(
        "huntlake worker: task {}/{count}: {}{files}",
        index + 1,
        ev.plan.name()
    )
}

/// The files the plan's scans read.
fn files_read(plan: &Arc<dyn ExecutionPlan>) -> usize {
    let mut files = 0;
    let _ = plan.apply(|node| {
        if let Some(scan) = node.downcast_ref::<DataSourceExec>()
            && let Some(config) = scan.data_source().downcast_ref::<FileScanConfig>()
        {
            files += config.file_groups.iter().map(|g| g.len()).sum::<usize>();
        }
        Ok(TreeNodeRecursion::Continue)
    });
    files
}

/// Checks every request: the cluster token (when the worker has one) and the planner's
/// huntlake version. A refused request is logged, without the token.
#[derive(Clone)]
struct Gate {
    authorization: Option<String>,
    version: String,
    log: Log,
}

impl tonic::service::Interceptor for Gate {
    fn call(
        &mut self,
        request: tonic::Request<()>,
    ) -> std::result::Result<tonic::Request<()>, tonic::Status> {
        let from = request
            .remote_addr()
            .map_or_else(|| "an unknown address".to_string(), |a| a.to_string());
        if let Some(expected) = &self.authorization {
            let given = request
                .metadata()
                .get("authorization")
                .map(|v| v.as_bytes())
                .unwrap_or_default();
            if !same_secret(given, expected.as_bytes()) {
                let why = if given.is_empty() {
                    "no cluster token"
                } else {
                    "a wrong cluster token"
                };
                (self.log)(&format!(
                    "huntlake worker: refused a request from {from}: {why}"
                ));
                return Err(tonic::Status::unauthenticated(format!(
                    "the worker refused the request: {why} (set {} to the cluster's secret)",
                    super::TOKEN_VARIABLE
                )));
            }
        }
        let ours = &self.version;
        let theirs = request
            .metadata()
            .get(VERSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("(none: not a huntlake planner)");
        if theirs != ours {
            (self.log)(&format!(
                "huntlake worker: refused a request from {from}: it runs huntlake {theirs}"
            ));
            return Err(tonic::Status::failed_precondition(format!(
                "this worker runs huntlake {ours}, the planner runs huntlake {theirs}: run the \
                 same huntlake on every machine"
            )));
        }
        Ok(request)
    }
}

/// Compares secrets in time that does not depend on where they differ.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// The object stores a worker reads from: those registered, and any cloud store a plan names,
/// opened on first use with the credentials in the worker's environment.
#[derive(Debug)]
struct LakeStores {
    known: DefaultObjectStoreRegistry,
}

impl LakeStores {
    fn new(sample: Arc<dyn ObjectStore>) -> Self {
        let known = DefaultObjectStoreRegistry::new();
        let url = Url::parse(SAMPLE_STORE_URL).expect("a valid URL");
        known.register_store(&url, sample);
        LakeStores { known }
    }
}

impl ObjectStoreRegistry for LakeStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.known.register_store(url, store)
    }

    fn get_store(&self, url: &Url) -> datafusion::common::Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.known.get_store(url) {
            return Ok(store);
        }
        // A store that cannot be opened here (no credentials in this worker's environment)
        // fails each read naming the object, so that the planner's error names the file.
        let store = cloud_store(url).unwrap_or_else(|why| {
            Arc::new(Unopened {
                url: url.clone(),
                why,
            })
        });
        self.known.register_store(url, Arc::clone(&store));
        Ok(store)
    }
}

/// A store this worker could not open: every request fails, naming the object it was for.
#[derive(Debug)]
struct Unopened {
    url: Url,
    why: String,
}

impl std::fmt::Display for Unopened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (not opened: {})", self.url, self.why)
    }
}

impl Unopened {
    fn fail<T>(&self, location: &object_store::path::Path) -> object_store::Result<T> {
        Err(object_store::Error::Generic {
            store: "huntlake worker",
            source: format!("{}{location}: {}", self.url, self.why).into(),
        })
    }
}

#[async_trait]
impl ObjectStore for Unopened {
    async fn put_opts(
        &self,
        location: &object_store::path::Path,
        _: object_store::PutPayload,
        _: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        self.fail(location)
    }

    async fn put_multipart_opts(
        &self,
        location: &object_store::path::Path,
        _: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.fail(location)
    }

    async fn get_opts(
        &self,
        location: &object_store::path::Path,
        _: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.fail(location)
    }

    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<
            'static,
            object_store::Result<object_store::path::Path>,
        >,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::path::Path>> {
        let (url, why) = (self.url.clone(), self.why.clone());
        futures::StreamExt::boxed(futures::StreamExt::map(locations, move |location| {
            let location = location?;
            Err(object_store::Error::Generic {
                store: "huntlake worker",
                source: format!("{url}{location}: {why}").into(),
            })
        }))
    }

    fn list(
        &self,
        prefix: Option<&object_store::path::Path>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        let failed = self.fail(&prefix.cloned().unwrap_or_default());
        futures::StreamExt::boxed(futures::stream::once(async move { failed }))
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&object_store::path::Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.fail(&prefix.cloned().unwrap_or_default())
    }

    async fn copy_opts(
        &self,
        from: &object_store::path::Path,
        _: &object_store::path::Path,
        _: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.fail(from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"Bearer abc", b"Bearer abc"));
        assert!(!same_secret(b"Bearer abd", b"Bearer abc"));
        assert!(!same_secret(b"Bearer ab", b"Bearer abc"));
        assert!(!same_secret(b"", b"Bearer abc"));
    }
}
