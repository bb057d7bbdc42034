//! KQL-compatible SQL functions: Kusto's scalar functions and aggregates under their Kusto
//! names, with Kusto's semantics (see docs/semantics.md and each module). The
//! shared rules:
//!
//! - a null string reads as `""` and string results are never null (Kusto strings cannot be);
//! - case-insensitive comparisons fold ASCII letters only (`ſ` and Kelvin `K` stay as they are);
//! - positions are 0-based and counted in characters (Unicode code points);
//! - datetimes come back as `Timestamp(Nanosecond, "UTC")`, the type of the lake's Kusto views.
//!
//! [`register_kql`](super::register_kql) adds them to a session.

pub mod json;
pub mod strings;
pub mod text;
pub mod time_fns;

use datafusion::arrow::datatypes::{DataType, IntervalUnit, TimeUnit};
use datafusion::common::{Result, ScalarValue, exec_datafusion_err, exec_err};

use crate::time::parse_span_signed;

/// True if `data_type` can be read as a timespan: a Kusto span string (`'1h'`), an SQL
/// interval without months, or a duration.
pub(crate) fn is_span_type(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => true,
        DataType::Interval(IntervalUnit::DayTime | IntervalUnit::MonthDayNano) => true,
        DataType::Duration(_) => true,
        DataType::Dictionary(_, value) => is_span_type(value),
        _ => false,
    }
}

/// Nanoseconds in one `unit`.
fn unit_nanos(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    }
}

/// A timespan value in nanoseconds: a Kusto span string (`'14d'`, `'1.5h'`, `'-30m'`), an SQL
/// interval without months (`INTERVAL '1 hour'`), or a duration. Null gives `None`.
pub(crate) fn span_nanos(value: &ScalarValue, function: &str) -> Result<Option<i64>> {
    let overflow = || exec_datafusion_err!("{function}: the timespan {value} is too long");
    match value {
        ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => match v {
            None => Ok(None),
            Some(text) => parse_span_signed(text)
                .map(Some)
                .map_err(|e| exec_datafusion_err!("{function}: {e}")),
        },
        ScalarValue::Dictionary(_, inner) => span_nanos(inner, function),
        ScalarValue::Null => Ok(None),
        ScalarValue::IntervalMonthDayNano(v) => match v {
            None => Ok(None),
            Some(v) if v.months != 0 => exec_err!(
                "{function}: {value} counts months, which have no fixed length; \
                 write the span in days, e.g. '30d' or INTERVAL '30 days'"
            ),
            Some(v) => (v.days as i64)
                .checked_mul(crate::time::DAY)
                .and_then(|d| d.checked_add(v.nanoseconds))
                .map(Some)
                .ok_or_else(overflow),
        },
        ScalarValue::IntervalDayTime(v) => match v {
            None => Ok(None),
            Some(v) => (v.days as i64)
                .checked_mul(crate::time::DAY)
                .and_then(|d| d.checked_add(v.milliseconds as i64 * 1_000_000))
                .map(Some)
                .ok_or_else(overflow),
        },
        ScalarValue::DurationSecond(v) => scale(*v, TimeUnit::Second).map_err(|_| overflow()),
        ScalarValue::DurationMillisecond(v) => {
            scale(*v, TimeUnit::Millisecond).map_err(|_| overflow())
        }
        ScalarValue::DurationMicrosecond(v) => {
            scale(*v, TimeUnit::Microsecond).map_err(|_| overflow())
        }
        ScalarValue::DurationNanosecond(v) => Ok(*v),
        other => exec_err!(
            "{function}: expected a timespan ('1h', '14d', INTERVAL '1 hour' or a duration), \
             got {}",
            other.data_type()
        ),
    }
}

fn scale(v: Option<i64>, unit: TimeUnit) -> std::result::Result<Option<i64>, ()> {
    match v {
        None => Ok(None),
        Some(v) => v.checked_mul(unit_nanos(unit)).map(Some).ok_or(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::IntervalDayTime;

    #[test]
    fn day_time_intervals_too_long_for_nanoseconds_are_an_error_not_a_wrap() {
        let span = |days, milliseconds| {
            span_nanos(
                &ScalarValue::IntervalDayTime(Some(IntervalDayTime { days, milliseconds })),
                "ago",
            )
        };
        assert_eq!(span(1, 500).unwrap(), Some(86_400_500_000_000));
        let error = span(i32::MAX, 0).unwrap_err().to_string();
        assert!(error.contains("too long"), "{error}");
    }
}
