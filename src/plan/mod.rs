//! How huntlake plans and runs a query: the DataFusion session (functions, memory pool, spill
//! folder, case-insensitive table names), the physical optimizer rules that make Parquet scans
//! of the Kusto views fast, the scans' progress read from a running plan, and running the plan
//! across a cluster of workers.

pub(crate) mod catalog;
pub mod cluster;
pub(crate) mod page_index;
pub(crate) mod progress;
pub(crate) mod proven_bounds;
mod rewrite;
pub(crate) mod scan_order;
pub(crate) mod session;
pub(crate) mod window_pruning;

pub use progress::ScanProgress;
pub use session::{SessionOptions, new_session};
