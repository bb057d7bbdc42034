//! `huntlake worker`: serve one worker of a cluster until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::args::{cluster_token, parse_size};
use crate::error::Result;
use crate::plan::SessionOptions;
use crate::plan::cluster::{WorkerOptions, serve_worker, version};

#[derive(Args)]
pub struct WorkerArgs {
    /// The address to listen on (port 0: any free port, printed at start). Off loopback the
    /// worker needs HUNTLAKE_CLUSTER_TOKEN, the secret every planner and worker shares.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Threads for the worker's tasks (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Memory the worker's tasks may use (e.g. 4GiB); past it, they spill to disk.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<usize>,

    /// Folder for spill files (default: the system's temporary folder).
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,

    /// Also log each task's physical plan, as the worker runs it.
    #[arg(long)]
    pub log_plans: bool,
}

/// The tokio runtime a worker runs on: `--threads` threads, so that its tasks use no more.
pub fn runtime(args: &WorkerArgs) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = super::tokio_runtime_builder();
    if let Some(threads) = args.threads {
        builder.worker_threads(threads.max(1));
    }
    builder.build()
}

pub async fn run(args: WorkerArgs) -> Result<()> {
    let options = WorkerOptions {
        listen: args.listen,
        token: cluster_token(),
        session: SessionOptions {
            target_partitions: args.threads,
            memory_limit: args.memory_limit,
            spill_dir: args.spill_dir,
            ..SessionOptions::default()
        },
        log: Arc::new(|line: &str| eprintln!("{line}")),
        log_plans: args.log_plans,
        version: version().to_string(),
    };
    let token = if options.token.is_some() {
        "requests must carry the cluster token"
    } else {
        "no cluster token: loopback only"
    };
    serve_worker(options, |address| {
        eprintln!(
            "huntlake worker: listening on http://{address} (huntlake {}; {token})",
            version()
        )
    })
    .await?;
    eprintln!("huntlake worker: stopped");
    Ok(())
}
