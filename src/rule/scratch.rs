//! Where a distributed run keeps its materialized steps (GetServices, RareServices): Parquet
//! files in a folder every worker can read, never one process's memory. By default a run's own
//! folder below the lake (`<lake>/_huntlake/scratch/<run>/`, in the lake's own store, which the
//! workers read anyway), or `--scratch URL`; removed when the run ends, also when it fails.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use object_store::path::Path;

use crate::error::{HuntError, QueryContext, Result};
use crate::lake::LakeLocation;

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

    /// Writes `stream` as `<name>.parquet` and gives it back as a table of `schema`, with its
    /// row count.
    pub async fn write(
        &self,
        name: &str,
        mut stream: SendableRecordBatchStream,
        schema: &SchemaRef,
    ) -> Result<(Arc<dyn TableProvider>, usize)> {
        let what = format!(
            "writing {name} to the scratch folder {}",
            self.location.display
        );
        let path = self.location.prefix.clone().join(format!("{name}.parquet"));
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        let output =
            object_store::buffered::BufWriter::new(Arc::clone(&self.location.store), path.clone());
        let mut writer = AsyncArrowWriter::try_new(output, Arc::clone(schema), Some(props))
            .map_err(|e| scratch_error(&what, e))?;
        let mut rows = 0;
        while let Some(batch) = stream.next().await {
            let batch = batch.context(what.clone())?;
            rows += batch.num_rows();
            writer
                .write(&batch)
                .await
                .map_err(|e| scratch_error(&what, e))?;
        }
        writer.close().await.map_err(|e| scratch_error(&what, e))?;
        let url = self.location.table_url(&path, false)?;
        let format = ParquetFormat::default();
        let listing = ListingOptions::new(Arc::new(format)).with_file_extension("");
        let config = ListingTableConfig::new(url)
            .with_listing_options(listing)
            .with_schema(Arc::clone(schema));
        let table = ListingTable::try_new(config).context(what)?;
        Ok((Arc::new(table), rows))
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
            // The run's folder, and below a lake `_huntlake/scratch/` and `_huntlake/` when
            // nothing else is left in them (never a folder the user named).
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

fn scratch_error(what: &str, e: impl std::fmt::Display) -> HuntError {
    HuntError::Lake {
        root: what.to_string(),
        message: e.to_string(),
    }
}
