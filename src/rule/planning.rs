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

/// Sets `ctx` to plan with one round of the logical optimizer and a last simplification, until
/// the guard is dropped: the session's later queries (the shell's, the report's) get
/// DataFusion's rounds back. The last simplification stays; it changes no plan's meaning.
pub(super) fn one_optimizer_round(ctx: &SessionContext) -> OneOptimizerRound<'_> {
    let state = ctx.state_ref();
    let mut state = state.write();
    let rounds = state.config().options().optimizer.max_passes;
    if !shortcuts() {
        return OneOptimizerRound { ctx, rounds };
    }
    state.config_mut().options_mut().optimizer.max_passes = 1;
    let simplify = SimplifyExpressions::new();
    let last = state.optimizers().last().map(|rule| rule.name());
    if last != Some(simplify.name()) {
        drop(state);
        ctx.add_optimizer_rule(Arc::new(simplify));
    }
    OneOptimizerRound { ctx, rounds }
}

/// Gives a session its optimizer rounds back when dropped.
pub(super) struct OneOptimizerRound<'a> {
    ctx: &'a SessionContext,
    rounds: usize,
}

impl Drop for OneOptimizerRound<'_> {
    fn drop(&mut self) {
        let state = self.ctx.state_ref();
        state
            .write()
            .config_mut()
            .options_mut()
            .optimizer
            .max_passes = self.rounds;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rounds(ctx: &SessionContext) -> usize {
        ctx.state().config().options().optimizer.max_passes
    }

    #[test]
    fn the_session_gets_its_rounds_back() {
        let ctx = SessionContext::new();
        let default = rounds(&ctx);
        {
            let _round = one_optimizer_round(&ctx);
            if shortcuts() {
                assert_eq!(rounds(&ctx), 1);
                let state = ctx.state();
                let last = state.optimizers().last().map(|rule| rule.name());
                assert_eq!(last, Some("simplify_expressions"));
            }
        }
        assert_eq!(rounds(&ctx), default);
        // A second time adds no second simplification.
        let count = |ctx: &SessionContext| ctx.state().optimizers().len();
        let before = count(&ctx);
        drop(one_optimizer_round(&ctx));
        assert_eq!(count(&ctx), before);
    }
}
