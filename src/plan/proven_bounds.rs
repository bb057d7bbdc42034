//! A Parquet scan rewrite (`rewrite.rs`): a Parquet scan does not test a time bound on the
//! files whose footers prove it for every row (or for every row of the row groups it reads).
//!
//! The rule's window (`TimeGenerated > $since`, tested on the raw column since
//! `window_pruning.rs`) is true for every row of every file but the one or two at the
//! window's start, yet the reader decodes the time column of every file to test it: on lakes
//! without an offset index (most writers), the whole column of every row group that keeps a
//! row. A file whose row groups each have a minimum after the bound and no null proves the
//! test; so does one whose other row groups lie wholly before it (a file holding several
//! days), if those are skipped. The rewrite scans such files with the predicate less their
//! proven bounds (and an access plan that skips those row groups), and the others with the
//! whole predicate, in the same scan: its partitions, files and order are unchanged, only the
//! predicate each file is opened with differs.
//!
//! The proofs come from the footers in the session's file-metadata cache (huntlake puts every
//! footer there when it opens a lake), checked against the file's size and time; a file
//! without one is tested as before. Bounds are `column op timestamp` on a timestamp column,
//! the form `window_pruning.rs` writes and users write in `huntlake sql`.

use std::fmt::{self, Formatter};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, ScalarValue};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::metadata::CachedParquetMetaData;
use datafusion::datasource::physical_plan::parquet::{ParquetAccessPlan, ParquetRowSelection};
use datafusion::datasource::physical_plan::{
    FileGroup, FileOpener, FileScanConfig, FileScanConfigBuilder, FileSource, ParquetSource,
};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{BinaryExpr, Column, Literal};
use datafusion::physical_expr::projection::ProjectionExprs;
use datafusion::physical_expr::{PhysicalExpr, conjunction, split_conjunction};
use datafusion::physical_plan::DisplayFormatType;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion_datasource::morsel::{MorselPlanner, Morselizer};
use object_store::ObjectStore;
use parquet::basic::{
    ConvertedType, LogicalType, TimeUnit as ParquetTimeUnit, Type as PhysicalType,
};
use parquet::file::metadata::{ParquetMetaData, RowGroupMetaData};
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnDescriptor;

use super::rewrite::ScanRewrite;

/// The rewrite. It reads footers from `runtime`'s file-metadata cache.
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

impl ScanRewrite for ProvenBounds {
    fn rewrite_scan(
        &self,
        parquet: &ParquetSource,
        config: &FileScanConfig,
    ) -> Option<FileScanConfig> {
        // A file read in two parts would not keep an order its scan promises.
        if !config.output_ordering.is_empty() {
            return None;
        }
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
        // Each file's row groups by what its footer says of the bounds. A file with row
        // groups proven is read as up to two entries of the same scan: its proven row
        // groups without the bounds, and the row groups that may hold rows on both sides
        // with them; row groups no row of which passes are skipped (statistics would
        // prune them, but not in the entry opened without the bounds).
        // Files (or parts of files) whose every row group is refuted are left out: opening
        // one only to skip all it holds costs as much as reading a small file.
        let mut file_groups = config.file_groups.clone();
        let mut entries = 0;
        let mut unproven_entries = 0;
        let mut refuted_entries = 0;
        for group in &mut file_groups {
            let mut files = Vec::with_capacity(group.len());
            let mut left_out = false;
            for file in group.iter() {
                let tests = self
                    .footer(file)
                    .filter(|_| !has_access_plan(file))
                    .and_then(|footer| coverage(&bounds, &footer));
                match tests {
                    None => files.push(file.clone()),
                    Some(row_groups) if row_groups.iter().all(|t| *t == RowGroupTest::Refuted) => {
                        refuted_entries += 1;
                        left_out = true;
                    }
                    Some(row_groups) => files.extend(split_by_row_groups(file, &row_groups)),
                }
            }
            entries += files.len();
            unproven_entries += files
                .iter()
                .filter(|f| f.extensions.get::<WithoutProvenBounds>().is_none())
                .count();
            let mut rebuilt = FileGroup::new(files);
            if let Some(statistics) = group.file_statistics(None) {
                // Without the files left out, the group's counts are upper bounds.
                let statistics = if left_out {
                    statistics.clone().to_inexact()
                } else {
                    statistics.clone()
                };
                rebuilt = rebuilt.with_statistics(Arc::new(statistics));
            }
            *group = rebuilt;
        }
        let proven_entries = entries - unproven_entries;
        if proven_entries == 0 && refuted_entries == 0 {
            return None;
        }
        let rest = conjunction(rest.into_iter().map(|(_, c)| c));
        let reduced = parquet.with_predicate(rest);
        let source = if unproven_entries == 0 && refuted_entries == 0 {
            Arc::new(reduced) as Arc<dyn FileSource>
        } else {
            Arc::new(PerFilePredicate {
                full: Arc::new(parquet.clone()),
                reduced: Arc::new(reduced),
                bounds: shown,
                proven_entries,
                refuted_entries,
                entries,
            })
        };
        Some(
            FileScanConfigBuilder::from(config.clone())
                .with_source(source)
                .with_file_groups(file_groups)
                .build(),
        )
    }
}

/// `column op bound` on a timestamp column, `op` one of `>`, `>=`, `<`, `<=`; the bound in ns.
#[derive(Debug)]
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

/// What a row group's statistics say of a bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowGroupTest {
    /// Every row passes.
    Proven,
    /// No row passes.
    Refuted,
    Unknown,
}

impl TimeBound {
    /// The bound's column in a file: its index among the leaves and nanoseconds per unit,
    /// if it is a top-level INT64 timestamp.
    fn column_in(&self, footer: &ParquetMetaData) -> Option<(usize, i128)> {
        let schema = footer.file_metadata().schema_descr();
        let index = (0..schema.num_columns()).find(|&i| {
            let column = schema.column(i);
            column.path().parts().len() == 1 && column.name() == self.column
        })?;
        Some((index, nanos_per_unit(&schema.column(index))?))
    }

    fn test(
        &self,
        row_group: &RowGroupMetaData,
        index: usize,
        nanos_per_unit: i128,
    ) -> RowGroupTest {
        let Some(Statistics::Int64(stats)) = row_group.column(index).statistics() else {
            return RowGroupTest::Unknown;
        };
        let rows = u64::try_from(row_group.num_rows()).unwrap_or(u64::MAX);
        let (Some(min), Some(max)) = (stats.min_opt(), stats.max_opt()) else {
            // No value but nulls: no row passes.
            return if rows > 0 && stats.null_count_opt() == Some(rows) {
                RowGroupTest::Refuted
            } else {
                RowGroupTest::Unknown
            };
        };
        let (min, max) = (*min as i128 * nanos_per_unit, *max as i128 * nanos_per_unit);
        let (all, none) = match self.op {
            Operator::Gt => (min > self.bound_nanos, max <= self.bound_nanos),
            Operator::GtEq => (min >= self.bound_nanos, max < self.bound_nanos),
            Operator::Lt => (max < self.bound_nanos, min >= self.bound_nanos),
            Operator::LtEq => (max <= self.bound_nanos, min > self.bound_nanos),
            _ => (false, false),
        };
        if none {
            RowGroupTest::Refuted
        } else if all && stats.null_count_opt() == Some(0) {
            RowGroupTest::Proven
        } else {
            RowGroupTest::Unknown
        }
    }
}

/// What the footer says of `bounds` in each of the file's row groups: proven when every row
/// passes them all, refuted when no row can pass one of them. `None` if none is proven and
/// some are not refuted (the scan's own pruning is left to decide).
fn coverage(bounds: &[TimeBound], footer: &ParquetMetaData) -> Option<Vec<RowGroupTest>> {
    let columns: Vec<(usize, i128)> = bounds
        .iter()
        .map(|b| b.column_in(footer))
        .collect::<Option<_>>()?;
    let row_groups: Vec<RowGroupTest> = footer
        .row_groups()
        .iter()
        .map(|row_group| {
            let tests: Vec<RowGroupTest> = bounds
                .iter()
                .zip(&columns)
                .map(|(b, &(index, unit))| b.test(row_group, index, unit))
                .collect();
            if tests.contains(&RowGroupTest::Refuted) {
                RowGroupTest::Refuted
            } else if tests.iter().all(|t| *t == RowGroupTest::Proven) {
                RowGroupTest::Proven
            } else {
                RowGroupTest::Unknown
            }
        })
        .collect();
    let decided = row_groups.contains(&RowGroupTest::Proven)
        || row_groups.iter().all(|t| *t == RowGroupTest::Refuted);
    decided.then_some(row_groups)
}

/// A file's entries in its scan, given what its footer says of each row group: the proven row
/// groups, marked to be opened without the bounds, and the row groups that may hold rows on
/// both sides, if any; each entry skips the other row groups.
fn split_by_row_groups(
    file: &PartitionedFile,
    row_groups: &[RowGroupTest],
) -> Vec<PartitionedFile> {
    let scanning = |wanted: RowGroupTest| {
        let mut plan = ParquetAccessPlan::new_all(row_groups.len());
        for (r, test) in row_groups.iter().enumerate() {
            if *test != wanted {
                plan.skip(r);
            }
        }
        plan
    };
    let mut proven = file.clone();
    if row_groups.iter().any(|t| *t != RowGroupTest::Proven) {
        proven.extensions.insert(scanning(RowGroupTest::Proven));
    }
    proven.extensions.insert(WithoutProvenBounds);
    let mut entries = vec![proven];
    if row_groups.contains(&RowGroupTest::Unknown) {
        let mut tested = file.clone();
        tested.extensions.insert(scanning(RowGroupTest::Unknown));
        entries.push(tested);
    }
    entries
}

/// Whether a file comes with its own choice of row groups or rows (then it is left alone).
fn has_access_plan(file: &PartitionedFile) -> bool {
    file.extensions.get::<ParquetAccessPlan>().is_some()
        || file.extensions.get::<ParquetRowSelection>().is_some()
}

/// Marks a scan entry (a file, or some of its row groups) opened without the proven bounds.
#[derive(Debug)]
struct WithoutProvenBounds;

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

/// A Parquet scan that opens the entries marked [`WithoutProvenBounds`] with `reduced` (the
/// predicate less the bounds their footers prove) and the others with `full`. Everything else
/// is `full`'s.
struct PerFilePredicate {
    full: Arc<dyn FileSource>,
    reduced: Arc<dyn FileSource>,
    /// The bounds `reduced` leaves out, and how many of the scan's entries it opens, for
    /// display.
    bounds: Arc<dyn PhysicalExpr>,
    proven_entries: usize,
    /// Files or parts of files left out of the scan: their footers refute the bounds.
    refuted_entries: usize,
    entries: usize,
}

impl fmt::Debug for PerFilePredicate {
    fn fmt(&self, f: &mut Formatter) -> fmt::Result {
        f.debug_struct("PerFilePredicate")
            .field("full", &self.full.filter())
            .field("reduced", &self.reduced.filter())
            .field("proven_entries", &self.proven_entries)
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
        }))
    }

    fn table_schema(&self) -> &TableSchema {
        self.full.table_schema()
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        Arc::new(Self {
            full: self.full.with_batch_size(batch_size),
            reduced: self.reduced.with_batch_size(batch_size),
            bounds: Arc::clone(&self.bounds),
            proven_entries: self.proven_entries,
            refuted_entries: self.refuted_entries,
            entries: self.entries,
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
        if self.proven_entries > 0 {
            write!(
                f,
                ", not tested in {} of {} files or parts (their footers prove it): {}",
                self.proven_entries, self.entries, self.bounds
            )?;
        }
        if self.refuted_entries > 0 {
            let (what, verb) = if self.refuted_entries == 1 {
                ("file or part", "is")
            } else {
                ("files or parts", "are")
            };
            write!(
                f,
                ", {} {what} {verb} not opened (their footers refute it): {}",
                self.refuted_entries, self.bounds
            )?;
        }
        Ok(())
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
}

impl Morselizer for PerFileMorselizer {
    fn plan_file(&self, file: PartitionedFile) -> Result<Box<dyn MorselPlanner>> {
        if file.extensions.get::<WithoutProvenBounds>().is_some() {
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
    fn a_footer_proves_or_refutes_a_bound_per_row_group() {
        use RowGroupTest::{Proven as P, Refuted as R, Unknown as U};
        let after = footer(&[&[Some(2), Some(3)], &[Some(5)]]);
        assert_eq!(after.num_row_groups(), 2);
        // Microseconds against a bound in nanoseconds.
        assert_eq!(
            coverage(&[bound(Operator::Gt, 1_999)], &after),
            Some(vec![P, P])
        );
        assert_eq!(
            coverage(&[bound(Operator::Gt, 2_000)], &after),
            Some(vec![U, P])
        );
        assert_eq!(
            coverage(&[bound(Operator::GtEq, 2_000)], &after),
            Some(vec![P, P])
        );
        assert_eq!(
            coverage(&[bound(Operator::LtEq, 5_000)], &after),
            Some(vec![P, P])
        );
        assert_eq!(
            coverage(&[bound(Operator::Lt, 5_000)], &after),
            Some(vec![P, R])
        );
        let window = [bound(Operator::Gt, 1_999), bound(Operator::LtEq, 4_000)];
        assert_eq!(coverage(&window, &after), Some(vec![P, R]));
        // A row group across the bound, or with a null, is tested.
        let across = footer(&[&[Some(2), Some(3)], &[Some(1), Some(5)]]);
        assert_eq!(
            coverage(&[bound(Operator::Gt, 1_999)], &across),
            Some(vec![P, U])
        );
        let null = footer(&[&[Some(2), Some(3)], &[Some(5), None]]);
        assert_eq!(
            coverage(&[bound(Operator::Gt, 1_999)], &null),
            Some(vec![P, U])
        );
        // Row groups wholly before the bound, or all null, pass no row.
        let days = footer(&[&[Some(1), Some(1)], &[Some(4), Some(5)], &[None]]);
        assert_eq!(
            coverage(&[bound(Operator::Gt, 1_999)], &days),
            Some(vec![R, P, R])
        );
        // No row group can pass: the file is left out of the scan.
        assert_eq!(
            coverage(&[bound(Operator::Gt, 9_000)], &days),
            Some(vec![R, R, R])
        );
        // Nothing proven and not all refuted: left to the scan's statistics.
        assert_eq!(
            coverage(
                &[bound(Operator::Gt, 1_999)],
                &footer(&[&[Some(1)], &[Some(1), Some(5)]])
            ),
            None
        );
        // A column of another name proves nothing.
        let other = TimeBound {
            column: "u".into(),
            ..bound(Operator::Gt, 0)
        };
        assert_eq!(coverage(&[other], &after), None);
    }
}
