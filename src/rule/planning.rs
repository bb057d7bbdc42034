//! How the rule's steps are planned faster than DataFusion plans a query it has never seen,
//! to the same physical plans.
//!
//! The steps' SQL is fixed, and on a small lake planning it costs more than running it: on
//! the sample lake (8,000 rows) DataFusion's planning was about half of the detection's time.
//! Two shortcuts, each checked by the tests to give the plans DataFusion's defaults give:
//!
//! - **Unused columns dropped before the optimizer.** Each table is read through its Kusto
//!   view, one expression per column (about 60), and the rule names a dozen of them. DataFusion
//!   drops the others in its last optimizer rule, after every other rule has walked them; here
//!   they are dropped from the plan as the SQL gives it.
//! - **One round of the logical optimizer** instead of DataFusion's default three, then one
//!   more expression simplification. The one thing a second round changed: a filter pushed
//!   into a scan through the Kusto view keeps the view's `kusto_string(...)` around the raw
//!   column, as the round's simplification ran before the pushdown.
//!
//! Setting `DATAFUSION_OPTIMIZER_MAX_PASSES` turns both off: the steps are then planned exactly
//! as DataFusion plans them, with that many rounds.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::optimizer::optimize_projections::OptimizeProjections;
use datafusion::optimizer::simplify_expressions::SimplifyExpressions;
use datafusion::optimizer::{OptimizerContext, OptimizerRule};
use datafusion::prelude::{DataFrame, SessionContext};

/// False when the user set DataFusion's optimizer rounds themselves.
fn shortcuts() -> bool {
    std::env::var_os("DATAFUSION_OPTIMIZER_MAX_PASSES").is_none()
}

/// `df` without the columns no part of its plan uses (a step's plan, before optimization).
pub(super) fn without_unused_columns(df: DataFrame) -> Result<DataFrame> {
    if !shortcuts() {
        return Ok(df);
    }
    let (state, plan) = df.into_parts();
    let plan = OptimizeProjections::new()
        .rewrite(plan, &OptimizerContext::new())?
        .data;
    Ok(DataFrame::new(state, plan))
}

/// Sets `ctx` to plan with one round of the logical optimizer and a last simplification.
pub(super) fn one_optimizer_round(ctx: &SessionContext) {
    if !shortcuts() {
        return;
    }
    let state = ctx.state_ref();
    let mut state = state.write();
    state.config_mut().options_mut().optimizer.max_passes = 1;
    let simplify = SimplifyExpressions::new();
    let last = state.optimizers().last().map(|rule| rule.name());
    if last != Some(simplify.name()) {
        drop(state);
        ctx.add_optimizer_rule(Arc::new(simplify));
    }
}
