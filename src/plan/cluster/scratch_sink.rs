//! Writing a materialized step to the scratch folder where its rows are made: on the workers.
//!
//! Shipped to the planner and written there, GetServices (every service launch in the
//! lookback) would cross the network once and be encoded twice, and the planner's one process
//! would write it all. Instead the step's plan is topped with a [`ScratchSinkExec`]: each
//! partition of each task writes its rows as one Parquet file in `<scratch>/<step>/` and
//! answers with its row count, so that only the counts reach the planner. The distributed
//! planner keeps the sink in the stage below the planner's own, because it only looks at the
//! nodes above and below it.
//!
//! The pieces: a logical node ([`ScratchSinkNode`]) that the query planner
//! ([`ScratchSinkPlanner`]) turns into the physical [`ScratchSinkExec`], and the codec
//! ([`ScratchSinkCodec`]) that carries it to the workers.

use std::cmp::Ordering;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use datafusion::arrow::array::{RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, DFSchemaRef, DataFusionError, Result, internal_err};
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{
    Expr, Extension, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use futures::StreamExt;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

/// Where a step's files go: a store (`scheme://authority/`, as the object-store registry
/// knows it) and the step's folder inside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Serialize, Deserialize)]
pub struct ScratchFolder {
    pub store: String,
    pub folder: String,
}

/// The one column a sink answers with: how many rows a partition wrote.
fn count_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![Field::new(
            "rows_written",
            DataType::UInt64,
            false,
        )]))
    });
    Arc::clone(&SCHEMA)
}

/// "Write `input` to `target`", in a logical plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScratchSinkNode {
    input: LogicalPlan,
    target: ScratchFolder,
    schema: DFSchemaRef,
}

impl ScratchSinkNode {
    /// `input` written to `target`, as a plan whose rows are the counts written.
    pub fn plan(input: LogicalPlan, target: ScratchFolder) -> Result<LogicalPlan> {
        let schema = Arc::new(DFSchema::try_from(count_schema().as_ref().clone())?);
        Ok(LogicalPlan::Extension(Extension {
            node: Arc::new(ScratchSinkNode {
                input,
                target,
                schema,
            }),
        }))
    }
}

impl PartialOrd for ScratchSinkNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match self.target.partial_cmp(&other.target) {
            Some(Ordering::Equal) => self.input.partial_cmp(&other.input),
            order => order,
        }
    }
}

impl UserDefinedLogicalNodeCore for ScratchSinkNode {
    fn name(&self) -> &str {
        "ScratchSink"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "ScratchSink: {}{}",
            self.target.store, self.target.folder
        )
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        let Some(input) = inputs.pop() else {
            return internal_err!("ScratchSink takes one input");
        };
        Ok(ScratchSinkNode {
            input,
            target: self.target.clone(),
            schema: Arc::clone(&self.schema),
        })
    }
}

/// The session's query planner with [`ScratchSinkNode`] known to it. The distributed planner
/// wraps it, so the sink is in the plan before the plan is cut into stages.
#[derive(Debug)]
pub struct ScratchSinkPlanner;

#[async_trait]
impl QueryPlanner for ScratchSinkPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(ScratchSinkPlanner)])
            .create_physical_plan(logical_plan, session)
            .await
    }
}

#[async_trait]
impl ExtensionPlanner for ScratchSinkPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(sink) = node.as_any().downcast_ref::<ScratchSinkNode>() else {
            return Ok(None);
        };
        let [input] = physical_inputs else {
            return internal_err!("ScratchSink takes one input");
        };
        Ok(Some(Arc::new(ScratchSinkExec::new(
            Arc::clone(input),
            sink.target.clone(),
        ))))
    }
}

/// Writes each input partition as one Parquet file in the target folder (none when the
/// partition is empty) and answers with one row: the count written.
#[derive(Debug)]
pub struct ScratchSinkExec {
    input: Arc<dyn ExecutionPlan>,
    target: ScratchFolder,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl ScratchSinkExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, target: ScratchFolder) -> Self {
        let partitions = input.output_partitioning().partition_count();
        let properties = PlanProperties::new(
            EquivalenceProperties::new(count_schema()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        ScratchSinkExec {
            input,
            target,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    pub fn target(&self) -> &ScratchFolder {
        &self.target
    }
}

impl DisplayAs for ScratchSinkExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "ScratchSinkExec: folder={}{}",
            self.target.store, self.target.folder
        )
    }
}

impl ExecutionPlan for ScratchSinkExec {
    fn name(&self) -> &str {
        "ScratchSinkExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    // Each partition writes its own file: no repartitioning is wanted below.
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (Some(input), true) = (children.pop(), children.is_empty()) else {
            return internal_err!("ScratchSinkExec takes one input");
        };
        Ok(Arc::new(ScratchSinkExec::new(input, self.target.clone())))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let store_url = ObjectStoreUrl::parse(&self.target.store)?;
        let store = context.runtime_env().object_store(&store_url)?;
        // A name no other partition or task picks.
        // The folder is an object-store path as written (already percent-encoded).
        let folder = Path::parse(&self.target.folder).map_err(|e| {
            DataFusionError::Execution(format!("the scratch folder {}: {e}", self.target.folder))
        })?;
        let file = folder.join(format!("part-{}.parquet", uuid::Uuid::new_v4().simple()));
        let shown = format!("{}{}", self.target.store, file);
        let input = self.input.execute(partition, Arc::clone(&context))?;
        let written: Count = MetricBuilder::new(&self.metrics).counter("rows_written", partition);
        let write = async move {
            let rows = write_parquet(input, store, file, &shown).await?;
            written.add(rows as usize);
            let counts = UInt64Array::from(vec![rows]);
            Ok(RecordBatch::try_new(
                count_schema(),
                vec![Arc::new(counts)],
            )?)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            count_schema(),
            futures::stream::once(write),
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// Writes `input` to `file` (created with the first row, so that an empty partition leaves
/// nothing behind) and gives the rows written.
async fn write_parquet(
    mut input: SendableRecordBatchStream,
    store: Arc<dyn object_store::ObjectStore>,
    file: Path,
    shown: &str,
) -> Result<u64> {
    let failed = |e: &dyn fmt::Display| DataFusionError::Execution(format!("writing {shown}: {e}"));
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut writer = None;
    let mut rows = 0u64;
    while let Some(batch) = input.next().await {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        if writer.is_none() {
            let output = object_store::buffered::BufWriter::new(Arc::clone(&store), file.clone());
            writer = Some(
                AsyncArrowWriter::try_new(output, batch.schema(), Some(props.clone()))
                    .map_err(|e| failed(&e))?,
            );
        }
        if let Some(writer) = writer.as_mut() {
            writer.write(&batch).await.map_err(|e| failed(&e))?;
        }
        rows += batch.num_rows() as u64;
    }
    if let Some(writer) = writer {
        writer.close().await.map_err(|e| failed(&e))?;
    }
    Ok(rows)
}

/// Carries [`ScratchSinkExec`] to the workers: its target as JSON; its input is the plan's.
#[derive(Debug)]
pub struct ScratchSinkCodec;

impl PhysicalExtensionCodec for ScratchSinkCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        _ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let target: ScratchFolder = serde_json::from_slice(buf).map_err(|e| {
            DataFusionError::Internal(format!("reading a ScratchSinkExec from a plan: {e}"))
        })?;
        let [input] = inputs else {
            return internal_err!("ScratchSinkExec takes one input");
        };
        Ok(Arc::new(ScratchSinkExec::new(Arc::clone(input), target)))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let Some(sink) = node.downcast_ref::<ScratchSinkExec>() else {
            return internal_err!("not a ScratchSinkExec: {}", node.name());
        };
        serde_json::to_writer(buf, sink.target())
            .map_err(|e| DataFusionError::Internal(format!("encoding a ScratchSinkExec: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn each_partition_writes_one_file_and_answers_with_its_count() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = SessionContext::new();
        let df = ctx
            .sql("SELECT * FROM (VALUES (1, 'a'), (2, 'b'), (3, 'c')) AS t(n, s) WHERE n > 1")
            .await
            .unwrap();
        let folder = Path::from_filesystem_path(dir.path()).unwrap();
        let target = ScratchFolder {
            store: "file://".into(),
            folder: folder.join("Step").to_string(),
        };
        let (state, plan) = df.into_parts();
        let plan = ScratchSinkNode::plan(plan, target).unwrap();
        let physical = ScratchSinkPlanner
            .create_physical_plan(&plan, &state)
            .await
            .unwrap();
        let batches = datafusion::physical_plan::collect(physical, ctx.task_ctx())
            .await
            .unwrap();
        let written: u64 = batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<UInt64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .sum();
        assert_eq!(written, 2);
        let files: Vec<_> = std::fs::read_dir(dir.path().join("Step"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(!files.is_empty() && files.iter().all(|f| f.ends_with(".parquet")));
        let read = ctx
            .read_parquet(
                dir.path().join("Step").display().to_string(),
                Default::default(),
            )
            .await
            .unwrap()
            .count()
            .await
            .unwrap();
        assert_eq!(read, 2);
    }

    #[test]
    fn the_codec_carries_the_target() {
        let ctx = SessionContext::new();
        let input = Arc::new(datafusion::physical_plan::empty::EmptyExec::new(
            count_schema(),
        ));
        let target = ScratchFolder {
            store: "az://lake/".into(),
            folder: "_huntlake/scratch/run/GetServices".into(),
        };
        let sink: Arc<dyn ExecutionPlan> =
            Arc::new(ScratchSinkExec::new(input.clone(), target.clone()));
        let converter = datafusion_proto::physical_plan::DefaultPhysicalProtoConverter {};
        let mut buf = Vec::new();
        ScratchSinkCodec
            .try_encode(sink, &mut buf, &converter)
            .unwrap();
        let decoded = ScratchSinkCodec
            .try_decode(&buf, &[input], &ctx.task_ctx(), &converter)
            .unwrap();
        let decoded = decoded.downcast_ref::<ScratchSinkExec>().unwrap();
        assert_eq!(decoded.target(), &target);
    }
}
