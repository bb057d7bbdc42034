//! Where a distributed run keeps its materialized steps (GetServices, RareServices): Parquet
//! files in a folder every worker can read, never one process's memory. By default a run's own
//! folder below the lake (`<lake>/_huntlake/scratch/<run>/`, in the lake's own store, which the
//! workers read anyway), or `--scratch URL`; removed when the run ends, also when it fails.
//! Each step's rows are written there by the workers that make them (a file per partition in
//! `<scratch>/<step>/`, see [`crate::plan::cluster::scratch_sink`]), so the folder must be
//! writable from every worker.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig};
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;

use crate::error::{HuntError, QueryContext, Result};
use crate::lake::LakeLocation;
use crate::plan::cluster::scratch_sink::ScratchFolder;

/// After a failed run, how long the scratch folder must stay gone before no late write is
/// expected (a worker's task ends within milliseconds of hearing of the failure).
const LATE_WRITES_SETTLE: Duration = Duration::from_millis(300);
/// How many times, at most, the folder is swept again after a failed run.
const SWEEPS_AFTER_FAILURE: usize = 10;

/// A run's scratch folder.
#[derive(Debug)]
pub struct Scratch {
    location: LakeLocation,
    /// The default layout below a local lake: `_huntlake/scratch/` goes too once empty.
    below_lake: bool,
}

impl Scratch {
    /// The folder for run `run`: `explicit` (a path or URL) with the run below it, else below
    /// the lake. The sample lake built into the binary lives in this process's memory: its
    /// scratch is the system's temporary folder (which workers on this machine can read).
    pub fn new(explicit: Option<&str>, lake: &LakeLocation, run: &str) -> Result<Scratch> {
        let folder = format!("_huntlake/scratch/{run}");
        let root = match explicit {
            Some(base) => format!("{}/{run}", base.trim_end_matches('/')),
            None => match &lake.local_root {
                Some(root) => root.join(&folder).display().to_string(),
                None if lake.store_url().scheme() == "memory" => std::env::temp_dir()
                    .join(format!("huntlake-scratch-{run}"))
                    .display()
                    .to_string(),
                None => format!(
                    "{}{}",
                    lake.store_url(),
                    lake.prefix.clone().join(folder.as_str())
                ),
            },
        };
        if !root.contains("://") || root.starts_with("file://") {
            let path = root.strip_prefix("file://").unwrap_or(&root);
            std::fs::create_dir_all(path).map_err(|source| HuntError::Io {
                context: format!("creating the scratch folder {path}"),
                source,
            })?;
        }
        Ok(Scratch {
            location: LakeLocation::parse(&root)?,
            below_lake: explicit.is_none() && lake.local_root.is_some(),
        })
    }

    /// Makes the scratch's store reachable from `ctx`'s queries.
    pub fn register(&self, ctx: &SessionContext) {
        self.location.register(ctx);
    }

    /// Where step `name`'s files go: `<scratch>/<name>/`, one file per partition, written by
    /// the processes that make its rows.
    pub fn target(&self, name: &str) -> ScratchFolder {
        ScratchFolder {
            store: self.location.store_url().to_string(),
            folder: self.location.prefix.clone().join(name).to_string(),
        }
    }

    /// Step `name`'s files, once written, as a table of `schema`.
    pub fn table(&self, name: &str, schema: &SchemaRef) -> Result<Arc<dyn TableProvider>> {
        let what = format!(
            "reading {name} from the scratch folder {}",
            self.location.display
        );
        let folder = self.location.prefix.clone().join(name);
        let url = self.location.table_url(&folder, true)?;
        let listing =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new(url)
            .with_listing_options(listing)
            .with_schema(Arc::clone(schema));
        let table = ListingTable::try_new(config).context(what)?;
        Ok(Arc::new(table))
    }

    /// Deletes the scratch folder (huntlake's own: the run's folder holds only what the run
    /// wrote). After a failed run, a worker that has not yet heard of the failure may still
    /// finish a file it was writing: the folder is swept again until it stays gone for a
    /// moment (at most a few seconds).
    pub async fn remove(&self, run_failed: bool) -> Result<()> {
        self.sweep().await?;
        if run_failed {
            for _ in 0..SWEEPS_AFTER_FAILURE {
                tokio::time::sleep(LATE_WRITES_SETTLE).await;
                if self.is_gone().await? {
                    break;
                }
                self.sweep().await?;
            }
        }
        Ok(())
    }

    /// One pass of [`Scratch::remove`].
    async fn sweep(&self) -> Result<()> {
        if let Some(root) = &self.location.local_root {
            // On a file system the folder goes whole, with what a listing would not show: a
            // file a worker was writing when it was killed stays under its staging name
            // (`part-….parquet#1`). The run's folder was made by this run under a name of its
            // own, so all in it is the run's.
            match std::fs::remove_dir_all(root) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(HuntError::Io {
                        context: format!("removing the scratch folder {}", root.display()),
                        source,
                    });
                }
            }
            // Below a lake, `_huntlake/scratch/` and `_huntlake/` go too when nothing else is
            // left in them (never a folder the user named).
            if self.below_lake {
                for parent in root.ancestors().skip(1).take(2) {
                    let _ = std::fs::remove_dir(parent);
                }
            }
            return Ok(());
        }
        let store = &self.location.store;
        let files: Vec<Path> = store
            .list(Some(&self.location.prefix))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(|e| self.removal_failed(e))?;
        for file in files {
            match store.delete(&file).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.removal_failed(e)),
            }
        }
        Ok(())
    }

    /// Whether nothing of the scratch folder is left.
    async fn is_gone(&self) -> Result<bool> {
        if let Some(root) = &self.location.local_root {
            return Ok(!root.exists());
        }
        let mut listing = self.location.store.list(Some(&self.location.prefix));
        match listing.try_next().await {
            Ok(first) => Ok(first.is_none()),
            Err(e) => Err(self.removal_failed(e)),
        }
    }

    fn removal_failed(&self, e: object_store::Error) -> HuntError {
        HuntError::Lake {
            root: self.location.display.clone(),
            message: format!("removing the scratch folder: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lake_in(dir: &std::path::Path) -> LakeLocation {
        LakeLocation::parse(&dir.display().to_string()).unwrap()
    }

    #[tokio::test]
    async fn a_killed_workers_half_written_file_goes_with_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = Scratch::new(None, &lake_in(dir.path()), "run1").unwrap();
        let step = dir.path().join("_huntlake/scratch/run1/GetServices");
        std::fs::create_dir_all(&step).unwrap();
        std::fs::write(step.join("part-a.parquet"), b"rows").unwrap();
        // The name object_store gives a file while it is written: listings skip it.
        std::fs::write(step.join("part-b.parquet#1"), b"half").unwrap();
        scratch.remove(false).await.unwrap();
        assert!(!dir.path().join("_huntlake").exists());
    }

    #[tokio::test]
    async fn what_else_is_below_the_lakes_huntlake_folder_stays() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("_huntlake/ingest-staging/file");
        std::fs::create_dir_all(other.parent().unwrap()).unwrap();
        std::fs::write(&other, b"kept").unwrap();
        let scratch = Scratch::new(None, &lake_in(dir.path()), "run2").unwrap();
        scratch.remove(false).await.unwrap();
        assert!(!dir.path().join("_huntlake/scratch").exists());
        assert_eq!(std::fs::read(&other).unwrap(), b"kept");
    }

    #[tokio::test]
    async fn after_a_failure_a_late_write_is_swept_too() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = Scratch::new(None, &lake_in(dir.path()), "run3").unwrap();
        let step = dir.path().join("_huntlake/scratch/run3/RareServices");
        // A worker that finishes its file just after the run failed and was swept.
        let late = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            std::fs::create_dir_all(&step).unwrap();
            std::fs::write(step.join("part-c.parquet"), b"late").unwrap();
        });
        scratch.remove(true).await.unwrap();
        late.await.unwrap();
        assert!(!dir.path().join("_huntlake").exists());
    }
}
