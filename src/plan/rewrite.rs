//! Rebuilding Parquet scans with a new source: the rewrite the Parquet-scan rules share (a new
//! pushed-down predicate, a reader factory that reads the page index with the footer, or a
//! predicate per file).

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::datasource::physical_plan::{
    FileScanConfig, FileScanConfigBuilder, FileSource, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_expr::{PhysicalExpr, split_conjunction};
use datafusion::physical_plan::ExecutionPlan;

/// Rebuilds every Parquet scan in `plan` for which `rewrite` returns a new source, given the
/// scan's source and its pushed-down predicate split into conjuncts.
pub(crate) fn rewrite_parquet_predicates(
    plan: Arc<dyn ExecutionPlan>,
    rewrite: impl Fn(&ParquetSource, Vec<Arc<dyn PhysicalExpr>>) -> Option<ParquetSource>,
) -> Result<Arc<dyn ExecutionPlan>> {
    rewrite_parquet_sources(plan, |parquet| {
        let predicate = parquet.filter()?;
        let conjuncts = split_conjunction(&predicate)
            .into_iter()
            .map(Arc::clone)
            .collect();
        rewrite(parquet, conjuncts)
    })
}

/// Rebuilds every Parquet scan in `plan` for which `rewrite` returns a new source.
pub(crate) fn rewrite_parquet_sources(
    plan: Arc<dyn ExecutionPlan>,
    rewrite: impl Fn(&ParquetSource) -> Option<ParquetSource>,
) -> Result<Arc<dyn ExecutionPlan>> {
    rewrite_parquet_scans(plan, |parquet, config| {
        let source = rewrite(parquet)?;
        let config = FileScanConfigBuilder::from(config.clone())
            .with_source(Arc::new(source))
            .build();
        Some(config)
    })
}

/// Rebuilds every Parquet scan in `plan` for which `rewrite`, given the scan's source and its
/// configuration (its files), returns a new configuration.
pub(crate) fn rewrite_parquet_scans(
    plan: Arc<dyn ExecutionPlan>,
    rewrite: impl Fn(&ParquetSource, &FileScanConfig) -> Option<FileScanConfig>,
) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let rewritten = (|| {
            let exec = node.downcast_ref::<DataSourceExec>()?;
            let config = exec.data_source().downcast_ref::<FileScanConfig>()?;
            let parquet = config.file_source().downcast_ref::<ParquetSource>()?;
            let config = rewrite(parquet, config)?;
            Some(DataSourceExec::from_data_source(config))
        })();
        Ok(match rewritten {
            Some(scan) => Transformed::yes(scan as Arc<dyn ExecutionPlan>),
            None => Transformed::no(node),
        })
    })
    .data()
}
