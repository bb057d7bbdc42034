//! huntlake: Sentinel's "Rare Process as a Service" detection, and ad-hoc SQL, over a lake of
//! Microsoft Defender XDR Parquet exports, on DataFusion.
//!
//! lake (files → raw tables → Kusto views) → rule (GetServices materialized → rare services →
//! sets per instance → keyed left joins) → output.

pub mod args;
pub mod catalog;
pub mod detect;
pub mod error;
pub mod functions;
pub mod generate;
pub mod ingest;
pub mod lake;
pub mod output;
pub mod progress;
pub mod rule;
pub mod sample;
pub mod scan_order;
pub mod session;
pub mod shell;
pub mod time;
pub mod window_pruning;

pub use error::{HuntError, Result};
