//! File statistics for the raw tables' scans, from the footers huntlake read when it opened the
//! lake. Without it, every scan of a table reads each file's footer again and converts its
//! statistics (a run scans DeviceProcessEvents twice); on a lake of many small files that was
//! a seventh of the detection's time. The statistics are DataFusion's own, computed the same
//! way from the same footer, once per file and only for the files a query scans.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::TableReference;
use datafusion::datasource::physical_plan::parquet::metadata::{
    DFParquetMetadata, ordering_from_parquet_metadata,
};
use datafusion::execution::cache::cache_manager::CachedFileMetadata;
use datafusion::execution::cache::{Cache, CacheEntryInfo, SchemaFingerprint, TableScopedPath};
use object_store::path::Path;
use parquet::file::metadata::ParquetMetaData;

use super::files::DataFile;

/// A statistics cache for one raw table (`ListingTable::with_cache`) that answers from the
/// table's footers. A file it does not know, or whose size or time changed since the lake was
/// opened, misses, and DataFusion reads its footer as usual.
pub(super) struct FooterStatistics {
    name: String,
    schema: SchemaRef,
    fingerprint: Arc<SchemaFingerprint>,
    footers: HashMap<Path, (object_store::ObjectMeta, Arc<ParquetMetaData>)>,
    computed: Mutex<HashMap<Path, CachedFileMetadata>>,
    /// Entries DataFusion computed itself (its reads of footers this cache did not answer).
    misses: AtomicUsize,
}

impl FooterStatistics {
    /// `schema`: the raw table's schema, the one its `ListingTable` scans with.
    pub(super) fn new(table: &str, schema: SchemaRef, files: &[DataFile]) -> Self {
        Self {
            name: format!("huntlake footer statistics of {table}"),
            fingerprint: Arc::new(SchemaFingerprint::from_schema(&schema)),
            schema,
            footers: files
                .iter()
                .map(|f| {
                    (
                        f.meta.location.clone(),
                        (f.meta.clone(), Arc::clone(&f.metadata)),
                    )
                })
                .collect(),
            computed: Mutex::new(HashMap::new()),
            misses: AtomicUsize::new(0),
        }
    }

    fn computed(&self) -> std::sync::MutexGuard<'_, HashMap<Path, CachedFileMetadata>> {
        // A panic while holding the lock leaves the map as it was: still usable.
        self.computed.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn convert_footer(&self, path: &Path) -> Option<CachedFileMetadata> {
        let (meta, footer) = self.footers.get(path)?;
        // Statistics that cannot be converted are left to DataFusion, which reports why.
        let statistics =
            DFParquetMetadata::statistics_from_parquet_metadata(footer, &self.schema).ok()?;
        let ordering = ordering_from_parquet_metadata(footer, &self.schema).ok()?;
        Some(CachedFileMetadata::new(
            meta.clone(),
            Arc::clone(&self.fingerprint),
            Arc::new(statistics),
            ordering,
        ))
    }
}

impl Cache<TableScopedPath, CachedFileMetadata> for FooterStatistics {
    fn get(&self, key: &TableScopedPath) -> Option<CachedFileMetadata> {
        if let Some(hit) = self.computed().get(&key.path) {
            return Some(hit.clone());
        }
        let entry = self.convert_footer(&key.path)?;
        self.computed().insert(key.path.clone(), entry.clone());
        Some(entry)
    }

    fn put(&self, key: &TableScopedPath, value: CachedFileMetadata) -> Option<CachedFileMetadata> {
        self.misses.fetch_add(1, Ordering::Relaxed);
        self.computed().insert(key.path.clone(), value)
    }

    fn remove(&self, key: &TableScopedPath) -> Option<CachedFileMetadata> {
        self.computed().remove(&key.path)
    }

    fn contains_key(&self, key: &TableScopedPath) -> bool {
        self.footers.contains_key(&key.path) || self.computed().contains_key(&key.path)
    }

    fn len(&self) -> usize {
        self.computed().len()
    }

    fn clear(&self) {
        self.computed().clear();
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    // Bounded by the lake's files, which the footers already hold in memory.
    fn cache_limit(&self) -> usize {
        usize::MAX
    }

    fn update_cache_limit(&self, _limit: usize) {}

    fn cache_ttl(&self) -> Option<Duration> {
        None
    }

    fn update_cache_ttl(&self, _ttl: Option<Duration>) {}

    fn drop_table_entries(&self, _table: &TableReference) -> datafusion::common::Result<()> {
        self.clear();
        Ok(())
    }

    fn list_entries(
        &self,
    ) -> datafusion::common::HashMap<TableScopedPath, CacheEntryInfo<CachedFileMetadata>> {
        self.computed()
            .iter()
            .map(|(path, value)| {
                (
                    TableScopedPath {
                        table: None,
                        path: path.clone(),
                    },
                    CacheEntryInfo {
                        value: value.clone(),
                        size_bytes: 0,
                        hits: 0,
                        expires: None,
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;
    use crate::lake::{Lake, LakeOptions, LakeSource, view};

    /// A scan of a raw table takes every file's statistics from the footers read when the lake
    /// was opened, and they are the statistics DataFusion computes from the file.
    #[tokio::test]
    async fn scans_take_the_statistics_from_the_footers() {
        let lake = Lake::open(&LakeSource::EmbeddedSample, &LakeOptions::default())
            .await
            .expect("the sample lake opens");
        let t = &lake.tables[0];
        let schema = t.table.arrow_schema();
        let statistics = Arc::new(FooterStatistics::new(
            t.table.name(),
            Arc::clone(&schema),
            &t.files,
        ));
        let ctx = SessionContext::new();
        lake.location.register(&ctx);
        let table = view::raw_table_with(&ctx, &lake.location, t, Arc::clone(&statistics))
            .expect("the raw table");
        ctx.register_table("raw_table", table).unwrap();
        let counted = ctx
            .sql("SELECT count(*) FROM raw_table WHERE \"DeviceName\" IS NOT NULL")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(counted[0].num_rows(), 1);
        assert_eq!(statistics.misses.load(Ordering::Relaxed), 0);
        assert_eq!(statistics.len(), t.files.len());

        let file = &t.files[0];
        let key = TableScopedPath {
            table: None,
            path: file.meta.location.clone(),
        };
        let cached = statistics.get(&key).expect("a file of the table");
        let expected =
            DFParquetMetadata::statistics_from_parquet_metadata(&file.metadata, &schema).unwrap();
        assert_eq!(*cached.statistics, expected);
        assert_eq!(
            cached.statistics.num_rows.get_value().copied(),
            Some(file.rows as usize)
        );
        let elsewhere = TableScopedPath {
            table: None,
            path: Path::from("elsewhere/part-0.parquet"),
        };
        assert!(statistics.get(&elsewhere).is_none());
    }
}
