//! `ago(span)`, `now()` at a fixed instant, and `bin(x, size)`.
//!
//! Datetimes come back as `Timestamp(Nanosecond, "UTC")`, the type of the lake's Kusto views.
//! A span is a Kusto span string (`'14d'`, `'1.5h'`, `'100ms'`, `'-1d'`), an SQL interval
//! without months (`INTERVAL '1 hour'`) or a duration.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, DurationNanosecondArray, Float64Array, Int64Array,
    TimestampNanosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Float64Type, Int64Type, TimeUnit, TimestampNanosecondType,
};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, lit,
};

use super::{is_span_type, span_nanos};
use crate::functions::kernels::to_columnar;
use crate::time::{floor_to_tick, utc_nanos_type};

fn utc_literal(nanos: Option<i64>) -> Expr {
    lit(ScalarValue::TimestampNanosecond(nanos, Some("UTC".into())))
}

/// The spans of `value` (one per row, or one for a scalar), in nanoseconds.
fn spans(value: &ColumnarValue, rows: usize, function: &str) -> Result<Vec<Option<i64>>> {
    match value {
        ColumnarValue::Scalar(s) => Ok(vec![span_nanos(s, function)?; rows.max(1)]),
        ColumnarValue::Array(a) => (0..a.len())
            .map(|row| span_nanos(&ScalarValue::try_from_array(a, row)?, function))
            .collect(),
    }
}

/// `ago(span)`: `now - span`, where now is the session's as-of instant if it has one, else the
/// query's start time (Kusto's `now()`: one instant for the whole query), floored to a tick.
///
/// Planning rewrites `ago(span)` into `ago(span, now)` with the instant as a literal (or the
/// whole call into a literal when `span` is one), so every row and every batch sees the same
/// now. `ago(span, at)` is therefore also `at - span`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Ago {
    as_of: Option<i64>,
    signature: Signature,
}

impl Ago {
    pub fn new(as_of: Option<i64>) -> Self {
        Self {
            as_of,
            signature: Signature::variadic_any(Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for Ago {
    fn name(&self) -> &str {
        "ago"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [span] | [span, DataType::Timestamp(_, _) | DataType::Null] if is_span_type(span) => {
                Ok(utc_nanos_type())
            }
            [span, ..] if !is_span_type(span) => plan_err!(
                "ago(span): span must be a timespan ('14d', '1h', INTERVAL '1 hour' or a \
                 duration), got {span}"
            ),
            _ => plan_err!("ago takes one argument, a timespan: ago('14d')"),
        }
    }
    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        if args.len() != 1 {
            return Ok(ExprSimplifyResult::Original(args));
        }
        let now = match self.as_of {
            Some(t) => t,
            None => match info
                .query_execution_start_time()
                .and_then(|t| t.timestamp_nanos_opt())
            {
                Some(t) => floor_to_tick(t),
                None => return Ok(ExprSimplifyResult::Original(args)),
            },
        };
        if let Expr::Literal(value, _) = &args[0] {
            let span = span_nanos(value, "ago")?;
            return Ok(ExprSimplifyResult::Simplified(utc_literal(
                span.and_then(|s| now.checked_sub(s)),
            )));
        }
        let udf = ScalarUDF::new_from_impl(Ago::new(self.as_of));
        let mut args = args;
        args.push(utc_literal(Some(now)));
        Ok(ExprSimplifyResult::Simplified(udf.call(args)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { args.number_rows };
        let spans = spans(&args.args[0], rows, "ago")?;
        let nows: Vec<Option<i64>> = match args.args.get(1) {
            Some(at) => {
                let at = cast(&at.to_array(rows)?, &utc_nanos_type())?;
                at.as_primitive::<TimestampNanosecondType>()
                    .iter()
                    .collect()
            }
            None => match self.as_of {
                Some(t) => vec![Some(t); rows],
                None => {
                    return exec_err!(
                        "ago: the query start time is unknown (ago is planned into a constant; \
                         was the optimizer skipped?)"
                    );
                }
            },
        };
        let result: TimestampNanosecondArray = spans
            .iter()
            .zip(&nows)
            .map(|(span, now)| now.zip(*span).and_then(|(n, s)| n.checked_sub(s)))
            .collect();
        to_columnar(Arc::new(result.with_timezone("UTC")), all_scalar)
    }
}

/// `now()` (and `current_timestamp`) fixed at the session's as-of instant, as a UTC datetime.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FixedNow {
    at: i64,
    aliases: Vec<String>,
    signature: Signature,
}

impl FixedNow {
    pub fn new(at: i64) -> Self {
        Self {
            at,
            aliases: vec!["current_timestamp".to_string()],
            signature: Signature::nullary(Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for FixedNow {
    fn name(&self) -> &str {
        "now"
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(utc_nanos_type())
    }
    fn simplify(&self, _args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        Ok(ExprSimplifyResult::Simplified(utc_literal(Some(self.at))))
    }
    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::TimestampNanosecond(
            Some(self.at),
            Some("UTC".into()),
        )))
    }
}

/// Kusto counts datetimes from 0001-01-01: the Unix epoch is this many nanoseconds after it.
const KUSTO_EPOCH_OFFSET_NANOS: i128 = 62_135_596_800 * 1_000_000_000;

/// Floors `nanos` to a multiple of `size` counted from 0001-01-01, as Kusto bins datetimes.
/// For spans that divide a day this is the same as flooring from the Unix epoch (1970-01-01
/// is day 719,162 of the Kusto calendar); for others (`7d`) it is not: Kusto's weeks start on
/// Mondays, as 0001-01-01 was one.
pub fn bin_datetime(nanos: i64, size: i64) -> Option<i64> {
    if size <= 0 {
        return None;
    }
    let since = nanos as i128 + KUSTO_EPOCH_OFFSET_NANOS;
    let floored = since.div_euclid(size as i128) * size as i128 - KUSTO_EPOCH_OFFSET_NANOS;
    i64::try_from(floored).ok()
}

/// Floors a timespan to a multiple of `size` (from zero).
fn bin_span(nanos: i64, size: i64) -> Option<i64> {
    if size <= 0 {
        return None;
    }
    nanos.div_euclid(size).checked_mul(size)
}

/// Kusto's `bin` on integers: the multiple of `size` at or below `value`; null for a size
/// that is not positive.
pub fn bin_int(value: i64, size: i64) -> Option<i64> {
    if size <= 0 {
        return None;
    }
    value.div_euclid(size).checked_mul(size)
}

/// Kusto's `bin` on reals.
pub fn bin_real(value: f64, size: f64) -> Option<f64> {
    if size.is_nan() || size <= 0.0 || value.is_nan() {
        return None;
    }
    Some((value / size).floor() * size)
}

/// What `bin` does for a pair of argument types.
#[derive(Debug, Clone, Copy, PartialEq)]
enum BinKind {
    Datetime,
    Span,
    Int,
    Real,
}

fn is_number(t: &DataType) -> bool {
    t.is_integer()
        || t.is_floating()
        || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..))
}

fn bin_kind(value: &DataType, size: &DataType) -> Result<BinKind> {
    let span_size = is_span_type(size) && !(*size == DataType::Null && is_number(value));
    match value {
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 if span_size => {
            Ok(BinKind::Datetime)
        }
        DataType::Duration(_) | DataType::Interval(_) if span_size => Ok(BinKind::Span),
        DataType::Null if span_size => Ok(BinKind::Datetime),
        v if (v.is_integer() || *v == DataType::Null)
            && (size.is_integer() || *size == DataType::Null) =>
        {
            Ok(BinKind::Int)
        }
        v if (is_number(v) || *v == DataType::Null)
            && (is_number(size) || *size == DataType::Null) =>
        {
            Ok(BinKind::Real)
        }
        _ => plan_err!(
            "bin(value, size): takes a datetime and a timespan ('1h', INTERVAL '1 hour'), a \
             timespan and a timespan, or two numbers; got {value} and {size}"
        ),
    }
}

/// `bin(value, size)` (Kusto's `bin`, also called `floor`): rounds down to a multiple of `size`.
/// Null value, null size or a size that is not positive give null.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Bin {
    signature: Signature,
}

impl Default for Bin {
    fn default() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Bin {
    fn name(&self) -> &str {
        "bin"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let [value, size] = arg_types else {
            return plan_err!("bin(value, size) takes 2 arguments");
        };
        Ok(match bin_kind(value, size)? {
            BinKind::Datetime => utc_nanos_type(),
            BinKind::Span => DataType::Duration(TimeUnit::Nanosecond),
            BinKind::Int => DataType::Int64,
            BinKind::Real => DataType::Float64,
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value, size] = args.args.as_slice() else {
            return exec_err!("bin takes 2 arguments");
        };
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { args.number_rows };
        let kind = bin_kind(&value.data_type(), &size.data_type())?;
        let values = value.to_array(rows)?;
        let result: ArrayRef = match kind {
            BinKind::Datetime | BinKind::Span => {
                let sizes = spans(size, rows, "bin")?;
                let nanos: Vec<Option<i64>> = if kind == BinKind::Datetime {
                    let v = cast(&values, &utc_nanos_type())?;
                    v.as_primitive::<TimestampNanosecondType>().iter().collect()
                } else {
                    (0..rows)
                        .map(|row| span_nanos(&ScalarValue::try_from_array(&values, row)?, "bin"))
                        .collect::<Result<_>>()?
                };
                let floor = if kind == BinKind::Datetime {
                    bin_datetime
                } else {
                    bin_span
                };
                let binned = nanos
                    .iter()
                    .zip(&sizes)
                    .map(|(v, s)| v.zip(*s).and_then(|(v, s)| floor(v, s)));
                if kind == BinKind::Datetime {
                    Arc::new(
                        binned
                            .collect::<TimestampNanosecondArray>()
                            .with_timezone("UTC"),
                    )
                } else {
                    Arc::new(binned.collect::<DurationNanosecondArray>())
                }
            }
            BinKind::Int => {
                let v = cast(&values, &DataType::Int64)?;
                let s = cast(&size.to_array(rows)?, &DataType::Int64)?;
                let (v, s) = (v.as_primitive::<Int64Type>(), s.as_primitive::<Int64Type>());
                Arc::new(
                    v.iter()
                        .zip(s.iter())
                        .map(|(v, s)| v.zip(s).and_then(|(v, s)| bin_int(v, s)))
                        .collect::<Int64Array>(),
                )
            }
            BinKind::Real => {
                let v = cast(&values, &DataType::Float64)?;
                let s = cast(&size.to_array(rows)?, &DataType::Float64)?;
                let (v, s) = (
                    v.as_primitive::<Float64Type>(),
                    s.as_primitive::<Float64Type>(),
                );
                Arc::new(
                    v.iter()
                        .zip(s.iter())
                        .map(|(v, s)| v.zip(s).and_then(|(v, s)| bin_real(v, s)))
                        .collect::<Float64Array>(),
                )
            }
        };
        debug_assert_eq!(result.len(), rows);
        to_columnar(result, all_scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::DAY;

    #[test]
    fn datetime_bins_count_from_year_one() {
        // 1970-01-01 is day 719,162 since 0001-01-01: whole days and hours bin as from 1970.
        assert_eq!(bin_datetime(DAY + 5, DAY), Some(DAY));
        assert_eq!(
            bin_datetime(-5, 3_600_000_000_000),
            Some(-3_600_000_000_000)
        );
        // 719,162 = 7 * 102,737 + 3: Kusto's 7d bins start on Mondays, 3 days before 1970-01-01
        // (a Thursday).
        assert_eq!(bin_datetime(0, 7 * DAY), Some(-3 * DAY));
        assert_eq!(bin_datetime(5, 0), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(bin_int(-1, 10), Some(-10));
        assert_eq!(bin_int(10, 10), Some(10));
        assert_eq!(bin_int(5, -1), None);
        assert_eq!(bin_real(4.5, 1.0), Some(4.0));
        assert_eq!(bin_real(-0.5, 1.0), Some(-1.0));
    }
}
