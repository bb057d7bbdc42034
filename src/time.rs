//! Kusto's time values: timespans written `14d`, `36h`, `90m`; datetimes as 100-ns ticks,
//! printed with 7 fractional digits (`2026-11-01T00:00:05.0040000Z`).

use chrono::{DateTime, SecondsFormat, Utc};
use datafusion::arrow::datatypes::{DataType, TimeUnit};

use crate::error::{HuntError, Result};

/// Nanoseconds in one second.
pub const SECOND: i64 = 1_000_000_000;
/// Nanoseconds in one hour.
pub const HOUR: i64 = 3_600 * SECOND;
/// Nanoseconds in one day.
pub const DAY: i64 = 24 * HOUR;
/// Nanoseconds in one Kusto tick.
pub const TICK_NANOS: i64 = 100;

const NANOS_PER_SECOND: i64 = SECOND;

/// The Arrow type of every huntlake datetime: UTC nanoseconds (Kusto's ticks fit exactly).
pub fn utc_nanos_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// Floors nanoseconds since the epoch to a whole tick (towards the past, also before 1970).
pub fn floor_to_tick(nanos: i64) -> i64 {
    nanos - nanos.rem_euclid(TICK_NANOS)
}

/// The start of the UTC day holding `nanos`.
pub fn day_start(nanos: i64) -> i64 {
    nanos - nanos.rem_euclid(DAY)
}

/// Parses a Kusto timespan literal (`14d`, `1.5h`, `90m`, `30s`, `250ms`, `10microseconds`,
/// `5ticks`) into nanoseconds. The span must be longer than zero (a lookback).
pub fn parse_span(text: &str) -> Result<i64> {
    let nanos = parse_span_signed(text)?;
    if nanos <= 0 {
        return Err(HuntError::usage(format!(
            "invalid timespan '{text}': it must be longer than zero"
        )));
    }
    Ok(nanos)
}

/// [`parse_span`] for any span Kusto can write: zero (`0s`) and negative (`-1d`) included.
pub fn parse_span_signed(text: &str) -> Result<i64> {
    let trimmed = text.trim();
    match trimmed.strip_prefix('-') {
        Some(rest) if !rest.starts_with(['-', '+']) => parse_unsigned_span(rest, text).map(|n| -n),
        _ => parse_unsigned_span(trimmed, text),
    }
}

fn parse_unsigned_span(trimmed: &str, text: &str) -> Result<i64> {
    let bad = || {
        HuntError::usage(format!(
            "invalid timespan '{text}': expected a number and a unit, the Kusto way \
             (14d, 36h, 90m, 30s, 500ms)"
        ))
    };
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let (number, unit) = trimmed.split_at(split);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(bad());
    }
    let unit_nanos: i64 = match unit.trim().to_ascii_lowercase().as_str() {
        "d" | "day" | "days" => 86_400 * NANOS_PER_SECOND,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600 * NANOS_PER_SECOND,
        "m" | "min" | "minute" | "minutes" => 60 * NANOS_PER_SECOND,
        "s" | "sec" | "second" | "seconds" => NANOS_PER_SECOND,
        "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1_000_000,
        "microsecond" | "microseconds" => 1_000,
        "tick" | "ticks" => TICK_NANOS,
        _ => return Err(bad()),
    };
    let nanos = match number.split_once('.') {
        None => number
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(unit_nanos)),
        Some((whole, fraction)) => {
            // Exact decimal arithmetic: 1.5h is 5,400 s, not 5,399.999... s.
            let digits = format!("{whole}{fraction}");
            let scale = 10i128.checked_pow(fraction.len() as u32);
            match (digits.parse::<i128>(), scale) {
                (Ok(d), Some(scale)) => i64::try_from(d * unit_nanos as i128 / scale).ok(),
                _ => None,
            }
        }
    }
    .ok_or_else(bad)?;
    Ok(nanos)
}

/// Parses an RFC 3339 datetime (`2026-11-19T12:00:00Z`, `2026-11-19T13:00:00+01:00`) into
/// nanoseconds since the epoch, floored to a whole tick as Kusto holds it.
pub fn parse_datetime(text: &str) -> Result<i64> {
    let parsed = DateTime::parse_from_rfc3339(text.trim()).map_err(|e| {
        HuntError::usage(format!(
            "invalid datetime '{text}': {e}; expected RFC 3339, e.g. 2026-11-19T12:00:00Z"
        ))
    })?;
    let nanos = parsed.timestamp_nanos_opt().ok_or_else(|| {
        HuntError::usage(format!(
            "invalid datetime '{text}': outside the years 1677-2262 that nanosecond timestamps hold"
        ))
    })?;
    Ok(floor_to_tick(nanos))
}

/// Now, floored to a tick.
pub fn now_nanos() -> i64 {
    floor_to_tick(Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX))
}

/// Formats nanoseconds since the epoch as Kusto prints a datetime: UTC, 7 fractional digits.
pub fn format_kusto_datetime(nanos: i64) -> String {
    let ticks = floor_to_tick(nanos);
    let dt = DateTime::<Utc>::from_timestamp_nanos(ticks);
    let base = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
    let fraction = ticks.rem_euclid(NANOS_PER_SECOND) / TICK_NANOS;
    format!("{base}.{fraction:07}Z")
}

/// Formats a span as Kusto prints a `timespan`: `[-][d.]hh:mm:ss[.fffffff]` (`14.00:00:00`,
/// `01:30:00`, `00:00:00.2500000`), floored to a tick.
pub fn format_kusto_timespan(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let ticks = (nanos as i128 / TICK_NANOS as i128).unsigned_abs();
    let fraction = ticks % 10_000_000;
    let seconds = ticks / 10_000_000;
    let (days, hours, minutes, secs) = (
        seconds / 86_400,
        seconds / 3_600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    let mut out = String::from(sign);
    if days > 0 {
        out.push_str(&format!("{days}."));
    }
    out.push_str(&format!("{hours:02}:{minutes:02}:{secs:02}"));
    if fraction > 0 {
        out.push_str(&format!(".{fraction:07}"));
    }
    out
}

/// RFC 3339 with seconds, for messages.
pub fn format_rfc3339(nanos: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(nanos).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Formats a span the Kusto way, in the largest unit that divides it (`14d`, `36h`, `90m`).
pub fn format_span(nanos: i64) -> String {
    const UNITS: [(i64, &str); 5] = [
        (86_400 * NANOS_PER_SECOND, "d"),
        (3_600 * NANOS_PER_SECOND, "h"),
        (60 * NANOS_PER_SECOND, "m"),
        (NANOS_PER_SECOND, "s"),
        (1_000_000, "ms"),
    ];
    for (unit, suffix) in UNITS {
        if nanos % unit == 0 {
            return format!("{}{suffix}", nanos / unit);
        }
    }
    format!("{}ticks", nanos / TICK_NANOS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans() {
        assert_eq!(parse_span("14d").unwrap(), 14 * 86_400 * NANOS_PER_SECOND);
        assert_eq!(parse_span("36h").unwrap(), 36 * 3_600 * NANOS_PER_SECOND);
        assert_eq!(parse_span("90m").unwrap(), 90 * 60 * NANOS_PER_SECOND);
        assert_eq!(parse_span("1.5h").unwrap(), 5_400 * NANOS_PER_SECOND);
        assert_eq!(parse_span("250ms").unwrap(), 250_000_000);
        assert_eq!(parse_span("3ticks").unwrap(), 300);
        for bad in [
            "",
            "14",
            "d",
            "14x",
            "-1d",
            "0d",
            "1.d",
            "1e3d",
            "99999999999d",
        ] {
            assert!(parse_span(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn signed_spans_and_timespan_format() {
        assert_eq!(
            parse_span_signed("-1d").unwrap(),
            -86_400 * NANOS_PER_SECOND
        );
        assert_eq!(parse_span_signed("0s").unwrap(), 0);
        assert!(parse_span_signed("--1d").is_err());
        assert!(parse_span_signed("-").is_err());
        assert_eq!(
            format_kusto_timespan(14 * 86_400 * NANOS_PER_SECOND),
            "14.00:00:00"
        );
        assert_eq!(format_kusto_timespan(5_400 * NANOS_PER_SECOND), "01:30:00");
        assert_eq!(format_kusto_timespan(250_000_000), "00:00:00.2500000");
        assert_eq!(format_kusto_timespan(-90 * NANOS_PER_SECOND), "-00:01:30");
        assert_eq!(format_kusto_timespan(0), "00:00:00");
    }

    #[test]
    fn datetimes() {
        let t = parse_datetime("2026-11-01T00:00:05.0040000Z").unwrap();
        assert_eq!(format_kusto_datetime(t), "2026-11-01T00:00:05.0040000Z");
        let t = parse_datetime("2026-11-01T01:00:00.123456789+01:00").unwrap();
        assert_eq!(format_kusto_datetime(t), "2026-11-01T00:00:00.1234567Z");
        assert_eq!(format_kusto_datetime(-50), "1969-12-31T23:59:59.9999999Z");
        assert!(parse_datetime("2026-11-01").is_err());
        assert!(parse_datetime("yesterday").is_err());
    }
}
