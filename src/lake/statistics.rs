//! File statistics for the raw tables' scans, from the footers huntlake read when it opened the
//! lake. Without it, every scan of a table reads each file's footer again and converts its
//! statistics (a run scans DeviceProcessEvents twice); on a lake of many small files that was
//! a seventh of the detection's time. The same footers go into the session's file-metadata
//! cache, so the scans do not read them again.
//!
//! The statistics are each file's row count and its columns' sizes in memory (as DataFusion
//! computes them), without per-column minimum, maximum or null count. Those cost a conversion
//! of every column of every footer (about 0.2 ms per file, a fifth of the run on a lake of 1,440
//! small files) and won nothing here: every query reads the tables through the
//! Kusto view, whose wrapped columns carry no statistics upwards; the Parquet scan prunes row
//! groups from the footer itself, so a file-level pruning pass only repeats it; and join
//! planning needs the sizes, which stay.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, Statistics, TableReference};
use datafusion::datasource::physical_plan::parquet::metadata::{
    CachedParquetMetaData, ordering_from_parquet_metadata,
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
        // An ordering that cannot be read is left to DataFusion, which reports why.
        let ordering = ordering_from_parquet_metadata(footer, &self.schema).ok()?;
        Some(CachedFileMetadata::new(
            meta.clone(),
            Arc::clone(&self.fingerprint),
            Arc::new(sizes_only(footer, &self.schema)),
            ordering,
        ))
    }
}

/// A file's statistics without per-column values: its exact row count, and each column's size
/// in memory, exact for fixed-width types and otherwise estimated from the column's
/// uncompressed Parquet size, as DataFusion estimates it.
fn sizes_only(footer: &ParquetMetaData, schema: &Schema) -> Statistics {
    let groups = footer.row_groups();
    let rows: usize = groups
        .iter()
        .map(|g| usize::try_from(g.num_rows()).unwrap_or(0))
        .sum();
    // Top-level leaf columns by name; a nested column's size is left unknown.
    let leaves: HashMap<&str, usize> = footer
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match c.path().parts() {
            [name] => Some((name.as_str(), i)),
            _ => None,
        })
        .collect();
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let size = match field.data_type().primitive_width() {
                Some(width) => Precision::Exact(width * rows),
                None => match leaves.get(field.name().as_str()) {
                    Some(&leaf) => Precision::Inexact(
                        groups
                            .iter()
                            .filter_map(|g| g.columns().get(leaf))
                            .map(|c| usize::try_from(c.uncompressed_size()).unwrap_or(0))
                            .sum(),
                    ),
                    None => Precision::Absent,
                },
            };
            ColumnStatistics::new_unknown().with_byte_size(size)
        })
        .collect();
    Statistics {
        num_rows: Precision::Exact(rows),
        total_byte_size: Precision::Absent,
        column_statistics: columns,
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
    use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
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
    /// was opened: the row count and column sizes DataFusion computes from the file, no
    /// per-column values.
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
        let full =
            DFParquetMetadata::statistics_from_parquet_metadata(&file.metadata, &schema).unwrap();
        assert_eq!(cached.statistics.num_rows, full.num_rows);
        assert_eq!(
            cached.statistics.column_statistics.len(),
            schema.fields().len()
        );
        for ((field, ours), theirs) in schema
            .fields()
            .iter()
            .zip(&cached.statistics.column_statistics)
            .zip(&full.column_statistics)
        {
            assert_eq!(ours.byte_size, theirs.byte_size, "{}", field.name());
            assert_ne!(ours.byte_size, Precision::Absent, "{}", field.name());
            assert_eq!(ours.min_value, Precision::Absent, "{}", field.name());
            assert_eq!(ours.max_value, Precision::Absent, "{}", field.name());
            assert_eq!(ours.null_count, Precision::Absent, "{}", field.name());
        }
        // The full statistics had values to leave out: some column has a maximum.
        assert!(
            full.column_statistics
                .iter()
                .any(|c| c.max_value != Precision::Absent)
        );
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
