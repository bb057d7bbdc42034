//! Kusto's case-insensitive string operators with Kusto's folding: ASCII letters only
//! (`A-Z` ↔ `a-z`); every other character, `ſ` and `K` (Kelvin) included, compares as it is.
//! DataFusion's `ILIKE` and `lower()` fold Unicode, which would match names Kusto does not.
//!
//! - `contains_ci(haystack, needle)`: Kusto `contains`: substring test.
//! - `in_ci(x, v1, v2, ...)` or `in_ci(x, list)`: Kusto `in~`: whole-string equality with any.
//!
//! A null string reads as `""` (Kusto strings are never null), so the result is never null.

use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use memchr::{memchr, memchr2};

use super::kernels::{
    is_string_type, map_to_bool, scalar_string, scalar_to_string, string_values, to_columnar,
};

/// True when `haystack` contains `needle_lower` ignoring ASCII case. `needle_lower` must already
/// be ASCII-lower-cased.
pub fn contains_ascii_ci(haystack: &[u8], needle_lower: &[u8]) -> bool {
    let Some((&first, rest)) = needle_lower.split_first() else {
        return true;
    };
    if haystack.len() < needle_lower.len() {
        return false;
    }
    let last_start = haystack.len() - needle_lower.len();
    let upper = first.to_ascii_uppercase();
    let mut from = 0;
    while from <= last_start {
        let window = &haystack[from..=last_start];
        let hit = if upper != first {
            memchr2(first, upper, window)
        } else {
            memchr(first, window)
        };
        let Some(offset) = hit else {
            return false;
        };
        let start = from + offset;
        if haystack[start + 1..start + needle_lower.len()].eq_ignore_ascii_case(rest) {
            return true;
        }
        from = start + 1;
    }
    false
}

/// Kusto `in~` for one value: equal, ignoring ASCII case, to one of `candidates`.
pub fn equals_any_ascii_ci(value: &str, candidates: &[String]) -> bool {
    candidates
        .iter()
        .any(|c| c.len() == value.len() && c.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ContainsCi {
    signature: Signature,
}

impl Default for ContainsCi {
    fn default() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for ContainsCi {
    fn name(&self) -> &str {
        "contains_ci"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        for t in arg_types {
            if !is_string_type(t) && *t != DataType::Null {
                return plan_err!("contains_ci(haystack, needle) takes strings, got {t}");
            }
        }
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [haystack, needle] = args.args.as_slice() else {
            return exec_err!("contains_ci takes 2 arguments");
        };
        match needle {
            ColumnarValue::Scalar(_) => {
                let needle = scalar_string(needle, "contains_ci", 2)?.to_ascii_lowercase();
                let all_scalar = matches!(haystack, ColumnarValue::Scalar(_));
                let haystack = haystack.to_array(args.number_rows)?;
                let result = map_to_bool(&haystack, &mut |s| {
                    contains_ascii_ci(s.as_bytes(), needle.as_bytes())
                })?;
                to_columnar(result, all_scalar)
            }
            ColumnarValue::Array(needles) => {
                // Per-row needles: rare, so the simple way.
                let haystack = string_values(&haystack.to_array(args.number_rows)?)?;
                let needles = string_values(needles)?;
                let result: BooleanArray = haystack
                    .iter()
                    .zip(&needles)
                    .map(|(h, n)| {
                        Some(contains_ascii_ci(
                            h.as_bytes(),
                            n.to_ascii_lowercase().as_bytes(),
                        ))
                    })
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(result)))
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct InCi {
    signature: Signature,
}

impl Default for InCi {
    fn default() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for InCi {
    fn name(&self) -> &str {
        "in_ci"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if arg_types.len() < 2 {
            return plan_err!("in_ci(x, value, ...) needs a value to compare with");
        }
        if !is_string_type(&arg_types[0]) && arg_types[0] != DataType::Null {
            return plan_err!(
                "in_ci: the first argument must be a string, got {}",
                arg_types[0]
            );
        }
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (value, list) = args.args.split_first().expect("checked by return_type");
        let mut candidates = Vec::new();
        for (i, arg) in list.iter().enumerate() {
            let ColumnarValue::Scalar(scalar) = arg else {
                return exec_err!("in_ci: argument {} must be a constant", i + 2);
            };
            collect_candidates(scalar, &mut candidates, i + 2)?;
        }
        let all_scalar = matches!(value, ColumnarValue::Scalar(_));
        let value = value.to_array(args.number_rows)?;
        let result = map_to_bool(&value, &mut |s| equals_any_ascii_ci(s, &candidates))?;
        to_columnar(result, all_scalar)
    }
}

/// Flattens a string or a list of strings (a bound allowlist) into `out`.
fn collect_candidates(scalar: &ScalarValue, out: &mut Vec<String>, position: usize) -> Result<()> {
    if let Some(s) = scalar_to_string(scalar) {
        out.push(s);
        return Ok(());
    }
    let values = match scalar {
        ScalarValue::List(list) => list.value(0),
        ScalarValue::LargeList(list) => list.value(0),
        ScalarValue::FixedSizeList(list) => list.value(0),
        other => {
            return exec_err!(
                "in_ci: argument {position} must be a string or a list of strings, got {}",
                other.data_type()
            );
        }
    };
    if !is_string_type(values.data_type()) {
        return exec_err!(
            "in_ci: argument {position} must be a list of strings, got a list of {}",
            values.data_type()
        );
    }
    out.extend(string_values(&values)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_folds_ascii_only() {
        assert!(contains_ascii_ci(
            b"C:\\Windows\\SERVICES.EXE",
            b"services.exe"
        ));
        assert!(contains_ascii_ci(b"services.exe", b"services.exe"));
        assert!(!contains_ascii_ci(b"", b"services.exe"));
        assert!(!contains_ascii_ci(b"services.ex", b"services.exe"));
        // U+017F (long s) folds to 's' in Unicode but not in Kusto.
        assert!(!contains_ascii_ci(
            "ſervices.exe".as_bytes(),
            b"services.exe"
        ));
        assert!(contains_ascii_ci(b"ssservices.exe", b"services.exe"));
        assert!(contains_ascii_ci(b"anything", b""));
    }

    #[test]
    fn in_ci_is_whole_string() {
        let list = vec!["svchost.exe".to_string()];
        assert!(equals_any_ascii_ci("SvcHost.EXE", &list));
        assert!(!equals_any_ascii_ci("svchost.exe ", &list));
        assert!(!equals_any_ascii_ci("", &list));
        assert!(!equals_any_ascii_ci("ſvchost.exe", &list));
    }

    /// Per-row needles and bound lists go through the value-by-value path, in row order.
    #[tokio::test]
    async fn per_row_needles_and_lists_keep_row_order() {
        let ctx = datafusion::prelude::SessionContext::new();
        crate::functions::register_all(&ctx);
        let sql = "SELECT contains_ci(a, b) AS c, in_ci(a, make_array('x', 'Q')) AS i \
                   FROM (VALUES ('xAbC', 'abc'), (NULL, 'a'), ('q', 'q'), ('', ''), ('x', 'y')) t(a, b)";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        let rows: Vec<&str> = text
            .lines()
            .skip(3)
            .filter(|l| l.starts_with('|'))
            .collect();
        assert_eq!(
            rows,
            [
                "| true  | false |",
                "| false | false |",
                "| true  | true  |",
                "| true  | false |",
                "| false | true  |",
            ]
        );
    }
}
