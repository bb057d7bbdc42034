//! A physical optimizer rule: a Parquet scan does not test a time bound on the files whose
//! footers prove it for every row.
//!
//! The rule's window (`TimeGenerated > $since`, tested on the raw column since
//! `window_pruning.rs`) is true for every row of every file but the one or two at the
//! window's start, yet the reader decodes the time column of every file to test it: on lakes
//! without an offset index (most writers), the whole column of every row group that keeps a
//! row. A file whose row groups all have a minimum after the bound and no null proves the
//! test; this rule scans such files with the predicate less their proven bounds, and the
//! others with the whole predicate, in the same scan: its partitions, files and order are
//! unchanged, only the predicate each file is opened with differs.
//!
//! The proofs come from the footers in the session's file-metadata cache (huntlake puts every
//! footer there when it opens a lake), checked against the file's size and time; a file
//! without one is tested as before. Bounds are `column op timestamp` on a timestamp column,
//! the form `window_pruning.rs` writes and users write in `huntlake sql`.

use std::collections::HashSet;
use std::fmt::{self, Formatter};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, ScalarValue};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::metadata::CachedParquetMetaData;
use datafusion::datasource::physical_plan::{FileOpener, FileScanConfig, FileSource};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{BinaryExpr, Column, Literal};
use datafusion::physical_expr::projection::ProjectionExprs;
use datafusion::physical_expr::{PhysicalExpr, conjunction, split_conjunction};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::{DisplayFormatType, ExecutionPlan};
use datafusion_datasource::morsel::{MorselPlanner, Morselizer};
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::basic::{
    ConvertedType, LogicalType, TimeUnit as ParquetTimeUnit, Type as PhysicalType,
};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnDescriptor;

use super::rewrite::rewrite_parquet_scans;

/// The rule. It reads footers from `runtime`'s file-metadata cache.
#[derive(Debug)]
pub struct ProvenBounds {
    runtime: Arc<RuntimeEnv>,
}

impl ProvenBounds {
    pub fn new(runtime: Arc<RuntimeEnv>) -> Self {
        Self { runtime }
    }

    fn footer(&self, file: &PartitionedFile) -> Option<Arc<ParquetMetaData>> {
        let cache = self.runtime.cache_manager.get_file_metadata_cache();
        let entry = cache.get(&file.object_meta.location)?;
        if !entry.is_valid_for(&file.object_meta) {
            return None;
        }
        let footer = entry
            .file_metadata
            .as_any()
            .downcast_ref::<CachedParquetMetaData>()?;
        Some(Arc::clone(footer.parquet_metadata()))
    }
}

impl PhysicalOptimizerRule for ProvenBounds {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        rewrite_parquet_scans(plan, |parquet, config| {
            let predicate = parquet.filter()?;
            let schema = parquet.table_schema().table_schema();
            let (bounds, rest): (Vec<_>, Vec<_>) = split_conjunction(&predicate)
                .into_iter()
                .map(|c| (time_bound(c.as_ref(), schema), Arc::clone(c)))
                .partition(|(bound, _)| bound.is_some());
            if bounds.is_empty() {
                return None;
            }
            let shown = conjunction(bounds.iter().map(|(_, c)| Arc::clone(c)));
            let bounds: Vec<TimeBound> = bounds.into_iter().filter_map(|(b, _)| b).collect();
            let files: Vec<&PartitionedFile> =
                config.file_groups.iter().flat_map(|g| g.iter()).collect();
            let proven: HashSet<Path> = files
                .iter()
                .filter(|file| {
                    self.footer(file)
                        .is_some_and(|footer| bounds.iter().all(|b| b.proven_by(&footer)))
                })
                .map(|file| file.object_meta.location.clone())
                .collect();
            if proven.is_empty() {
                return None;
            }
            let rest = conjunction(rest.into_iter().map(|(_, c)| c));
            let reduced = parquet.with_predicate(rest);
            let all = files
                .iter()
                .all(|f| proven.contains(&f.object_meta.location));
            Some(if all {
                Arc::new(reduced) as Arc<dyn FileSource>
            } else {
                Arc::new(PerFilePredicate {
                    full: Arc::new(parquet.clone()),
                    reduced: Arc::new(reduced),
                    proven: Arc::new(proven),
                    bounds: shown,
                    files: files.len(),
                })
            })
        })
    }

    fn name(&self) -> &str {
        "proven_bounds"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `column op bound` on a timestamp column, `op` one of `>`, `>=`, `<`, `<=`; the bound in ns.
#[derive(Debug, Clone)]
struct TimeBound {
    column: String,
    op: Operator,
    bound_nanos: i128,
}

fn time_bound(expr: &dyn PhysicalExpr, schema: &Schema) -> Option<TimeBound> {
    let binary = expr.downcast_ref::<BinaryExpr>()?;
    let (column, literal, op) = if binary.left().downcast_ref::<Column>().is_some() {
        (binary.left(), binary.right(), *binary.op())
    } else {
        (binary.right(), binary.left(), binary.op().swap()?)
    };
    if !matches!(
        op,
        Operator::Gt | Operator::GtEq | Operator::Lt | Operator::LtEq
    ) {
        return None;
    }
    let column = column.downcast_ref::<Column>()?;
    if !matches!(
        schema.fields().get(column.index())?.data_type(),
        DataType::Timestamp(_, _)
    ) {
        return None;
    }
    let bound_nanos = match literal.downcast_ref::<Literal>()?.value() {
        ScalarValue::TimestampNanosecond(Some(v), _) => *v as i128,
        ScalarValue::TimestampMicrosecond(Some(v), _) => *v as i128 * 1_000,
        ScalarValue::TimestampMillisecond(Some(v), _) => *v as i128 * 1_000_000,
        ScalarValue::TimestampSecond(Some(v), _) => *v as i128 * 1_000_000_000,
        _ => return None,
    };
    Some(TimeBound {
        column: column.name().to_string(),
        op,
        bound_nanos,
    })
}

impl TimeBound {
    /// True if every row group of the file has the column as a top-level INT64 timestamp with
    /// statistics, no null, and its minimum (for `>`, `>=`) or maximum (for `<`, `<=`) within
    /// the bound: then every row of the file passes the test.
    fn proven_by(&self, footer: &ParquetMetaData) -> bool {
        let schema = footer.file_metadata().schema_descr();
        let Some(index) = (0..schema.num_columns()).find(|&i| {
            let column = schema.column(i);
            column.path().parts().len() == 1 && column.name() == self.column
        }) else {
            return false;
        };
        let Some(nanos_per_unit) = nanos_per_unit(&schema.column(index)) else {
            return false;
        };
        footer.row_groups().iter().all(|row_group| {
            let Some(Statistics::Int64(stats)) = row_group.column(index).statistics() else {
                return false;
            };
            if stats.null_count_opt() != Some(0) {
                return false;
            }
            let (Some(min), Some(max)) = (stats.min_opt(), stats.max_opt()) else {
                return false;
            };
            let (min, max) = (*min as i128 * nanos_per_unit, *max as i128 * nanos_per_unit);
            match self.op {
                Operator::Gt => min > self.bound_nanos,
                Operator::GtEq => min >= self.bound_nanos,
                Operator::Lt => max < self.bound_nanos,
                Operator::LtEq => max <= self.bound_nanos,
                _ => false,
            }
        })
    }
}

/// Nanoseconds per unit of an INT64 timestamp column (by its logical type, or the converted
/// type older writers give); `None` for anything else, INT96 included.
fn nanos_per_unit(column: &ColumnDescriptor) -> Option<i128> {
    if column.physical_type() != PhysicalType::INT64 {
        return None;
    }
    match column.logical_type_ref() {
        Some(LogicalType::Timestamp(timestamp)) => Some(match timestamp.unit {
            ParquetTimeUnit::MILLIS => 1_000_000,
            ParquetTimeUnit::MICROS => 1_000,
            ParquetTimeUnit::NANOS => 1,
        }),
        Some(_) => None,
        None => match column.converted_type() {
            ConvertedType::TIMESTAMP_MILLIS => Some(1_000_000),
            ConvertedType::TIMESTAMP_MICROS => Some(1_000),
            _ => None,
        },
    }
}

/// A Parquet scan that opens the files in `proven` with `reduced` (the predicate less the
/// bounds their footers prove) and the others with `full`. Everything else is `full`'s.
struct PerFilePredicate {
    full: Arc<dyn FileSource>,
    reduced: Arc<dyn FileSource>,
    proven: Arc<HashSet<Path>>,
    /// The bounds `reduced` leaves out, and the scan's number of files, for display.
    bounds: Arc<dyn PhysicalExpr>,
    files: usize,
}

impl fmt::Debug for PerFilePredicate {
    fn fmt(&self, f: &mut Formatter) -> fmt::Result {
        f.debug_struct("PerFilePredicate")
            .field("full", &self.full.filter())
            .field("reduced", &self.reduced.filter())
            .field("proven", &self.proven.len())
            .finish()
    }
}

impl FileSource for PerFilePredicate {
    fn create_file_opener(
        &self,
        object_store: Arc<dyn ObjectStore>,
        base_config: &FileScanConfig,
        partition: usize,
    ) -> Result<Arc<dyn FileOpener>> {
        self.full
            .create_file_opener(object_store, base_config, partition)
    }

    fn create_morselizer(
        &self,
        object_store: Arc<dyn ObjectStore>,
        base_config: &FileScanConfig,
        partition: usize,
    ) -> Result<Box<dyn Morselizer>> {
        Ok(Box::new(PerFileMorselizer {
            full: self
                .full
                .create_morselizer(Arc::clone(&object_store), base_config, partition)?,
            reduced: self
                .reduced
                .create_morselizer(object_store, base_config, partition)?,
            proven: Arc::clone(&self.proven),
        }))
    }

    fn table_schema(&self) -> &TableSchema {
        self.full.table_schema()
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        Arc::new(Self {
            full: self.full.with_batch_size(batch_size),
            reduced: self.reduced.with_batch_size(batch_size),
            proven: Arc::clone(&self.proven),
            bounds: Arc::clone(&self.bounds),
            files: self.files,
        })
    }

    fn filter(&self) -> Option<Arc<dyn PhysicalExpr>> {
        self.full.filter()
    }

    fn projection(&self) -> Option<&ProjectionExprs> {
        self.full.projection()
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        self.full.metrics()
    }

    fn file_type(&self) -> &str {
        self.full.file_type()
    }

    fn fmt_extra(&self, t: DisplayFormatType, f: &mut Formatter) -> fmt::Result {
        self.full.fmt_extra(t, f)?;
        write!(
            f,
            ", not tested in {} of {} files (their footers prove it): {}",
            self.proven.len(),
            self.files,
            self.bounds
        )
    }

    fn supports_repartitioning(&self) -> bool {
        self.full.supports_repartitioning()
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.full.apply_expressions(f)
    }
}

#[derive(Debug)]
struct PerFileMorselizer {
    full: Box<dyn Morselizer>,
    reduced: Box<dyn Morselizer>,
    proven: Arc<HashSet<Path>>,
}

impl Morselizer for PerFileMorselizer {
    fn plan_file(&self, file: PartitionedFile) -> Result<Box<dyn MorselPlanner>> {
        if self.proven.contains(&file.object_meta.location) {
            self.reduced.plan_file(file)
        } else {
            self.full.plan_file(file)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{RecordBatch, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::{Field, TimeUnit};
    use parquet::arrow::ArrowWriter;
    use parquet::file::metadata::ParquetMetaDataReader;
    use parquet::file::properties::WriterProperties;

    /// A footer of one microsecond column `t`, one row group per slice of `groups`.
    fn footer(groups: &[&[Option<i64>]]) -> ParquetMetaData {
        let field = Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), true);
        let schema = Arc::new(Schema::new(vec![field]));
        let mut buffer = Vec::new();
        let properties = WriterProperties::builder().build();
        let mut writer =
            ArrowWriter::try_new(&mut buffer, Arc::clone(&schema), Some(properties)).unwrap();
        for group in groups {
            let column = TimestampMicrosecondArray::from(group.to_vec());
            let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(column)]).unwrap();
            writer.write(&batch).unwrap();
            writer.flush().unwrap();
        }
        writer.close().unwrap();
        ParquetMetaDataReader::new()
            .parse_and_finish(&bytes::Bytes::from(buffer))
            .unwrap()
    }

    fn bound(op: Operator, nanos: i128) -> TimeBound {
        TimeBound {
            column: "t".into(),
            op,
            bound_nanos: nanos,
        }
    }

    #[test]
    fn a_footer_proves_a_bound_only_for_every_row_of_every_row_group() {
        let after = footer(&[&[Some(2), Some(3)], &[Some(5)]]);
        assert_eq!(after.num_row_groups(), 2);
        // Microseconds against a bound in nanoseconds.
        assert!(bound(Operator::Gt, 1_999).proven_by(&after));
        assert!(!bound(Operator::Gt, 2_000).proven_by(&after));
        assert!(bound(Operator::GtEq, 2_000).proven_by(&after));
        assert!(bound(Operator::LtEq, 5_000).proven_by(&after));
        assert!(!bound(Operator::Lt, 5_000).proven_by(&after));
        // One row group across the bound, or one null row, and the file is tested.
        let across = footer(&[&[Some(2), Some(3)], &[Some(1), Some(5)]]);
        assert!(!bound(Operator::Gt, 1_999).proven_by(&across));
        let null = footer(&[&[Some(2), Some(3)], &[Some(5), None]]);
        assert!(!bound(Operator::Gt, 1_999).proven_by(&null));
        // A column of another name proves nothing.
        let other = TimeBound {
            column: "u".into(),
            ..bound(Operator::Gt, 0)
        };
        assert!(!other.proven_by(&after));
    }
}
