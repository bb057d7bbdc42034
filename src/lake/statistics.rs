//! File statistics for the raw tables' scans, from the footers huntlake read when it opened the
//! lake. Without it, every scan of a table reads each file's footer again and converts its
//! statistics (a run scans DeviceProcessEvents twice); on a lake of many small files that was
//! a seventh of the detection's time. The statistics are DataFusion's own, computed the same
//! way from the same footer, once per file and only for the files a query scans. The same
//! footers go into the session's file-metadata cache, so the scans do not read them again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::TableReference;
use datafusion::datasource::physical_plan::parquet::metadata::{
    CachedParquetMetaData, DFParquetMetadata, ordering_from_parquet_metadata,
};
use datafusion::execution::cache::cache_manager::{CachedFileMetadata, CachedFileMetadataEntry};
use datafusion::execution::cache::{Cache, CacheEntryInfo, SchemaFingerprint, TableScopedPath};
use datafusion::prelude::SessionContext;
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

/// The most the file-metadata cache is raised to for a lake's footers and page indexes.
const METADATA_CACHE_CEILING: usize = 512 << 20;

/// Puts the footers huntlake read when it opened the lake into the session's file-metadata
/// cache, where every Parquet scan looks first: a scan then reads only each file's page index,
/// not its footer again. The cache is raised (up to [`METADATA_CACHE_CEILING`]) to hold every
/// footer with its page index: at DataFusion's default of 50 MiB, the footers of a lake of
/// many small files evicted one another between a table's two scans, and every scan read them
/// again. An entry the cache holds already for the same file is kept: it may carry the page
/// index.
pub(super) fn seed_metadata_cache(ctx: &SessionContext, files: &[&DataFile]) {
    let cache = ctx.runtime_env().cache_manager.get_file_metadata_cache();
    let footers: usize = files.iter().map(|f| f.metadata.memory_size()).sum();
    // The page index is about the size of the footer again.
    let wanted = footers.saturating_mul(2).min(METADATA_CACHE_CEILING);
    if cache.cache_limit() < wanted {
        cache.update_cache_limit(wanted);
    }
    for file in files {
        let cached = cache.get(&file.meta.location);
        if cached.is_some_and(|entry| entry.is_valid_for(&file.meta)) {
            continue;
        }
        let footer = CachedParquetMetaData::new(Arc::clone(&file.metadata));
        cache.put(
            &file.meta.location,
            CachedFileMetadataEntry::new(file.meta.clone(), Arc::new(footer)),
        );
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

    /// Registering the lake puts each file's footer, the one read when the lake was opened,
    /// in the session's file-metadata cache, raised to hold them all; the scans then read
    /// through it.
    #[tokio::test]
    async fn registering_seeds_the_metadata_cache_with_the_footers() {
        let lake = Lake::open(&LakeSource::EmbeddedSample, &LakeOptions::default())
            .await
            .expect("the sample lake opens");
        let ctx = SessionContext::new();
        crate::functions::register_all(&ctx);
        let cache = ctx.runtime_env().cache_manager.get_file_metadata_cache();
        cache.update_cache_limit(1);
        lake.register(&ctx).await.expect("the lake registers");
        let files: Vec<&DataFile> = lake.tables.iter().flat_map(|t| &t.files).collect();
        assert!(files.len() > 1);
        let footers: usize = files.iter().map(|f| f.metadata.memory_size()).sum();
        assert!(cache.cache_limit() >= 2 * footers);
        for file in &files {
            let entry = cache.get(&file.meta.location).expect("a seeded footer");
            assert!(entry.is_valid_for(&file.meta));
            let seeded = entry
                .file_metadata
                .as_any()
                .downcast_ref::<CachedParquetMetaData>()
                .expect("Parquet metadata");
            assert!(Arc::ptr_eq(seeded.parquet_metadata(), &file.metadata));
        }
        let counted = ctx
            .sql(&format!(
                // A filter, so that the rows are read rather than counted from statistics.
                "SELECT count(*) FROM raw.\"{}\" WHERE coalesce(length(\"DeviceName\"), 0) >= 0",
                lake.tables[0].table.name()
            ))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let n = counted[0]
            .column(0)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
            .unwrap()
            .value(0);
        assert_eq!(n as u64, lake.tables[0].rows());
    }

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
