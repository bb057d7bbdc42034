//! A Parquet scan rewrite (`rewrite.rs`): in a Parquet scan's pushed-down predicate, test
//! membership in a constant set first.
//!
//! With filter pushdown, the Parquet reader evaluates the conjuncts one after another, each on
//! the rows the earlier ones kept, and DataFusion orders them by the compressed size of the
//! columns they read. In the rule's right-side scans that puts `contains_ci(parent,
//! 'services.exe')` (a tiny column, true for a third of the rows) before
//! `in_exact(InitiatingProcessFileName, $rare_services)` (true for a few rows in ten
//! thousand): every later column is then decoded through a fragmented selection of a third of
//! the rows. Testing the set first leaves the other conjuncts a handful of rows; on the 100M-row
//! benchmark lake this took the detection step from 3.6 s to about 1.9 s (BENCHMARKS.md).
//!
//! Only scans with such a membership test are changed: their conjuncts are put in this order
//! (membership tests, then the rest as written) and DataFusion's size-based reordering is turned
//! off for them. Every other scan keeps DataFusion's order.

use std::sync::Arc;

use datafusion::datasource::physical_plan::{FileScanConfig, ParquetSource};
use datafusion::physical_expr::expressions::{Column, InListExpr, Literal};
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr, conjunction};

use super::rewrite::{ScanRewrite, with_rewritten_predicate};

/// The functions that test a column's membership in a constant list.
const MEMBERSHIP_FUNCTIONS: [&str; 2] = ["in_exact", "in_ci"];

#[derive(Debug, Default)]
pub struct MembershipFiltersFirst;

impl ScanRewrite for MembershipFiltersFirst {
    fn rewrite_scan(
        &self,
        parquet: &ParquetSource,
        config: &FileScanConfig,
    ) -> Option<FileScanConfig> {
        with_rewritten_predicate(parquet, config, |parquet, conjuncts| {
            let (mut first, rest): (Vec<_>, Vec<_>) = conjuncts
                .into_iter()
                .partition(|c| is_membership_test(c.as_ref()));
            if first.is_empty() {
                return None;
            }
            first.extend(rest);
            Some(
                parquet
                    .with_predicate(conjunction(first))
                    .with_reorder_filters(false),
            )
        })
    }
}

/// `in_exact(column, constants...)`, `in_ci(column, constants...)` or `column IN (constants)`.
fn is_membership_test(expr: &dyn PhysicalExpr) -> bool {
    let is_column = |e: &Arc<dyn PhysicalExpr>| e.downcast_ref::<Column>().is_some();
    let is_constant = |e: &Arc<dyn PhysicalExpr>| e.downcast_ref::<Literal>().is_some();
    if let Some(function) = expr.downcast_ref::<ScalarFunctionExpr>() {
        let args = function.args();
        return MEMBERSHIP_FUNCTIONS.contains(&function.name())
            && args.first().is_some_and(is_column)
            && args[1..].iter().all(is_constant);
    }
    if let Some(in_list) = expr.downcast_ref::<InListExpr>() {
        return !in_list.negated()
            && is_column(in_list.expr())
            && in_list.list().iter().all(is_constant);
    }
    false
}
