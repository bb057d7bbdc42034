//! KQL's `materialize()`: run a query once and keep its rows as a table. DataFusion 55 inlines
//! CTEs (each reference re-runs the scan), so the engine does it: batches are kept in memory
//! while they fit the budget (and the session's memory pool), and are otherwise written to
//! Arrow IPC files in a spill folder that is removed when the [`Materialized`] guard drops.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, UInt64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::FileWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::arrow::ArrowFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::prelude::{DataFrame, SessionContext};
use futures::StreamExt;

use super::compact::views_to_dictionary;
use crate::error::{HuntError, QueryContext, Result};
use crate::plan::ScanProgress;
use crate::plan::cluster::scratch_sink::ScratchSinkNode;
use crate::plan::cluster::with_worker_metrics;

#[derive(Debug, Clone)]
pub struct MaterializeOptions {
    /// Largest in-memory size, in bytes, before spilling to disk.
    pub memory_budget: usize,
    /// Where spill files go (default: the system's temporary folder).
    pub spill_dir: Option<PathBuf>,
    /// Hold strings in memory as dictionaries (smaller; the table's schema then depends on
    /// whether it spilled). Off, the table keeps the query's own types.
    pub dictionary_strings: bool,
    /// A distributed run's scratch folder: the rows are written there as Parquet instead.
    pub scratch: Option<Arc<super::scratch::Scratch>>,
}

/// The materialized steps' memory when neither a budget nor a memory limit is given.
pub const DEFAULT_MEMORY_BUDGET: usize = 1 << 30;

impl Default for MaterializeOptions {
    fn default() -> Self {
        MaterializeOptions::new(None, None, None)
    }
}

impl MaterializeOptions {
    /// The options for a run: memory for the materialized steps is `budget`, else a quarter of
    /// the run's `memory_limit` (the rest is for the scans and aggregations), else
    /// [`DEFAULT_MEMORY_BUDGET`].
    pub fn new(
        budget: Option<usize>,
        memory_limit: Option<usize>,
        spill_dir: Option<PathBuf>,
    ) -> Self {
        MaterializeOptions {
            memory_budget: budget
                .or(memory_limit.map(|limit| limit / 4))
                .unwrap_or(DEFAULT_MEMORY_BUDGET),
            spill_dir,
            dictionary_strings: true,
            scratch: None,
        }
    }
}

/// A materialized table; dropping it deletes its spill files (the table stays registered).
#[derive(Debug)]
pub struct Materialized {
    pub rows: usize,
    pub spilled: bool,
    /// The plan that produced the rows, with its run metrics (for `--explain`).
    pub plan: Arc<dyn ExecutionPlan>,
    /// The rows, when the table holds them in this process's memory (the same buffers).
    in_memory: Option<Vec<RecordBatch>>,
    _spill: Option<tempfile::TempDir>,
    /// Counts the in-memory table against the session's memory pool while it lives.
    _reservation: Option<MemoryReservation>,
}

impl Materialized {
    /// The rows, when they are in this process's memory (not spilled, not in a scratch folder).
    pub fn batches(&self) -> Option<&[RecordBatch]> {
        self.in_memory.as_deref()
    }
}

/// Runs `df` once and registers its rows as table `name` in `ctx`.
pub async fn materialize(
    ctx: &SessionContext,
    df: DataFrame,
    name: &'static str,
    options: &MaterializeOptions,
    progress: &ScanProgress,
) -> Result<Materialized> {
    let (table, materialized) = materialize_table(ctx, df, name, options, progress).await?;
    let table_ref = TableReference::bare(name);
    let _ = ctx.deregister_table(table_ref.clone());
    ctx.register_table(table_ref, table)
        .context(format!("materializing {name}"))?;
    Ok(materialized)
}

/// Runs `df` once and returns its rows as a table: in memory, or over spill files that live
/// as long as the returned [`Materialized`].
pub async fn materialize_table(
    ctx: &SessionContext,
    df: DataFrame,
    name: &'static str,
    options: &MaterializeOptions,
    progress: &ScanProgress,
) -> Result<(Arc<dyn TableProvider>, Materialized)> {
    let what = format!("materializing {name}");
    // In memory, strings are kept as dictionaries; spill files (Arrow IPC, one dictionary per
    // column for the whole file) keep the plain types.
    let plain: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let schema = if options.dictionary_strings {
        dictionary_schema(&plain)
    } else {
        Arc::clone(&plain)
    };
    if let Some(scratch) = &options.scratch {
        // A distributed run: the rows go where every worker can read them, written by the
        // workers that make them; only each partition's count comes back.
        let (state, input) = df.into_parts();
        let sink = ScratchSinkNode::plan(input, scratch.target(name)).context(what.clone())?;
        let df = DataFrame::new(state, sink);
        let task = Arc::new(df.task_ctx());
        let plan = df.create_physical_plan().await.context(what.clone())?;
        progress.start(name, &plan);
        let counts = datafusion::physical_plan::collect(Arc::clone(&plan), task)
            .await
            .context(what.clone())?;
        let rows = rows_written(&counts).context(what)?;
        let table = scratch.table(name, &plain)?;
        let plan = with_worker_metrics(plan).await?;
        progress.finish(&plan);
        let materialized = Materialized {
            rows,
            spilled: false,
            plan,
            in_memory: None,
            _spill: None,
            _reservation: None,
        };
        return Ok((table, materialized));
    }
    let task = Arc::new(df.task_ctx());
    let plan = df.create_physical_plan().await.context(what.clone())?;
    progress.start(name, &plan);
    let mut stream = execute_stream(Arc::clone(&plan), task).context(what.clone())?;
    let reservation = MemoryConsumer::new(format!("materialized {name}"))
        .register(&ctx.runtime_env().memory_pool);

    let mut kept: Vec<RecordBatch> = Vec::new();
    let mut bytes = 0usize;
    let mut rows = 0usize;
    let mut spill: Option<Spill> = None;
    while let Some(batch) = stream.next().await {
        let batch = batch.context(what.clone())?;
        if batch.num_rows() == 0 {
            continue;
        }
        rows += batch.num_rows();
        if let Some(spill) = spill.as_mut() {
            spill.write(&batch)?;
            continue;
        }
        let compact = cast_to_schema(&batch, &schema).context(what.clone())?;
        let size = compact.get_array_memory_size();
        bytes += size;
        if bytes <= options.memory_budget && reservation.try_grow(size).is_ok() {
            kept.push(compact);
            continue;
        }
        // Over budget: everything so far, and the rest, goes to disk.
        let mut new_spill = Spill::create(options, name, &plain)?;
        for earlier in kept.drain(..) {
            new_spill.write(&cast_to_schema(&earlier, &plain).context(what.clone())?)?;
        }
        new_spill.write(&batch)?;
        reservation.free();
        spill = Some(new_spill);
    }

    let plan = with_worker_metrics(plan).await?;
    progress.finish(&plan);
    match spill {
        None => {
            let in_memory = Some(kept.clone());
            let partitions = split_partitions(kept, ctx.copied_config().target_partitions());
            let table = MemTable::try_new(schema, partitions).context(what)?;
            let materialized = Materialized {
                rows,
                spilled: false,
                plan,
                in_memory,
                _spill: None,
                _reservation: Some(reservation),
            };
            Ok((Arc::new(table), materialized))
        }
        Some(spill) => {
            let (table, dir) = spill.into_table(&plain, &what)?;
            let materialized = Materialized {
                rows,
                spilled: true,
                plan,
                in_memory: None,
                _spill: Some(dir),
                _reservation: None,
            };
            Ok((table, materialized))
        }
    }
}

/// The sum of a scratch sink's counts.
fn rows_written(counts: &[RecordBatch]) -> datafusion::common::Result<usize> {
    let mut rows = 0usize;
    for batch in counts {
        let column = batch
            .column(0)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(|| {
                datafusion::common::DataFusionError::Internal(
                    "a scratch sink answered without its counts".into(),
                )
            })?;
        rows += column.values().iter().sum::<u64>() as usize;
    }
    Ok(rows)
}

/// The schema with every string column as `Dictionary(Int32, Utf8)`. A materialized step's
/// strings repeat heavily (device, service, user and hash per launch), and as string views each
/// costs 16 bytes a row: on the billion-row benchmark lake this took the run's peak memory
/// from 1.19 GiB to 0.72 GiB (BENCHMARKS.md).
fn dictionary_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                f.as_ref().clone().with_data_type(dictionary_string())
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn dictionary_string() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// `batch` with its columns cast to `schema`'s types.
pub(crate) fn cast_to_schema(
    batch: &RecordBatch,
    schema: &SchemaRef,
) -> datafusion::common::Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(
            |(column, field)| match (column.data_type(), field.data_type()) {
                (from, to) if from == to => Ok(Arc::clone(column)),
                (DataType::Utf8View, to) if *to == dictionary_string() => {
                    views_to_dictionary(column.as_string_view())
                }
                (_, to) => cast(column, to),
            },
        )
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// Deals batches round-robin into `n` partitions so that later scans run in parallel.
fn split_partitions(batches: Vec<RecordBatch>, n: usize) -> Vec<Vec<RecordBatch>> {
    let n = n.max(1);
    let mut partitions = vec![Vec::new(); n];
    for (i, batch) in batches.into_iter().enumerate() {
        partitions[i % n].push(batch);
    }
    partitions
}

struct Spill {
    dir: tempfile::TempDir,
    writer: FileWriter<std::io::BufWriter<std::fs::File>>,
    path: PathBuf,
}

impl Spill {
    fn create(options: &MaterializeOptions, name: &str, schema: &SchemaRef) -> Result<Spill> {
        let io = |source| HuntError::Io {
            context: format!("spilling {name} to disk"),
            source,
        };
        let mut builder = tempfile::Builder::new();
        builder.prefix("huntlake-spill-");
        let dir = match &options.spill_dir {
            Some(parent) => builder.tempdir_in(parent),
            None => builder.tempdir(),
        }
        .map_err(io)?;
        let path = dir.path().join(format!("{name}.arrow"));
        let file = std::fs::File::create(&path).map_err(io)?;
        let writer = FileWriter::try_new(std::io::BufWriter::new(file), schema).map_err(|e| {
            HuntError::Output {
                path: path.clone(),
                message: e.to_string(),
            }
        })?;
        Ok(Spill { dir, writer, path })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write(batch).map_err(|e| HuntError::Output {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }

    /// The spill files as a table of `schema`, and the folder that must live as long as it.
    fn into_table(
        self,
        schema: &SchemaRef,
        what: &str,
    ) -> Result<(Arc<dyn TableProvider>, tempfile::TempDir)> {
        let dir = self.finish()?;
        // The spill folder may hold glob or URL characters: name it exactly.
        let url = crate::lake::local_table_url(dir.path(), true)?;
        let listing = ListingOptions::new(Arc::new(ArrowFormat)).with_file_extension(".arrow");
        let config = ListingTableConfig::new(url)
            .with_listing_options(listing)
            .with_schema(Arc::clone(schema));
        let table = ListingTable::try_new(config).context(what)?;
        Ok((Arc::new(table), dir))
    }

    fn finish(mut self) -> Result<tempfile::TempDir> {
        self.writer.finish().map_err(|e| HuntError::Output {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        Ok(self.dir)
    }
}
