//! The rule's steps as tables of the shell (`GetServices`, `RareServices`), so that a hunter can
//! query what the detection saw. Each is computed on first use with the shell's as-of and rule
//! parameters, then kept (in memory, or spilled to disk past the budget) for
//! later queries, as the detection materializes it.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, ParamValues, Result};
use datafusion::datasource::TableType;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use tokio::sync::OnceCell;

use crate::error::QueryContext;
use crate::plan::ScanProgress;
use crate::rule::steps::{MATERIALIZED, Step};
use crate::rule::{MaterializeOptions, Materialized, RuleParams};

/// One step of the rule, materialized on first scan.
pub struct RuleStep {
    step: Step,
    bindings: ParamValues,
    schema: SchemaRef,
    options: MaterializeOptions,
    rows: OnceCell<(Arc<dyn TableProvider>, Materialized)>,
}

impl fmt::Debug for RuleStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleStep")
            .field("name", &self.step.name)
            .field("materialized", &self.rows.initialized())
            .finish()
    }
}

impl RuleStep {
    pub fn name(&self) -> &'static str {
        self.step.name
    }

    /// The SQL file the step runs (`sql/<file>`).
    pub fn file(&self) -> &'static str {
        self.step.file
    }

    /// Rows, once computed.
    pub fn rows(&self) -> Option<usize> {
        self.rows.get().map(|(_, m)| m.rows)
    }

    async fn materialized(&self, state: &dyn Session) -> Result<&Arc<dyn TableProvider>> {
        let (table, _) = self
            .rows
            .get_or_try_init(|| async {
                let state = state
                    .as_any()
                    .downcast_ref::<SessionState>()
                    .ok_or_else(|| {
                        DataFusionError::Internal(
                            "the shell's session is not a SessionState".into(),
                        )
                    })?;
                // A context over the same catalogs and runtime, to plan the step's SQL.
                let ctx = SessionContext::new_with_state(state.clone());
                let computed = async {
                    let df = self.step.plan(&ctx, self.bindings.clone()).await?;
                    crate::rule::materialize::materialize_table(
                        &ctx,
                        df,
                        self.step.name,
                        &self.options,
                        &ScanProgress::default(),
                    )
                    .await
                };
                computed
                    .await
                    .map_err(|e| DataFusionError::External(Box::new(e)))
            })
            .await?;
        Ok(table)
    }
}

#[async_trait]
impl TableProvider for RuleStep {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let table = self.materialized(state).await?;
        table.scan(state, projection, filters, limit).await
    }
}

/// Registers the rule's steps in `ctx` (whose lake is registered), for `params`.
pub async fn register_steps(
    ctx: &SessionContext,
    params: &RuleParams,
    options: &MaterializeOptions,
) -> crate::Result<Vec<Arc<RuleStep>>> {
    let mut options = options.clone();
    // The shell's tables keep the types the SQL gives, spilled or not.
    options.dictionary_strings = false;
    let mut steps = Vec::new();
    for step in MATERIALIZED {
        // Planning only: it gives the step's columns (RareServices reads GetServices,
        // registered just before).
        let planned = step.plan(ctx, params.bindings()).await?;
        let name = step.name;
        let step = Arc::new(RuleStep {
            step,
            bindings: params.bindings(),
            schema: Arc::new(planned.schema().as_arrow().clone()),
            options: options.clone(),
            rows: OnceCell::new(),
        });
        let _ = ctx.deregister_table(name);
        ctx.register_table(name, Arc::clone(&step) as Arc<dyn TableProvider>)
            .context(format!("registering {name}"))?;
        steps.push(step);
    }
    Ok(steps)
}
