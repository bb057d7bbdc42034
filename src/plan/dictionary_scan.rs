//! A physical optimizer rule: a Parquet scan reads the string columns its pushed-down
//! predicate tests with huntlake's string functions as Arrow dictionaries, in the files where
//! every data page of that column is dictionary-encoded.
//!
//! Read as string views, a dictionary-encoded column costs a 16-byte view per row, and the
//! predicate looks at each row's string. Read as a dictionary, each row costs its key, and the
//! predicate runs once per dictionary entry the batch uses (`contains_ci` over the process
//! events' parent names, `in_exact` over every event table's initiating file names: most of
//! the rows the detection reads). DataFusion reads a column as a dictionary when the file's
//! Arrow schema says so, and a scan takes that schema from each file
//! (`PartitionedFile::arrow_schema`); it then casts the column back to the table's type
//! wherever an expression reads it. The rule gives those files a schema with dictionaries, and
//! the scan an expression adapter that leaves the column uncast where it is the first argument
//! of a function that takes dictionaries. Every other use reads the column cast as before, so
//! the scan's output does not change.
//!
//! A column chunk with plain-encoded pages (a writer's dictionary overflowed) keeps its file on
//! string views: the reader would rebuild a dictionary for it, slower than reading views.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::metadata::CachedParquetMetaData;
use datafusion::datasource::physical_plan::{
    FileGroup, FileScanConfig, FileScanConfigBuilder, FileSource,
};
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::parquet::basic::{Encoding, PageType};
use datafusion::parquet::file::metadata::ColumnChunkMetaData;
use datafusion::physical_expr::expressions::{CastExpr, Column};
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr};
use datafusion::physical_expr_adapter::{
    DefaultPhysicalExprAdapterFactory, PhysicalExprAdapter, PhysicalExprAdapterFactory,
};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;

use super::rewrite::rewrite_parquet_scans;
use crate::functions::case_insensitive::DICTIONARY_ARGUMENT_FUNCTIONS;
use crate::lake::files::ArrowSchemas;

/// The physical optimizer rule. It reads the files' footers from the session's file-metadata
/// cache, where registering a lake put them; a file whose footer is not there is read as
/// before.
#[derive(Debug)]
pub struct PredicatesOnDictionaries {
    footers: Arc<FileMetadataCache>,
}

impl PredicatesOnDictionaries {
    pub fn new(footers: Arc<FileMetadataCache>) -> Self {
        Self { footers }
    }

    /// `file`'s Arrow schema with `columns` as dictionaries where all of the file's pages of
    /// that column are dictionary-encoded; `None` when no column qualifies.
    fn dictionary_schema(
        &self,
        file: &PartitionedFile,
        columns: &[String],
        schemas: &mut ArrowSchemas,
    ) -> Option<SchemaRef> {
        if file.arrow_schema.is_some() {
            return None;
        }
        let cached = self.footers.get(&file.object_meta.location)?;
        if !cached.is_valid_for(&file.object_meta) {
            return None;
        }
        let footer = cached
            .file_metadata
            .as_any()
            .downcast_ref::<CachedParquetMetaData>()?
            .parquet_metadata();
        let schema = schemas.of(footer).ok()?;
        let leaves = footer.file_metadata().schema_descr().columns();
        let mut fields = schema.fields().to_vec();
        let mut changed = false;
        for name in columns {
            let Ok(index) = schema.index_of(name) else {
                continue;
            };
            let values = match fields[index].data_type() {
                DataType::Utf8 | DataType::Utf8View => DataType::Utf8,
                DataType::LargeUtf8 => DataType::LargeUtf8,
                _ => continue,
            };
            let Some(leaf) = leaves
                .iter()
                .position(|c| c.path().parts() == [name.clone()])
            else {
                continue;
            };
            let every_page_a_dictionary = footer
                .row_groups()
                .iter()
                .all(|group| dictionary_encoded(group.column(leaf)));
            if every_page_a_dictionary {
                let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(values));
                fields[index] = Arc::new(fields[index].as_ref().clone().with_data_type(dictionary));
                changed = true;
            }
        }
        changed.then(|| Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())))
    }

    /// The scan with its qualifying files read with dictionaries, or `None` to leave it.
    fn rewrite_scan(
        &self,
        config: &FileScanConfig,
        predicate: &Arc<dyn PhysicalExpr>,
    ) -> Option<FileScanConfig> {
        let columns = dictionary_argument_columns(predicate);
        if columns.is_empty() {
            return None;
        }
        let mut schemas = ArrowSchemas::default();
        let mut changed = false;
        let groups: Vec<FileGroup> = config
            .file_groups
            .iter()
            .map(|group| {
                let files = group
                    .iter()
                    .map(
                        |file| match self.dictionary_schema(file, &columns, &mut schemas) {
                            Some(schema) => {
                                changed = true;
                                file.clone().with_arrow_schema(schema)
                            }
                            None => file.clone(),
                        },
                    )
                    .collect();
                let rebuilt = FileGroup::new(files);
                match group.file_statistics(None) {
                    Some(statistics) => rebuilt.with_statistics(Arc::new(statistics.clone())),
                    None => rebuilt,
                }
            })
            .collect();
        if !changed {
            return None;
        }
        let adapter = DictionaryArguments {
            inner: config.expr_adapter_factory.clone(),
        };
        Some(
            FileScanConfigBuilder::from(config.clone())
                .with_file_groups(groups)
                .with_expr_adapter(Some(Arc::new(adapter)))
                .build(),
        )
    }
}

impl PhysicalOptimizerRule for PredicatesOnDictionaries {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        rewrite_parquet_scans(plan, |config, parquet| {
            self.rewrite_scan(config, &parquet.filter()?)
        })
    }

    fn name(&self) -> &str {
        "huntlake_predicates_on_dictionaries"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// On a cluster worker, which decodes each plan without the scans' expression adapters (the
/// files keep their Arrow schemas): every Parquet scan that reads a file with dictionaries gets
/// the adapter back, so that the functions take the dictionaries there too.
pub(crate) fn pass_dictionaries_to_functions(
    plan: Arc<dyn ExecutionPlan>,
) -> Result<Arc<dyn ExecutionPlan>> {
    rewrite_parquet_scans(plan, |config, _| {
        let with_dictionaries = config.file_groups.iter().flat_map(|g| g.iter()).any(|f| {
            f.arrow_schema.as_ref().is_some_and(|s| {
                s.fields()
                    .iter()
                    .any(|f| matches!(f.data_type(), DataType::Dictionary(..)))
            })
        });
        if !with_dictionaries {
            return None;
        }
        let adapter = DictionaryArguments {
            inner: config.expr_adapter_factory.clone(),
        };
        Some(
            FileScanConfigBuilder::from(config.clone())
                .with_expr_adapter(Some(Arc::new(adapter)))
                .build(),
        )
    })
}

/// The columns `predicate` passes, bare, as the first argument of a function that takes
/// dictionaries.
fn dictionary_argument_columns(predicate: &Arc<dyn PhysicalExpr>) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    // The closure never fails.
    let _ = predicate.apply(|expr| {
        if let Some(function) = expr.downcast_ref::<ScalarFunctionExpr>()
            && DICTIONARY_ARGUMENT_FUNCTIONS.contains(&function.name())
            && let Some(column) = function
                .args()
                .first()
                .and_then(|a| a.downcast_ref::<Column>())
            && !columns.iter().any(|c| c == column.name())
        {
            columns.push(column.name().to_string());
        }
        Ok(TreeNodeRecursion::Continue)
    });
    columns
}

/// Whether every data page of `column` is dictionary-encoded, from the page encodings the
/// footer records. A writer that records only the chunk's encodings, with a value encoding
/// among them, does not say whether its data pages used it: read as views.
fn dictionary_encoded(column: &ColumnChunkMetaData) -> bool {
    let is_dictionary =
        |e: Encoding| matches!(e, Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY);
    if let Some(mask) = column.page_encoding_stats_mask() {
        return mask.encodings().all(is_dictionary) && mask.encodings().next().is_some();
    }
    if let Some(stats) = column.page_encoding_stats() {
        let data_pages: Vec<_> = stats
            .iter()
            .filter(|s| matches!(s.page_type, PageType::DATA_PAGE | PageType::DATA_PAGE_V2))
            .collect();
        return !data_pages.is_empty() && data_pages.iter().all(|s| is_dictionary(s.encoding));
    }
    // RLE: the levels' encoding.
    let levels = |e: Encoding| e == Encoding::RLE;
    column.encodings().any(is_dictionary)
        && column.encodings().all(|e| is_dictionary(e) || levels(e))
}

/// The scan's expression adapter: the table's own (DataFusion's by default), then a column read
/// as a dictionary of strings goes uncast into the functions that take dictionaries.
#[derive(Debug)]
struct DictionaryArguments {
    inner: Option<Arc<dyn PhysicalExprAdapterFactory>>,
}

impl PhysicalExprAdapterFactory for DictionaryArguments {
    fn create(
        &self,
        logical_file_schema: SchemaRef,
        physical_file_schema: SchemaRef,
    ) -> Result<Arc<dyn PhysicalExprAdapter>> {
        let inner = match &self.inner {
            Some(inner) => inner.create(logical_file_schema, Arc::clone(&physical_file_schema))?,
            None => DefaultPhysicalExprAdapterFactory
                .create(logical_file_schema, Arc::clone(&physical_file_schema))?,
        };
        Ok(Arc::new(DictionaryArgumentsAdapter {
            inner,
            physical_file_schema,
        }))
    }
}

#[derive(Debug)]
struct DictionaryArgumentsAdapter {
    inner: Arc<dyn PhysicalExprAdapter>,
    physical_file_schema: SchemaRef,
}

impl PhysicalExprAdapter for DictionaryArgumentsAdapter {
    fn rewrite(&self, expr: Arc<dyn PhysicalExpr>) -> Result<Arc<dyn PhysicalExpr>> {
        self.inner
            .rewrite(expr)?
            .transform_up(|expr| {
                let Some(uncast) = self.uncast_first_argument(&expr) else {
                    return Ok(Transformed::no(expr));
                };
                Ok(Transformed::yes(expr.with_new_children(uncast)?))
            })
            .data()
    }
}

impl DictionaryArgumentsAdapter {
    /// The arguments of `expr` with the cast taken off its first, when `expr` is a function
    /// that takes dictionaries and that argument casts a dictionary column of strings to a
    /// string type.
    fn uncast_first_argument(
        &self,
        expr: &Arc<dyn PhysicalExpr>,
    ) -> Option<Vec<Arc<dyn PhysicalExpr>>> {
        let function = expr.downcast_ref::<ScalarFunctionExpr>()?;
        if !DICTIONARY_ARGUMENT_FUNCTIONS.contains(&function.name()) {
            return None;
        }
        let cast = function.args().first()?.downcast_ref::<CastExpr>()?;
        let column = cast.expr().downcast_ref::<Column>()?;
        let field = self
            .physical_file_schema
            .field_with_name(column.name())
            .ok()?;
        let strings =
            |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
        let DataType::Dictionary(_, values) = field.data_type() else {
            return None;
        };
        if !strings(values) || !strings(cast.cast_type()) {
            return None;
        }
        let mut args = function.args().to_vec();
        args[0] = Arc::clone(cast.expr());
        Some(args)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{RecordBatch, StringArray};
    use datafusion::arrow::datatypes::Field;
    use datafusion::common::DFSchema;
    use datafusion::datasource::source::DataSourceExec;
    use datafusion::execution::FunctionRegistry;
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::file::properties::WriterProperties;
    use datafusion::prelude::{ParquetReadOptions, SessionContext, col, lit};
    use object_store::ObjectStore;
    use object_store::local::LocalFileSystem;

    use super::*;
    use crate::lake::files::{DataFile, list_data_files, read_footers};
    use crate::plan::{SessionOptions, new_session};

    /// Names with a null (Kusto's ""), an empty string and a case variant.
    const NAMES: [Option<&str>; 6] = [
        Some("psexesvc.exe"),
        None,
        Some("svc.exe"),
        Some("PSEXESVC.EXE"),
        Some(""),
        Some("psexesvc.exe"),
    ];

    fn write_names(path: &std::path::Path, dictionary: bool) {
        let names: Vec<Option<&str>> = NAMES.repeat(50);
        let hosts = vec![Some("host-1"); names.len()];
        let batch = RecordBatch::try_from_iter([
            ("FileName", Arc::new(StringArray::from(names)) as _),
            ("DeviceName", Arc::new(StringArray::from(hosts)) as _),
        ])
        .unwrap();
        let properties = WriterProperties::builder()
            .set_dictionary_enabled(dictionary)
            .set_max_row_group_row_count(Some(120))
            .build();
        let file = std::fs::File::create(path).unwrap();
        let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }

    /// A session with huntlake's rules over one folder holding a dictionary-encoded file and a
    /// plain one, their footers in the metadata cache as registering a lake puts them.
    async fn session_over_two_files() -> (SessionContext, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        write_names(&dir.path().join("dictionary.parquet"), true);
        write_names(&dir.path().join("plain.parquet"), false);
        let ctx = new_session(&SessionOptions::default()).unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new());
        let folder = object_store::path::Path::from_absolute_path(dir.path()).unwrap();
        let listed = list_data_files(&store, &folder).await.unwrap();
        let files: Vec<DataFile> = read_footers(&store, listed)
            .await
            .into_iter()
            .map(|f| f.unwrap())
            .collect();
        assert_eq!(files.len(), 2);
        crate::lake::statistics::seed_metadata_cache(&ctx, &files.iter().collect::<Vec<_>>());
        ctx.register_parquet(
            "names",
            dir.path().to_str().unwrap(),
            ParquetReadOptions::default(),
        )
        .await
        .unwrap();
        (ctx, dir)
    }

    async fn count(ctx: &SessionContext, predicate: &str) -> i64 {
        let batches = ctx
            .sql(&format!(
                "SELECT count(*) AS n FROM names WHERE {predicate}"
            ))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
            .unwrap()
            .value(0)
    }

    /// Each file's Arrow schema in the scan of `predicate`'s query, by file name.
    async fn scanned_schemas(
        ctx: &SessionContext,
        predicate: &str,
    ) -> Vec<(String, Option<SchemaRef>)> {
        let plan = ctx
            .sql(&format!("SELECT DeviceName FROM names WHERE {predicate}"))
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let mut found = Vec::new();
        plan.apply(|node| {
            if let Some(config) = node
                .downcast_ref::<DataSourceExec>()
                .and_then(|e| e.data_source().downcast_ref::<FileScanConfig>())
            {
                for file in config.file_groups.iter().flat_map(|g| g.iter()) {
                    let name = file.object_meta.location.filename().unwrap().to_string();
                    found.push((name, file.arrow_schema.clone()));
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    /// The tested column is read as a dictionary from the dictionary-encoded file only, and
    /// the functions give the same answer on both files: a null read as "", exact and
    /// case-folded matches as Kusto has them.
    #[tokio::test]
    async fn dictionary_encoded_columns_are_read_as_dictionaries_with_the_same_answer() {
        let (ctx, _dir) = session_over_two_files().await;
        let membership = "in_exact(FileName, 'psexesvc.exe', '')";
        let schemas = scanned_schemas(&ctx, membership).await;
        assert_eq!(schemas.len(), 2);
        let (name, dictionary) = &schemas[0];
        assert_eq!(name, "dictionary.parquet");
        let dictionary = dictionary.as_ref().expect("read with dictionaries");
        assert_eq!(
            dictionary.field_with_name("FileName").unwrap().data_type(),
            &DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
        );
        // Columns the functions do not test are read as before.
        assert_eq!(
            dictionary
                .field_with_name("DeviceName")
                .unwrap()
                .data_type(),
            &DataType::Utf8
        );
        assert_eq!(schemas[1], ("plain.parquet".to_string(), None));
        // Per file: two exact names, one null, one empty string; 50 copies; two files.
        assert_eq!(count(&ctx, membership).await, 4 * 50 * 2);
        assert_eq!(
            count(&ctx, "in_ci(FileName, 'PsExeSvc.exe')").await,
            3 * 50 * 2
        );
        assert_eq!(
            count(&ctx, "contains_ci(FileName, 'exesvc')").await,
            3 * 50 * 2
        );
        assert_eq!(
            count(&ctx, "NOT in_exact(FileName, 'svc.exe')").await,
            5 * 50 * 2
        );
        // Other uses of the column see strings, as before.
        assert_eq!(
            count(
                &ctx,
                "FileName = 'svc.exe' AND in_exact(FileName, 'svc.exe')"
            )
            .await,
            100
        );
        // A scan whose predicate uses none of these functions is left alone.
        let untouched = scanned_schemas(&ctx, "FileName = 'svc.exe'").await;
        assert!(untouched.iter().all(|(_, schema)| schema.is_none()));
    }

    /// The sample lake's process events, through the Kusto view: the rule's filter columns
    /// are read as dictionaries.
    #[tokio::test]
    async fn the_lake_scans_read_the_filter_columns_as_dictionaries() {
        use crate::lake::{Lake, LakeOptions, LakeSource};
        let lake = Lake::open(&LakeSource::EmbeddedSample, &LakeOptions::default())
            .await
            .unwrap();
        let ctx = new_session(&SessionOptions::default()).unwrap();
        lake.register(&ctx).await.unwrap();
        let plan = ctx
            .sql(
                "SELECT DeviceName FROM DeviceProcessEvents \
                 WHERE contains_ci(InitiatingProcessParentFileName, 'services.exe')",
            )
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let mut files = 0;
        plan.apply(|node| {
            if let Some(config) = node
                .downcast_ref::<DataSourceExec>()
                .and_then(|e| e.data_source().downcast_ref::<FileScanConfig>())
            {
                for file in config.file_groups.iter().flat_map(|g| g.iter()) {
                    let schema = file.arrow_schema.as_ref().expect("read with dictionaries");
                    let parent = schema
                        .field_with_name("InitiatingProcessParentFileName")
                        .unwrap();
                    assert!(matches!(parent.data_type(), DataType::Dictionary(..)));
                    files += 1;
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        assert!(files > 1, "{files}");
    }

    /// The adapter hands a dictionary column to the functions that take dictionaries uncast,
    /// and leaves DataFusion's cast wherever else the column is read.
    #[test]
    fn the_adapter_passes_dictionaries_to_the_functions_uncast() {
        let ctx = new_session(&SessionOptions::default()).unwrap();
        let logical = Arc::new(Schema::new(vec![Field::new("x", DataType::Utf8View, true)]));
        let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let physical = Arc::new(Schema::new(vec![Field::new("x", dictionary, true)]));
        let df_schema = DFSchema::try_from(Arc::clone(&logical)).unwrap();
        let state = ctx.state();
        let physical_expr = |expr| state.create_physical_expr(expr, &df_schema).unwrap();
        let adapter = DictionaryArguments { inner: None }
            .create(Arc::clone(&logical), physical)
            .unwrap();

        let in_exact = ctx.udf("in_exact").unwrap().call(vec![col("x"), lit("a")]);
        let rewritten = adapter.rewrite(physical_expr(in_exact)).unwrap();
        let function = rewritten.downcast_ref::<ScalarFunctionExpr>().unwrap();
        assert!(
            function.args()[0].downcast_ref::<Column>().is_some(),
            "{rewritten}"
        );

        let length = datafusion::functions::unicode::expr_fn::character_length(col("x"));
        let rewritten = adapter.rewrite(physical_expr(length)).unwrap();
        let function = rewritten.downcast_ref::<ScalarFunctionExpr>().unwrap();
        assert!(
            function.args()[0].downcast_ref::<CastExpr>().is_some(),
            "{rewritten}"
        );
    }
}
