//! The connections to the workers. One channel per worker, opened on first use and kept; each
//! request carries the cluster token (when there is one) and huntlake's version; and every
//! error, also one met later in a result stream, names the worker it came from.
//!
//! The planner and the workers use the same channels: workers read each other's results.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion_distributed::grpc::{BoxCloneSyncChannel, create_worker_client};
use datafusion_distributed::{
    ChannelResolver, CoordinatorToWorkerMsg, ExecuteTaskRequest, GetWorkerInfoRequest,
    GetWorkerInfoResponse, SetPlanRequest, WorkerChannel, WorkerToCoordinatorMsg,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use http::HeaderValue;
use tokio::sync::OnceCell;
use url::Url;

use super::CONNECT_TIMEOUT;
use crate::error::HuntError;

/// The header carrying the planner's huntlake version, which a worker compares with its own.
pub const VERSION_HEADER: &str = "x-huntlake-version";

/// Channels to the workers, shared by a session's queries (cheap to clone).
#[derive(Clone)]
pub struct ClusterChannels {
    inner: Arc<Inner>,
}

struct Inner {
    /// `Bearer <token>`, marked sensitive so that it is never printed.
    authorization: Option<HeaderValue>,
    version: HeaderValue,
    /// One channel per worker, connected once (a failed connection is tried again next time).
    channels: Mutex<HashMap<Url, Arc<OnceCell<BoxCloneSyncChannel>>>>,
}

impl std::fmt::Debug for ClusterChannels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterChannels")
            .field("token", &self.inner.authorization.is_some())
            .finish()
    }
}

impl ClusterChannels {
    pub fn new(token: Option<String>, version: &str) -> Self {
        let authorization = token.and_then(|t| {
            let mut value = HeaderValue::from_str(&format!("Bearer {t}")).ok()?;
            value.set_sensitive(true);
            Some(value)
        });
        ClusterChannels {
            inner: Arc::new(Inner {
                authorization,
                version: HeaderValue::from_str(version)
                    .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
                channels: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The channel to `url`, connected within [`CONNECT_TIMEOUT`].
    async fn channel(&self, url: &Url) -> Result<BoxCloneSyncChannel> {
        let cell = {
            let mut channels = self
                .inner
                .channels
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            Arc::clone(channels.entry(url.clone()).or_default())
        };
        cell.get_or_try_init(|| self.connect(url)).await.cloned()
    }

    async fn connect(&self, url: &Url) -> Result<BoxCloneSyncChannel> {
        let endpoint = tonic::transport::Endpoint::from_shared(url.to_string())
            .map_err(|e| worker_error(url, format!("not a valid worker address: {e}")))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_keepalive(Some(Duration::from_secs(30)))
            .http2_keep_alive_interval(Duration::from_secs(15))
            .keep_alive_timeout(Duration::from_secs(20))
            .keep_alive_while_idle(true);
        // The timeout covers the HTTP/2 handshake too: a port that accepts and never answers
        // fails as surely as one that refuses.
        let channel = match tokio::time::timeout(CONNECT_TIMEOUT, endpoint.connect()).await {
            Err(_) => {
                return Err(worker_error(
                    url,
                    format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                ));
            }
            Ok(Err(e)) => {
                return Err(worker_error(
                    url,
                    format!("cannot connect: {}", source_chain(&e)),
                ));
            }
            Ok(Ok(channel)) => channel,
        };
        let (authorization, version) =
            (self.inner.authorization.clone(), self.inner.version.clone());
        let with_headers = tower::ServiceBuilder::new()
            .map_request(move |mut request: http::Request<tonic::body::Body>| {
                let headers = request.headers_mut();
                if let Some(authorization) = &authorization {
                    headers.insert(http::header::AUTHORIZATION, authorization.clone());
                }
                headers.insert(VERSION_HEADER, version.clone());
                request
            })
            .service(channel);
        Ok(BoxCloneSyncChannel::new(with_headers))
    }

    /// Asks the worker at `url` for its version: an error names the worker and says why (no
    /// answer, the token refused, another huntlake).
    pub async fn check(&self, url: &Url) -> crate::error::Result<()> {
        let answer = async {
            let mut client = self.get_worker_client_for_url(url).await?;
            client.get_worker_info(GetWorkerInfoRequest {}).await
        };
        let answer = tokio::time::timeout(CONNECT_TIMEOUT, answer)
            .await
            .unwrap_or_else(|_| {
                Err(worker_error(
                    url,
                    format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                ))
            });
        let ours = self.inner.version.to_str().unwrap_or_default();
        match answer {
            Ok(info) if info.version == ours => Ok(()),
            Ok(info) => Err(HuntError::Query {
                context: "reaching the workers".into(),
                source: worker_error(
                    url,
                    format!(
                        "it runs huntlake {}, this planner runs huntlake {ours}: run the same \
                         huntlake on every machine",
                        info.version
                    ),
                ),
            }),
            Err(e) => Err(HuntError::Query {
                context: "reaching the workers".into(),
                source: e,
            }),
        }
    }
}

#[async_trait]
impl ChannelResolver for ClusterChannels {
    async fn get_worker_client_for_url(&self, url: &Url) -> Result<Box<dyn WorkerChannel>> {
        let channel = self.channel(url).await?;
        Ok(Box::new(NamedWorker {
            url: url.clone(),
            inner: create_worker_client(channel),
        }))
    }
}

/// An error about the worker at `url`.
fn worker_error(url: &Url, message: String) -> DataFusionError {
    DataFusionError::External(Box::new(WorkerError {
        url: url.clone(),
        message,
    }))
}

/// A tonic error's message with its causes (a connection refused is two levels down).
fn source_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// What went wrong with one worker.
#[derive(Debug)]
struct WorkerError {
    url: Url,
    message: String,
}

impl std::fmt::Display for WorkerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "worker {}: {}", self.url, self.message)
    }
}

impl std::error::Error for WorkerError {}

/// A worker's client whose errors say which worker they came from.
struct NamedWorker {
    url: Url,
    inner: Box<dyn WorkerChannel>,
}

impl NamedWorker {
    fn name(url: &Url, error: DataFusionError) -> DataFusionError {
        // Already named (by this worker or, for a shuffle, by the worker it read from).
        if error.to_string().starts_with("External error: worker ") {
            return error;
        }
        let message = match &error {
            // A refusal (the token, the version) or a broken connection: its own words.
            DataFusionError::External(e) => match e.downcast_ref::<tonic::Status>() {
                Some(status) => format!("{:?}: {}", status.code(), status.message()),
                None => source_chain(e.as_ref()),
            },
            other => other.to_string(),
        };
        worker_error(url, message)
    }
}

#[async_trait]
impl WorkerChannel for NamedWorker {
    async fn coordinator_channel(
        &mut self,
        headers: http::HeaderMap,
        set_plan_request: SetPlanRequest,
        c2w_stream: BoxStream<'static, CoordinatorToWorkerMsg>,
        metrics: ExecutionPlanMetricsSet,
        task_ctx: &Arc<TaskContext>,
    ) -> Result<BoxStream<'static, Result<WorkerToCoordinatorMsg>>> {
        let url = self.url.clone();
        let stream = self
            .inner
            .coordinator_channel(headers, set_plan_request, c2w_stream, metrics, task_ctx)
            .await
            .map_err(|e| Self::name(&url, e))?;
        Ok(stream
            .map(move |item| item.map_err(|e| Self::name(&url, e)))
            .boxed())
    }

    async fn execute_task(
        &mut self,
        headers: http::HeaderMap,
        request: ExecuteTaskRequest,
        metrics: ExecutionPlanMetricsSet,
        task_ctx: &Arc<TaskContext>,
    ) -> Result<Vec<BoxStream<'static, Result<RecordBatch>>>> {
        let url = self.url.clone();
        let streams = self
            .inner
            .execute_task(headers, request, metrics, task_ctx)
            .await
            .map_err(|e| Self::name(&url, e))?;
        Ok(streams
            .into_iter()
            .map(|stream| {
                let url = url.clone();
                stream
                    .map(move |item| item.map_err(|e| Self::name(&url, e)))
                    .boxed()
            })
            .collect())
    }

    async fn get_worker_info(
        &mut self,
        request: GetWorkerInfoRequest,
    ) -> Result<GetWorkerInfoResponse> {
        let url = self.url.clone();
        self.inner
            .get_worker_info(request)
            .await
            .map_err(|e| Self::name(&url, e))
    }
}
