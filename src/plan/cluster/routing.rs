//! Which worker runs which task. Tasks go round the workers in turn; a stage of one task runs
//! where the single task it reads from ran, so its input does not cross the network. Each
//! choice is kept, so that `--explain` can say which worker ran what.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use datafusion::common::Result;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion_distributed::{
    NetworkBoundaryExt, RouteTasksEvent, RouteTasksEventResponse, RouteTasksHandler, Stage,
};
use url::Url;

/// One stage's routing: its head node, and the worker of each task.
type Route = (String, Vec<Url>);

#[derive(Debug, Clone)]
pub(super) struct RoundRobin {
    workers: Vec<Url>,
    next: Arc<AtomicUsize>,
    /// The stages routed so far, in order.
    routed: Arc<Mutex<Vec<Route>>>,
}

impl RoundRobin {
    pub(super) fn new(workers: Vec<Url>) -> Self {
        RoundRobin {
            workers,
            next: Arc::new(AtomicUsize::new(0)),
            routed: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn routed(&self) -> std::sync::MutexGuard<'_, Vec<Route>> {
        self.routed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn workers_used(&self) -> usize {
        let routed = self.routed();
        let used: BTreeSet<&Url> = routed.iter().flat_map(|(_, urls)| urls).collect();
        used.len()
    }

    pub(super) fn describe(&self) -> Vec<String> {
        self.routed()
            .iter()
            .map(|(head, urls)| {
                let tasks: Vec<String> = urls
                    .iter()
                    .enumerate()
                    .map(|(task, url)| format!("task {task} on {url}"))
                    .collect();
                format!("stage headed by {head}: {}", tasks.join(", "))
            })
            .collect()
    }
}

impl RouteTasksHandler for RoundRobin {
    fn handle(&self, ev: RouteTasksEvent) -> Option<Result<RouteTasksEventResponse>> {
        let urls = match single_input_worker(&ev) {
            Some(url) if ev.task_count == 1 => vec![url],
            _ => {
                let start = self.next.fetch_add(ev.task_count, Ordering::Relaxed);
                (0..ev.task_count)
                    .map(|i| self.workers[(start + i) % self.workers.len()].clone())
                    .collect()
            }
        };
        self.routed()
            .push((ev.plan.name().to_string(), urls.clone()));
        Some(Ok(RouteTasksEventResponse::new(urls)))
    }
}

/// The worker of the one task feeding the stage, when its input is a single remote task.
fn single_input_worker(ev: &RouteTasksEvent) -> Option<Url> {
    let mut found = None;
    let _ = ev.plan.apply(|node| {
        let Some(boundary) = node.as_network_boundary() else {
            return Ok(TreeNodeRecursion::Continue);
        };
        if let Stage::Remote(remote) = boundary.input_stage()
            && remote.workers.len() == 1
        {
            found = Some(remote.workers[0].clone());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Jump)
    });
    found
}
