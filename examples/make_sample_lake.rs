//! Regenerates the embedded sample lake:
//!
//! ```text
//! cargo run --example make_sample_lake -- data/sample-lake
//! ```
//!
//! The four table folders are deleted first, so nothing stale stays in the lake.

use std::path::PathBuf;
use std::process::ExitCode;

use huntlake::lake::DefenderTable;
use huntlake::sample::write_sample_lake;

fn main() -> ExitCode {
    let Some(root) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: make_sample_lake LAKE_FOLDER   (e.g. data/sample-lake)");
        return ExitCode::from(2);
    };
    for table in DefenderTable::ALL {
        let dir = root.join(table.name());
        if dir.exists()
            && let Err(e) = std::fs::remove_dir_all(&dir)
        {
            eprintln!("make_sample_lake: cannot delete {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    }
    match write_sample_lake(&root) {
        Ok(summary) => {
            let rows: Vec<String> = summary
                .rows
                .iter()
                .map(|(table, n)| format!("{table} {n} rows"))
                .collect();
            eprintln!(
                "make_sample_lake: wrote {} Parquet files ({} bytes) to {}: {}",
                summary.files.len(),
                summary.bytes,
                root.display(),
                rows.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("make_sample_lake: {e}");
            ExitCode::FAILURE
        }
    }
}
