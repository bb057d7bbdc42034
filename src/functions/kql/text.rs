//! `tostring`, `strcat`, `isempty`, `isnotempty`, `iff`, `indexof`, `kql_substring` (Kusto's
//! `substring`).
//!
//! `tostring(x)` is Kusto's: null gives `""`, datetimes print as `2024-10-09T14:41:10.1234567Z`,
//! timespans as `1.02:03:04`, booleans as `true`/`false`, reals the .NET way (`1.5`, `1E+20`),
//! lists as compact JSON. `strcat`, `indexof` and `substring` read non-string arguments through
//! it, as Kusto does.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, StringArray, StringBuilder,
};
use datafusion::arrow::compute::kernels::zip::zip;
use datafusion::arrow::compute::{cast, is_null};
use datafusion::arrow::datatypes::{
    DataType, Float64Type, Int64Type, IntervalUnit, TimestampNanosecondType, UInt64Type,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::type_coercion::binary::type_union_resolution;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use serde_json::Value;

use crate::functions::kernels::{is_string_type, map_to_bool, to_columnar};
use crate::time::utc_nanos_type;
use crate::time::{format_kusto_datetime, format_kusto_timespan};

/// Formats a `real` as Kusto (.NET) prints it: the shortest text that reads back to the same
/// value, in exponent form (`1E+20`, `1E-05`) below 1e-5 and from 1e15 on.
pub fn format_real(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} writes an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} writes an integer exponent");
    if (-5..15).contains(&exponent) {
        format!("{value}")
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}E{sign}{:02}", exponent.abs())
    }
}

/// Every value of `array` as Kusto's `tostring` prints it; null gives `""`. No nulls out.
pub fn kusto_strings(array: &ArrayRef) -> Result<StringArray> {
    let rows = array.len();
    let mut out = StringBuilder::with_capacity(rows, 0);
    let data_type = array.data_type();
    match data_type {
        t if is_string_type(t) || *t == DataType::Null => {
            let utf8 = cast(array, &DataType::Utf8)?;
            for v in utf8.as_string::<i32>().iter() {
                out.append_value(v.unwrap_or(""));
            }
        }
        DataType::Boolean => {
            for v in array.as_boolean().iter() {
                out.append_value(match v {
                    None => "",
                    Some(true) => "true",
                    Some(false) => "false",
                });
            }
        }
        DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => {
            let floats = cast(array, &DataType::Float64)?;
            for v in floats.as_primitive::<Float64Type>().iter() {
                out.append_value(v.map(format_real).unwrap_or_default());
            }
        }
        t if t.is_signed_integer() => {
            let ints = cast(array, &DataType::Int64)?;
            for v in ints.as_primitive::<Int64Type>().iter() {
                out.append_value(v.map(|v| v.to_string()).unwrap_or_default());
            }
        }
        t if t.is_unsigned_integer() => {
            let ints = cast(array, &DataType::UInt64)?;
            for v in ints.as_primitive::<UInt64Type>().iter() {
                out.append_value(v.map(|v| v.to_string()).unwrap_or_default());
            }
        }
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => {
            // A zone-less value is read as a UTC wall clock, as kusto_datetime does.
            let nanos = cast(array, &utc_nanos_type())?;
            for v in nanos.as_primitive::<TimestampNanosecondType>().iter() {
                out.append_value(v.map(format_kusto_datetime).unwrap_or_default());
            }
        }
        DataType::Duration(_)
        | DataType::Interval(IntervalUnit::DayTime | IntervalUnit::MonthDayNano) => {
            for row in 0..rows {
                let scalar = datafusion::common::ScalarValue::try_from_array(array, row)?;
                match super::span_nanos(&scalar, "tostring") {
                    Ok(Some(nanos)) => out.append_value(format_kusto_timespan(nanos)),
                    Ok(None) => out.append_value(""),
                    // Months: no fixed length, print as DataFusion does.
                    Err(_) => out.append_value(scalar.to_string()),
                }
            }
        }
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _) => {
            for row in 0..rows {
                if array.is_null(row) {
                    out.append_value("");
                } else {
                    out.append_value(json_value(array, row)?.to_string());
                }
            }
        }
        _ => {
            let options = FormatOptions::default();
            let formatter = ArrayFormatter::try_new(array.as_ref(), &options)?;
            for row in 0..rows {
                if array.is_null(row) {
                    out.append_value("");
                } else {
                    out.append_value(formatter.value(row).to_string());
                }
            }
        }
    }
    Ok(out.finish())
}

/// One value as Kusto's `dynamic` would hold it, for printing lists as JSON.
fn json_value(array: &ArrayRef, row: usize) -> Result<Value> {
    if array.is_null(row) {
        return Ok(Value::Null);
    }
    let one = array.slice(row, 1);
    Ok(match array.data_type() {
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _) => {
            let values = match array.data_type() {
                DataType::List(_) => array.as_list::<i32>().value(row),
                DataType::LargeList(_) => array.as_list::<i64>().value(row),
                _ => array.as_fixed_size_list().value(row),
            };
            Value::Array(
                (0..values.len())
                    .map(|i| json_value(&values, i))
                    .collect::<Result<_>>()?,
            )
        }
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        t if t.is_integer() => {
            let v = cast(&one, &DataType::Int64)?;
            match v.as_primitive::<Int64Type>().iter().next().flatten() {
                Some(v) => Value::from(v),
                None => Value::String(kusto_strings(&one)?.value(0).to_string()),
            }
        }
        t if t.is_floating() => {
            let v = cast(&one, &DataType::Float64)?;
            let v = v.as_primitive::<Float64Type>().value(0);
            serde_json::Number::from_f64(v)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(format_real(v)))
        }
        _ => Value::String(kusto_strings(&one)?.value(0).to_string()),
    })
}

/// The arguments as arrays of `rows` rows, and whether they were all scalars.
fn arrays(args: &ScalarFunctionArgs) -> Result<(Vec<ArrayRef>, bool)> {
    let all_scalar = args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let rows = if all_scalar { 1 } else { args.number_rows };
    let arrays = args
        .args
        .iter()
        .map(|a| a.to_array(rows))
        .collect::<Result<Vec<_>>>()?;
    Ok((arrays, all_scalar))
}

/// `tostring(x)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToString {
    signature: Signature,
}

impl Default for ToString {
    fn default() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for ToString {
    fn name(&self) -> &str {
        "tostring"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (arrays, all_scalar) = arrays(&args)?;
        to_columnar(Arc::new(kusto_strings(&arrays[0])?), all_scalar)
    }
}

/// `strcat(a, b, ...)`: 1 to 64 arguments, each through `tostring`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Strcat {
    signature: Signature,
}

impl Default for Strcat {
    fn default() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Strcat {
    fn name(&self) -> &str {
        "strcat"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if arg_types.is_empty() || arg_types.len() > 64 {
            return plan_err!("strcat takes 1 to 64 arguments, got {}", arg_types.len());
        }
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (arrays, all_scalar) = arrays(&args)?;
        let parts = arrays
            .iter()
            .map(kusto_strings)
            .collect::<Result<Vec<_>>>()?;
        let rows = arrays.first().map_or(0, |a| a.len());
        let mut out = StringBuilder::with_capacity(rows, 0);
        let mut buffer = String::new();
        for row in 0..rows {
            buffer.clear();
            for part in &parts {
                buffer.push_str(part.value(row));
            }
            out.append_value(&buffer);
        }
        to_columnar(Arc::new(out.finish()), all_scalar)
    }
}

/// `isempty(x)` (null or `""`) and `isnotempty(x)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IsEmpty {
    negated: bool,
    signature: Signature,
}

impl IsEmpty {
    pub fn new(negated: bool) -> Self {
        Self {
            negated,
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for IsEmpty {
    fn name(&self) -> &str {
        if self.negated {
            "isnotempty"
        } else {
            "isempty"
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (arrays, all_scalar) = arrays(&args)?;
        let value = &arrays[0];
        let negated = self.negated;
        let result: ArrayRef = if is_string_type(value.data_type()) {
            map_to_bool(value, &mut |s| s.is_empty() != negated)?
        } else {
            let nulls = is_null(value.as_ref())?;
            Arc::new(
                nulls
                    .iter()
                    .map(|v| Some(v.unwrap_or(true) != negated))
                    .collect::<BooleanArray>(),
            )
        };
        to_columnar(result, all_scalar)
    }
}

/// `iff(cond, then, else)`: `then` where `cond` is true, `else` where it is false or null.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Iff {
    signature: Signature,
}

impl Default for Iff {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Iff {
    fn name(&self) -> &str {
        "iff"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [cond, a, b] = arg_types else {
            return plan_err!(
                "iff(cond, then, else) takes 3 arguments, got {}",
                arg_types.len()
            );
        };
        if !matches!(cond, DataType::Boolean | DataType::Null) {
            return plan_err!("iff(cond, then, else): cond must be a boolean, got {cond}");
        }
        let Some(common) = type_union_resolution(&[a.clone(), b.clone()]) else {
            return plan_err!(
                "iff(cond, then, else): then and else must have one type, got {a} and {b}"
            );
        };
        Ok(vec![DataType::Boolean, common.clone(), common])
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [_, a, _] => Ok(a.clone()),
            _ => plan_err!("iff(cond, then, else) takes 3 arguments"),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (arrays, all_scalar) = arrays(&args)?;
        let [cond, a, b] = arrays.as_slice() else {
            return exec_err!("iff takes 3 arguments");
        };
        let cond = cast(cond, &DataType::Boolean)?;
        let mask: BooleanArray = cond
            .as_boolean()
            .iter()
            .map(|v| Some(v.unwrap_or(false)))
            .collect();
        let b = if b.data_type() == a.data_type() {
            Arc::clone(b)
        } else {
            cast(b, a.data_type())?
        };
        to_columnar(zip(&mask, a, &b)?, all_scalar)
    }
}

/// Integer arguments as i64 (null stays null).
fn ints(array: &ArrayRef, function: &str, position: usize) -> Result<Int64Array> {
    let t = array.data_type();
    if !t.is_integer() && *t != DataType::Null {
        return exec_err!("{function}: argument {position} must be an integer, got {t}");
    }
    Ok(cast(array, &DataType::Int64)?
        .as_primitive::<Int64Type>()
        .clone())
}

fn check_int_args(function: &str, arg_types: &[DataType], from: usize) -> Result<()> {
    for (i, t) in arg_types.iter().enumerate().skip(from) {
        if !t.is_integer() && *t != DataType::Null {
            return plan_err!("{function}: argument {} must be an integer, got {t}", i + 1);
        }
    }
    Ok(())
}

/// The byte offset of code point `index` of `s` (`s.len()` at or past the end).
fn byte_offset(s: &str, index: usize) -> usize {
    if s.is_ascii() {
        return index.min(s.len());
    }
    s.char_indices().nth(index).map_or(s.len(), |(b, _)| b)
}

fn char_count(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// Kusto's `indexof`, in code points. `None` is Kusto's null: `start` still negative after
/// counting it from the end, `length < -1` or `occurrence < 0`.
///
/// Each occurrence is searched for in a window of `length` characters starting where the
/// search starts (`start`, then one past the previous match); that is what gives the docs'
/// `indexof("abcdefgabcdefg", "cde", 1, 10, 2) == 9`. A match must fit in its window.
pub fn kusto_indexof(
    source: &str,
    lookup: &str,
    start: i64,
    length: i64,
    occurrence: i64,
) -> Option<i64> {
    if length < -1 || occurrence < 0 {
        return None;
    }
    let chars = char_count(source) as i64;
    let start = if start < 0 { chars + start } else { start };
    if start < 0 {
        return None;
    }
    if start > chars || occurrence == 0 {
        return Some(-1);
    }
    let mut from = start;
    let mut found = -1;
    for _ in 0..occurrence {
        if from > chars {
            return Some(-1);
        }
        let window_end = if length == -1 {
            chars
        } else {
            from.saturating_add(length).min(chars)
        };
        let (from_b, end_b) = (
            byte_offset(source, from as usize),
            byte_offset(source, window_end as usize),
        );
        let Some(at) = memchr::memmem::find(&source.as_bytes()[from_b..end_b], lookup.as_bytes())
        else {
            return Some(-1);
        };
        // A UTF-8 needle only matches at character boundaries.
        found = from + char_count(&source[from_b..from_b + at]) as i64;
        from = found + 1;
    }
    Some(found)
}

/// `indexof(s, lookup[, start[, length[, occurrence]]])`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IndexOf {
    signature: Signature,
}

impl Default for IndexOf {
    fn default() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for IndexOf {
    fn name(&self) -> &str {
        "indexof"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if !(2..=5).contains(&arg_types.len()) {
            return plan_err!(
                "indexof(string, lookup[, start[, length[, occurrence]]]) takes 2 to 5 \
                 arguments, got {}",
                arg_types.len()
            );
        }
        check_int_args("indexof", arg_types, 2)?;
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (arrays, all_scalar) = arrays(&args)?;
        let source = kusto_strings(&arrays[0])?;
        let lookup = kusto_strings(&arrays[1])?;
        let int_arg = |i: usize| arrays.get(i).map(|a| ints(a, "indexof", i + 1)).transpose();
        let (start, length, occurrence) = (int_arg(2)?, int_arg(3)?, int_arg(4)?);
        let value = |a: &Option<Int64Array>, row: usize, default: i64| match a {
            None => Some(default),
            Some(a) if a.is_null(row) => None,
            Some(a) => Some(a.value(row)),
        };
        let result: Int64Array = (0..source.len())
            .map(|row| {
                let start = value(&start, row, 0)?;
                let length = value(&length, row, -1)?;
                let occurrence = value(&occurrence, row, 1)?;
                kusto_indexof(
                    source.value(row),
                    lookup.value(row),
                    start,
                    length,
                    occurrence,
                )
            })
            .collect();
        to_columnar(Arc::new(result), all_scalar)
    }
}

/// Kusto's `substring`, in code points: a negative `start` counts from the end (clamped to the
/// beginning), `length` runs to the end when absent; out of range gives `""`.
pub fn kusto_substring(source: &str, start: i64, length: Option<i64>) -> &str {
    let chars = char_count(source) as i64;
    let start = if start < 0 {
        (chars + start).max(0)
    } else {
        start
    };
    if start >= chars {
        return "";
    }
    let end = match length {
        None => chars,
        Some(length) if length <= 0 => return "",
        Some(length) => start.saturating_add(length).min(chars),
    };
    &source[byte_offset(source, start as usize)..byte_offset(source, end as usize)]
}

/// `kql_substring(s, start[, length])`: Kusto's `substring`, 0-based. The SQL parser reads
/// `substring(...)` and `substr(...)` (with commas or FROM/FOR) as syntax, planned by the
/// session's expression planners without a name lookup: [`KustoSubstringPlanner`] makes that
/// syntax mean this function (the shell's default), otherwise it is DataFusion's 1-based one.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Substring {
    signature: Signature,
}

impl Default for Substring {
    fn default() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Substring {
    fn name(&self) -> &str {
        "kql_substring"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if !(2..=3).contains(&arg_types.len()) {
            return plan_err!(
                "kql_substring(string, start[, length]) takes 2 or 3 arguments, got {}",
                arg_types.len()
            );
        }
        check_int_args("kql_substring", arg_types, 1)?;
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (arrays, all_scalar) = arrays(&args)?;
        let source = kusto_strings(&arrays[0])?;
        let start = ints(&arrays[1], "kql_substring", 2)?;
        let length = arrays
            .get(2)
            .map(|a| ints(a, "kql_substring", 3))
            .transpose()?;
        let mut out = StringBuilder::with_capacity(source.len(), 0);
        for row in 0..source.len() {
            let length = match &length {
                None => Some(None),
                Some(a) if a.is_null(row) => None,
                Some(a) => Some(Some(a.value(row))),
            };
            match (start.is_null(row), length) {
                (false, Some(length)) => {
                    out.append_value(kusto_substring(source.value(row), start.value(row), length))
                }
                // A null position: Kusto strings are never null, so "".
                _ => out.append_value(""),
            }
        }
        to_columnar(Arc::new(out.finish()), all_scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reals_print_the_dotnet_way() {
        assert_eq!(format_real(1.5), "1.5");
        assert_eq!(format_real(1.0), "1");
        assert_eq!(format_real(0.1), "0.1");
        assert_eq!(format_real(1e20), "1E+20");
        assert_eq!(format_real(1e14), "100000000000000");
        assert_eq!(format_real(1.25e-7), "1.25E-07");
        assert_eq!(format_real(0.0001), "0.0001");
        assert_eq!(format_real(f64::INFINITY), "Infinity");
    }

    #[test]
    fn indexof_windows() {
        assert_eq!(kusto_indexof("abcdefg", "cde", 0, -1, 1), Some(2));
        assert_eq!(kusto_indexof("abcdefg", "cde", 1, 2, 1), Some(-1));
        assert_eq!(kusto_indexof("abcdefgabcdefg", "cde", 1, 10, 2), Some(9));
        assert_eq!(kusto_indexof("abc", "b", -10, -1, 1), None);
        assert_eq!(kusto_indexof("äbc", "c", 0, -1, 1), Some(2));
        assert_eq!(kusto_indexof("abc", "", 3, -1, 1), Some(3));
        assert_eq!(kusto_indexof("abc", "a", 4, -1, 1), Some(-1));
    }

    #[test]
    fn substrings() {
        assert_eq!(kusto_substring("123456", -2, Some(2)), "56");
        assert_eq!(kusto_substring("123456", -10, Some(2)), "12");
        assert_eq!(kusto_substring("äöü", 1, None), "öü");
        assert_eq!(kusto_substring("abc", 5, None), "");
        assert_eq!(kusto_substring("abc", 1, Some(-1)), "");
    }
}

/// Plans the SQL `substring(...)` / `substr(...)` syntax (with commas or FROM/FOR) as Kusto's
/// 0-based [`Substring`]: put first among a session's expression planners.
#[derive(Debug, Default)]
pub struct KustoSubstringPlanner;

impl datafusion::logical_expr::planner::ExprPlanner for KustoSubstringPlanner {
    fn plan_substring(
        &self,
        args: Vec<datafusion::logical_expr::Expr>,
    ) -> Result<datafusion::logical_expr::planner::PlannerResult<Vec<datafusion::logical_expr::Expr>>>
    {
        let udf = std::sync::Arc::new(datafusion::logical_expr::ScalarUDF::from(
            Substring::default(),
        ));
        Ok(datafusion::logical_expr::planner::PlannerResult::Planned(
            udf.call(args),
        ))
    }
}
