//! A Parquet scan rewrite (`rewrite.rs`): Parquet scans test the time window on the raw column,
//! so that they skip row groups and pages outside it by their statistics and decode the column
//! once.
//!
//! The Kusto view's times are `kusto_datetime(col)`, which floors to 100-ns ticks, and
//! DataFusion cannot prune with a predicate on a function's result. A bound on the floored
//! value is a bound on the raw value: with `S` a bound in ns, `kusto_datetime(t) > S` holds
//! exactly when `t >= floor100(S) + 100`, that is `t > floor100(S) + 99` (and likewise for
//! `>=`, `<`, `<=`). The rewrite replaces the test on the function by that test on the column.
//!
//! Each test is written as `t > L` or `t <= L`, never `>=` or `<`, because each file's reader
//! compares its own unit: DataFusion turns `CAST(t_us AS ns) > L` into `t_us > L / 1000`,
//! dividing towards zero. For a whole number of microseconds `t`, `t > L/1000` and
//! `t > floor(L/1000)` agree, and so do `t <= L/1000` and `t <= floor(L/1000)`; a `>=` would
//! let a row at exactly `L - 1 µs` through. Division towards zero floors only when `L >= 0`,
//! so a bound before 1970 is left as the function's test.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::datasource::physical_plan::{FileScanConfig, FileSource, ParquetSource};
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{BinaryExpr, Column, Literal};
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr, conjunction};

use super::rewrite::{ScanRewrite, with_rewritten_predicate};
use crate::time::TICK_NANOS;

#[derive(Debug, Default)]
pub struct WindowPruning;

impl ScanRewrite for WindowPruning {
    fn rewrite_scan(
        &self,
        parquet: &ParquetSource,
        config: &FileScanConfig,
    ) -> Option<FileScanConfig> {
        with_rewritten_predicate(parquet, config, |parquet, conjuncts| {
            let schema = parquet.table_schema().table_schema();
            let mut changed = false;
            let mut rewritten: Vec<Arc<dyn PhysicalExpr>> = Vec::with_capacity(conjuncts.len());
            for conjunct in conjuncts {
                let test = match raw_column_test(conjunct.as_ref(), schema) {
                    Some(raw) => {
                        changed = true;
                        raw
                    }
                    None => conjunct,
                };
                // The same window stated twice (the view's and a user's) is tested once.
                if !rewritten.iter().any(|c| c.as_ref() == test.as_ref()) {
                    rewritten.push(test);
                }
            }
            changed.then(|| parquet.with_predicate(conjunction(rewritten)))
        })
    }
}

/// For `kusto_datetime(col) op S` (either way round), the same test on `col`, when `col` is a
/// nanosecond timestamp column and the test's bound is not before 1970.
fn raw_column_test(expr: &dyn PhysicalExpr, schema: &Schema) -> Option<Arc<dyn PhysicalExpr>> {
    let binary = expr.downcast_ref::<BinaryExpr>()?;
    // Written as `kusto_datetime(col) op S`.
    let (function, literal, op) = match binary.op() {
        op @ (Operator::Gt | Operator::GtEq | Operator::Lt | Operator::LtEq) => {
            if binary.left().downcast_ref::<ScalarFunctionExpr>().is_some() {
                (binary.left(), binary.right(), *op)
            } else {
                (binary.right(), binary.left(), op.swap()?)
            }
        }
        _ => return None,
    };
    let function = function.downcast_ref::<ScalarFunctionExpr>()?;
    if function.name() != "kusto_datetime" || function.args().len() != 1 {
        return None;
    }
    let column = &function.args()[0];
    column.downcast_ref::<Column>()?;
    let DataType::Timestamp(TimeUnit::Nanosecond, zone) = column.data_type(schema).ok()? else {
        return None;
    };
    let ScalarValue::TimestampNanosecond(Some(bound), _) =
        literal.downcast_ref::<Literal>()?.value()
    else {
        return None;
    };
    let (raw_op, raw_bound) = raw_bound(op, *bound)?;
    if raw_bound < 0 {
        return None;
    }
    let raw_bound = ScalarValue::TimestampNanosecond(Some(raw_bound), zone);
    Some(Arc::new(BinaryExpr::new(
        Arc::clone(column),
        raw_op,
        Arc::new(Literal::new(raw_bound)),
    )))
}

/// `floor100(t) op bound` as `t > L` or `t <= L`, in ns.
fn raw_bound(op: Operator, bound: i64) -> Option<(Operator, i64)> {
    let floor = bound.div_euclid(TICK_NANOS) * TICK_NANOS;
    let ceil = if floor == bound {
        bound
    } else {
        floor.checked_add(TICK_NANOS)?
    };
    Some(match op {
        // floor100(t) > S  ⟺  t >= floor100(S) + 100
        Operator::Gt => (Operator::Gt, floor.checked_add(TICK_NANOS - 1)?),
        // floor100(t) >= S ⟺  t >= ceil100(S)
        Operator::GtEq => (Operator::Gt, ceil.checked_sub(1)?),
        // floor100(t) < S  ⟺  t < ceil100(S)
        Operator::Lt => (Operator::LtEq, ceil.checked_sub(1)?),
        // floor100(t) <= S ⟺  t < floor100(S) + 100
        Operator::LtEq => (Operator::LtEq, floor.checked_add(TICK_NANOS - 1)?),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kusto's test on the floored value, for comparison with the raw one.
    fn floored(op: Operator, t: i64, bound: i64) -> bool {
        let t = t.div_euclid(TICK_NANOS) * TICK_NANOS;
        match op {
            Operator::Gt => t > bound,
            Operator::GtEq => t >= bound,
            Operator::Lt => t < bound,
            Operator::LtEq => t <= bound,
            _ => unreachable!(),
        }
    }

    fn raw_test(op: Operator, t: i64, bound: i64) -> bool {
        match op {
            Operator::Gt => t > bound,
            Operator::LtEq => t <= bound,
            _ => unreachable!("raw tests are > or <="),
        }
    }

    #[test]
    fn the_raw_test_agrees_with_the_floored_one_in_every_unit() {
        let ops = [Operator::Gt, Operator::GtEq, Operator::Lt, Operator::LtEq];
        // Bounds on a tick, inside one, on a microsecond, and the times around each.
        for bound in [
            1_000_000_000_000,
            1_000_000_000_050,
            1_000_000_000_099,
            1_000_000_001_000,
        ] {
            for op in ops {
                let (raw_op, raw) = raw_bound(op, bound).unwrap();
                for t in bound - 2_100..bound + 2_100 {
                    // A nanosecond file compares the bound as it is.
                    assert_eq!(
                        raw_test(raw_op, t, raw),
                        floored(op, t, bound),
                        "{op} {bound}: t = {t} ns"
                    );
                    // A microsecond or millisecond file: DataFusion divides the bound
                    // towards zero into the file's unit.
                    for scale in [1_000, 1_000_000] {
                        if t % scale == 0 {
                            assert_eq!(
                                raw_test(raw_op, t / scale, raw / scale),
                                floored(op, t, bound),
                                "{op} {bound}: t = {t} ns in units of {scale} ns"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_bound_before_1970_keeps_the_functions_test() {
        use datafusion::arrow::datatypes::Field;
        use datafusion::logical_expr::ScalarUDF;
        use datafusion::physical_expr::ScalarFunctionExpr;

        let nanos = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
        let schema = Schema::new(vec![Field::new("t", nanos.clone(), true)]);
        let udf = Arc::new(ScalarUDF::from(
            crate::functions::kusto_datetime::KustoDatetime::default(),
        ));
        let test = |bound: i64| {
            let function = ScalarFunctionExpr::try_new(
                Arc::clone(&udf),
                vec![Arc::new(Column::new("t", 0)) as Arc<dyn PhysicalExpr>],
                &schema,
                Arc::new(datafusion::common::config::ConfigOptions::default()),
            )
            .unwrap();
            let literal = Literal::new(ScalarValue::TimestampNanosecond(
                Some(bound),
                Some("UTC".into()),
            ));
            BinaryExpr::new(Arc::new(function), Operator::Gt, Arc::new(literal))
        };
        let raw = raw_column_test(&test(1_000_000_000_000), &schema).unwrap();
        assert_eq!(raw.to_string(), "t@0 > 1000000000099");
        assert!(raw_column_test(&test(-1_500), &schema).is_none());
    }
}
