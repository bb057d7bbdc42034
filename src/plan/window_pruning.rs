//! A physical optimizer rule: lets Parquet scans skip row groups and pages outside the time
//! window by their statistics.
//!
//! The rule's window is `kusto_datetime(TimeGenerated) > $since`, and DataFusion cannot prune
//! with a predicate on a function's result. Since `kusto_datetime(t)` floors `t` to 100 ns,
//! `kusto_datetime(t) > since` implies `t > since` (and `>=` implies `>=`): this rule adds that
//! implied bound on the raw column to the scan's predicate. It changes no answer (the exact test
//! stays), and the bound on the raw column is one DataFusion prunes with, in any file time unit.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{BinaryExpr, Column, Literal};
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr, conjunction};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;

use super::rewrite::rewrite_parquet_predicates;

#[derive(Debug, Default)]
pub struct WindowPruning;

impl PhysicalOptimizerRule for WindowPruning {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        rewrite_parquet_predicates(plan, |parquet, mut conjuncts| {
            let bounds: Vec<Arc<dyn PhysicalExpr>> = conjuncts
                .iter()
                .filter_map(|c| implied_bound(c.as_ref()))
                .filter(|bound| !conjuncts.iter().any(|c| c.as_ref() == bound.as_ref()))
                .collect();
            if bounds.is_empty() {
                return None;
            }
            conjuncts.extend(bounds);
            Some(parquet.with_predicate(conjunction(conjuncts)))
        })
    }

    fn name(&self) -> &str {
        "window_pruning"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// For `kusto_datetime(col) > lit` (or `>=`, or written the other way round), `col > lit`.
fn implied_bound(expr: &dyn PhysicalExpr) -> Option<Arc<dyn PhysicalExpr>> {
    let binary = expr.downcast_ref::<BinaryExpr>()?;
    let (function, literal, op) = match binary.op() {
        Operator::Gt | Operator::GtEq => (binary.left(), binary.right(), *binary.op()),
        Operator::Lt => (binary.right(), binary.left(), Operator::Gt),
        Operator::LtEq => (binary.right(), binary.left(), Operator::GtEq),
        _ => return None,
    };
    let function = function.downcast_ref::<ScalarFunctionExpr>()?;
    if function.name() != "kusto_datetime" || function.args().len() != 1 {
        return None;
    }
    let column = &function.args()[0];
    column.downcast_ref::<Column>()?;
    literal.downcast_ref::<Literal>()?;
    Some(Arc::new(BinaryExpr::new(
        Arc::clone(column),
        op,
        Arc::clone(literal),
    )))
}
