//! Where a distributed run keeps its materialized steps (GetServices, RareServices): Parquet
//! files in a folder every worker can read, never one process's memory. By default a run's own
//! folder below the lake (`<lake>/_huntlake/scratch/<run>/`, in the lake's own store, which the
//! workers read anyway), or `--scratch URL`; removed when the run ends, also when it fails.
//! Each step's rows are written there by the workers that make them (a file per partition in
//! `<scratch>/<step>/`, see [`crate::plan::cluster::scratch_sink`]), so the folder must be
//! writable from every worker.

use std::sync::Arc;

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

    /// Deletes everything in the scratch folder (huntlake's own: the run's folder holds only
    /// what the run wrote).
    pub async fn remove(&self) -> Result<()> {
        let store = &self.location.store;
        let what = |e: object_store::Error| HuntError::Lake {
            root: self.location.display.clone(),
            message: format!("removing the scratch folder: {e}"),
        };
        let files: Vec<Path> = store
            .list(Some(&self.location.prefix))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(what)?;
        for file in files {
            store.delete(&file).await.map_err(what)?;
        }
        if let Some(root) = &self.location.local_root {
            // The steps' folders (empty now), the run's folder, and below a lake `_huntlake/scratch/` and `_huntlake/` when
            // nothing else is left in them (never a folder the user named).
            if let Ok(steps) = std::fs::read_dir(root) {
                for step in steps.flatten() {
                    let _ = std::fs::remove_dir(step.path());
                }
            }
            let _ = std::fs::remove_dir(root);
            if self.below_lake {
                for parent in root.ancestors().skip(1).take(2) {
                    let _ = std::fs::remove_dir(parent);
                }
            }
        }
        Ok(())
    }
}
