//! Parquet scans read each file's page index with its footer.
//!
//! The Parquet reader uses a file's offset index to fetch only the pages that hold rows the
//! pushed-down filters kept. When the row-group statistics say no row group can be pruned,
//! DataFusion skips loading the page index, and every column after the first filter is then
//! fetched whole: on the generated M lake the three event scans read 1.0 GiB against 347 MiB
//! with the offset index. Asking for the page index with the footer (one read, then cached for
//! the session's later scans) keeps the page-level reads, in one process (a physical optimizer
//! rule) and on a cluster worker, which decodes each plan with a fresh reader factory.

use std::ops::Range;
use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::ParquetFileReaderFactory;
use datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions;
use datafusion::parquet::arrow::async_reader::AsyncFileReader;
use datafusion::parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::FutureExt;
use futures::future::BoxFuture;

/// The physical optimizer rule: every Parquet scan's footer is read with its page index.
#[derive(Debug, Default)]
pub struct PageIndexWithFooter;

impl PhysicalOptimizerRule for PageIndexWithFooter {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        read_page_index_with_footer(plan)
    }

    fn name(&self) -> &str {
        "huntlake_page_index_with_footer"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Gives every Parquet scan in `plan` a reader that loads the page index with the footer.
/// (A scan's reader factory reads through the session's metadata cache; the readers it makes
/// are wrapped.)
pub(crate) fn read_page_index_with_footer(
    plan: Arc<dyn ExecutionPlan>,
) -> Result<Arc<dyn ExecutionPlan>> {
    crate::plan::rewrite::rewrite_parquet_sources(plan, |parquet| {
        let inner = Arc::clone(parquet.parquet_file_reader_factory()?);
        Some(
            parquet
                .clone()
                .with_parquet_file_reader_factory(Arc::new(WithPageIndex { inner })),
        )
    })
}

/// A reader factory whose readers ask for the page index whenever they read a footer.
#[derive(Debug)]
struct WithPageIndex {
    inner: Arc<dyn ParquetFileReaderFactory>,
}

impl ParquetFileReaderFactory for WithPageIndex {
    fn create_reader(
        &self,
        partition_index: usize,
        partitioned_file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> Result<Box<dyn AsyncFileReader + Send>> {
        let inner = self.inner.create_reader(
            partition_index,
            partitioned_file,
            metadata_size_hint,
            metrics,
        )?;
        Ok(Box::new(PageIndexReader { inner }))
    }
}

struct PageIndexReader {
    inner: Box<dyn AsyncFileReader + Send>,
}

impl AsyncFileReader for PageIndexReader {
    fn get_bytes(
        &mut self,
        range: Range<u64>,
    ) -> BoxFuture<'_, datafusion::parquet::errors::Result<bytes::Bytes>> {
        self.inner.get_bytes(range)
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, datafusion::parquet::errors::Result<Vec<bytes::Bytes>>> {
        self.inner.get_byte_ranges(ranges)
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, datafusion::parquet::errors::Result<Arc<ParquetMetaData>>> {
        // Optional: a file written without a page index is read as before.
        let options = options
            .cloned()
            .unwrap_or_default()
            .with_page_index_policy(PageIndexPolicy::Optional);
        async move { self.inner.get_metadata(Some(&options)).await }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::datasource::physical_plan::parquet::DefaultParquetFileReaderFactory;
    use datafusion::parquet::arrow::ArrowWriter;
    use object_store::local::LocalFileSystem;

    /// A reader asked for the footer alone (as DataFusion asks when statistics prune nothing)
    /// still gives the offset index, which lets it fetch only the pages the filters keep.
    #[tokio::test]
    async fn the_footer_comes_with_the_page_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let batch = RecordBatch::try_from_iter([(
            "x",
            Arc::new(Int64Array::from_iter_values(0..10_000)) as _,
        )])
        .unwrap();
        let mut writer =
            ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), None)
                .unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        let file = PartitionedFile::new(path.to_str().unwrap().trim_start_matches('/'), size);
        let inner: Arc<dyn ParquetFileReaderFactory> = Arc::new(
            DefaultParquetFileReaderFactory::new(Arc::new(LocalFileSystem::new())),
        );
        let metrics = ExecutionPlanMetricsSet::new();
        let plain = inner
            .create_reader(0, file.clone(), None, &metrics)
            .unwrap()
            .get_metadata(None)
            .await
            .unwrap();
        assert!(plain.offset_index().is_none(), "the file's footer alone");
        let wrapped = WithPageIndex { inner }
            .create_reader(0, file, None, &metrics)
            .unwrap()
            .get_metadata(None)
            .await
            .unwrap();
        let offsets = wrapped.offset_index().expect("the offset index is read");
        assert_eq!(offsets.len(), 1);
        assert!(!offsets[0][0].page_locations().is_empty());
    }
}
