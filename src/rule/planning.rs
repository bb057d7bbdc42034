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
//!
//! One choice changes the plans: on a small lake the aggregations finish in one partition
//! (below).

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::config::OptimizerOptions;
use datafusion::optimizer::optimize_projections::OptimizeProjections;
use datafusion::optimizer::simplify_expressions::SimplifyExpressions;
use datafusion::optimizer::{OptimizerContext, OptimizerRule};
use datafusion::prelude::{DataFrame, SessionContext};

/// The most process events (in the files a run opens) with which the rule's aggregations
/// finish in one partition.
///
/// DataFusion finishes an aggregation in as many partitions as there are cores, hashing the
/// partial results across them; on a small lake setting that up costs more than it saves (the
/// sample lake: about 10 ms of 100). Every aggregation of the rule descends from the process
/// events (GetServices is a filter of them, RareServices counts its launches, the detection
/// groups the events of the rare instances among them), and what reaches the finishing step
/// is the partial results, at most one per group and partition: on the S benchmark lake
/// (0.9 million process events in the window) RareServices' 59,000 launches reached it as
/// 225 rows, and each of the detection's aggregations as 25 or fewer. Up to this bound the
/// finishing step stays small on any number of cores; past it DataFusion's default is kept.
pub const ONE_PARTITION_AGGREGATION_MAX_PROCESS_EVENTS: u64 = 4_000_000;

/// DataFusion's setting that spreads the finishing step of aggregations across partitions.
const REPARTITION_AGGREGATIONS: &str = "DATAFUSION_OPTIMIZER_REPARTITION_AGGREGATIONS";

/// Has `ctx` finish the rule's aggregations in one partition when the lake holds at most
/// [`ONE_PARTITION_AGGREGATION_MAX_PROCESS_EVENTS`] process events, unless the user set
/// `DATAFUSION_OPTIMIZER_REPARTITION_AGGREGATIONS`. Not for a cluster, whose stages are split
/// at those repartitions. Returns whether it did.
pub(super) fn small_lake_aggregates_in_one_partition(
    ctx: &SessionContext,
    process_events: u64,
) -> bool {
    if process_events > ONE_PARTITION_AGGREGATION_MAX_PROCESS_EVENTS
        || std::env::var_os(REPARTITION_AGGREGATIONS).is_some()
    {
        return false;
    }
    set_optimizer_options(ctx, |optimizer| optimizer.repartition_aggregations = false);
    true
}

/// Changes `ctx`'s optimizer options for the queries it plans next.
pub(super) fn set_optimizer_options(
    ctx: &SessionContext,
    change: impl FnOnce(&mut OptimizerOptions),
) {
    let state = ctx.state_ref();
    change(&mut state.write().config_mut().options_mut().optimizer);
}

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
        set_optimizer_options(self.ctx, |optimizer| optimizer.max_passes = self.rounds);
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

    fn repartitions_aggregations(ctx: &SessionContext) -> bool {
        ctx.state()
            .config()
            .options()
            .optimizer
            .repartition_aggregations
    }

    #[test]
    fn only_a_small_lake_aggregates_in_one_partition() {
        if std::env::var_os(REPARTITION_AGGREGATIONS).is_some() {
            return;
        }
        let ctx = SessionContext::new();
        assert!(repartitions_aggregations(&ctx));
        let bound = ONE_PARTITION_AGGREGATION_MAX_PROCESS_EVENTS;
        assert!(!small_lake_aggregates_in_one_partition(&ctx, bound + 1));
        assert!(repartitions_aggregations(&ctx));
        assert!(small_lake_aggregates_in_one_partition(&ctx, bound));
        assert!(!repartitions_aggregations(&ctx));
    }
}
