//! huntlake: Sentinel's "Rare Process as a Service" detection, and ad-hoc SQL, over a lake of
//! Microsoft Defender XDR Parquet exports, on DataFusion.
//!
//! The rooms follow the data: the lake (files → raw tables → Kusto views), the plan (the
//! session and its optimizer rules), the rule (GetServices materialized → rare services → sets
//! per instance → keyed left joins), the output. Beside them: the functions the SQL calls,
//! ingest (exports → a lake), the synthetic lakes, and the command line. A session given a
//! [`Cluster`] plans and runs across `huntlake worker` processes ([`serve_worker`]).
//!
//! ```no_run
//! # async fn run() -> huntlake::Result<()> {
//! use huntlake::{DetectRequest, LakeSource, detect};
//! let request = DetectRequest::new(LakeSource::Root("/data/defender-lake".into()));
//! let detection = detect(&request, &mut |note| eprintln!("{note}")).await?;
//! huntlake::write_results(&detection.batches, huntlake::Format::Ndjson, None)?;
//! # Ok(()) }
//! ```

pub mod cli;
mod error;
pub mod functions;
mod ingest;
mod lake;
mod output;
mod plan;
mod rule;
pub mod synth;
mod time;

pub use error::{HuntError, Result};
pub use functions::{register_all, register_kql};
pub use ingest::{Counts, IngestOptions, IngestReport, InputFormat, ingest};
pub use lake::{DefenderTable, KustoType, Lake, LakeOptions, LakeSource, LakeTable};
pub use output::{Format, json_object, write_results};
pub use plan::cluster::{Cluster, WorkerOptions, serve_worker, version as cluster_version};
pub use plan::{ScanProgress, SessionOptions, new_session};
pub use rule::{
    DetectRequest, Detection, MaterializeOptions, OUTPUT_COLUMNS, Plan, RuleOptions, RuleParams,
    StepPlan, detect,
};
pub use time::{format_kusto_datetime, parse_datetime, parse_span};
