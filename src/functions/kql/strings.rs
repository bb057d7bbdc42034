//! Kusto's string predicates: `has`, `has_cs`, `has_any`, `startswith`, `startswith_cs`,
//! `endswith`, `endswith_cs`, `contains_cs` (`contains_ci` is Kusto's `contains`, in
//! [`case_insensitive`](crate::functions::case_insensitive)).
//!
//! The case-insensitive ones fold ASCII letters only. A null string reads as `""`; the result
//! is never null.
//!
//! `has` is a term test (docs: datatypes-string-operators, "What is a term?"): a term is a
//! maximal run of ASCII letters and digits, and the needle must match at term boundaries. The
//! needle may span several terms (`has('a-b-c', 'b-c')`), but each end of the needle that is a
//! letter or digit must sit at a term boundary of the string; an end that is punctuation needs
//! none. So a needle made only of punctuation (`'.'`) acts like `contains`.

use std::sync::Arc;

use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use memchr::memmem;

use crate::functions::kernels::collect_string_constants;
use crate::functions::kernels::{
    is_string_type, map_to_bool, scalar_to_string, string_values, to_columnar,
};

/// The binary predicates, each a Kusto operator written as a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Has,
    HasCs,
    StartsWith,
    StartsWithCs,
    EndsWith,
    EndsWithCs,
    ContainsCs,
}

impl Op {
    pub const ALL: [Op; 7] = [
        Op::Has,
        Op::HasCs,
        Op::StartsWith,
        Op::StartsWithCs,
        Op::EndsWith,
        Op::EndsWithCs,
        Op::ContainsCs,
    ];

    fn name(self) -> &'static str {
        match self {
            Op::Has => "has",
            Op::HasCs => "has_cs",
            Op::StartsWith => "startswith",
            Op::StartsWithCs => "startswith_cs",
            Op::EndsWith => "endswith",
            Op::EndsWithCs => "endswith_cs",
            Op::ContainsCs => "contains_cs",
        }
    }

    fn case_insensitive(self) -> bool {
        matches!(self, Op::Has | Op::StartsWith | Op::EndsWith)
    }

    /// The needle as the test wants it (ASCII-lower-cased for the case-insensitive ones).
    fn prepare(self, needle: &str) -> String {
        if self.case_insensitive() {
            needle.to_ascii_lowercase()
        } else {
            needle.to_string()
        }
    }

    /// The test, with `needle` already [prepared](Self::prepare).
    fn test(self, haystack: &str, needle: &str) -> bool {
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        match self {
            Op::Has => has_term(h, n, true),
            Op::HasCs => has_term(h, n, false),
            Op::StartsWith => h.len() >= n.len() && h[..n.len()].eq_ignore_ascii_case(n),
            Op::StartsWithCs => h.starts_with(n),
            Op::EndsWith => h.len() >= n.len() && h[h.len() - n.len()..].eq_ignore_ascii_case(n),
            Op::EndsWithCs => h.ends_with(n),
            Op::ContainsCs => memmem::find(h, n).is_some(),
        }
    }
}

/// The first position at or after `from` where `needle` occurs in `haystack`, comparing ASCII
/// letters without case when `ci` (then `needle` must be ASCII-lower-case).
fn find_from(haystack: &[u8], needle: &[u8], from: usize, ci: bool) -> Option<usize> {
    if from > haystack.len() {
        return None;
    }
    let window = &haystack[from..];
    if !ci {
        return memmem::find(window, needle).map(|p| from + p);
    }
    if needle.len() > window.len() {
        return None;
    }
    (0..=window.len() - needle.len())
        .find(|&p| window[p..p + needle.len()].eq_ignore_ascii_case(needle))
        .map(|p| from + p)
}

fn is_term_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// Kusto's `has`: `needle` occurs in `haystack` with each alphanumeric end of the needle at a
/// term boundary. An empty needle is found everywhere (as with `contains`).
pub fn has_term(haystack: &[u8], needle: &[u8], ci: bool) -> bool {
    let (Some(&first), Some(&last)) = (needle.first(), needle.last()) else {
        return true;
    };
    let (bound_start, bound_end) = (is_term_char(first), is_term_char(last));
    let mut from = 0;
    while let Some(start) = find_from(haystack, needle, from, ci) {
        let end = start + needle.len();
        let start_ok = !bound_start || start == 0 || !is_term_char(haystack[start - 1]);
        let end_ok = !bound_end || end == haystack.len() || !is_term_char(haystack[end]);
        if start_ok && end_ok {
            return true;
        }
        from = start + 1;
    }
    false
}

/// Checks that every argument is a string (or an untyped null).
fn check_strings(arg_types: &[DataType], usage: &str) -> Result<()> {
    for (i, t) in arg_types.iter().enumerate() {
        if !is_string_type(t) && *t != DataType::Null {
            return plan_err!("{usage}: argument {} must be a string, got {t}", i + 1);
        }
    }
    Ok(())
}

/// `has(s, term)`, `startswith(s, prefix)`, ...: see [`Op`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StringPredicate {
    op: Op,
    signature: Signature,
}

impl StringPredicate {
    pub fn new(op: Op) -> Self {
        Self {
            op,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for StringPredicate {
    fn name(&self) -> &str {
        self.op.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let usage = format!("{}(string, string)", self.op.name());
        check_strings(arg_types, &usage)?;
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let op = self.op;
        let [haystack, needle] = args.args.as_slice() else {
            return exec_err!("{} takes 2 arguments", op.name());
        };
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        match needle {
            ColumnarValue::Scalar(scalar) => {
                let Some(needle) = scalar_to_string(scalar) else {
                    return exec_err!("{}: the second argument must be a string", op.name());
                };
                let needle = op.prepare(&needle);
                let haystack = haystack.to_array(args.number_rows)?;
                let result = map_to_bool(&haystack, &mut |s| op.test(s, &needle))?;
                to_columnar(result, all_scalar)
            }
            ColumnarValue::Array(needles) => {
                let haystack = string_values(&haystack.to_array(args.number_rows)?)?;
                let needles = string_values(needles)?;
                let result: BooleanArray = haystack
                    .iter()
                    .zip(&needles)
                    .map(|(h, n)| Some(op.test(h, &op.prepare(n))))
                    .collect();
                to_columnar(Arc::new(result), all_scalar)
            }
        }
    }
}

/// `has_any(s, term1, term2, ...)` or `has_any(s, list)`: Kusto's `has_any`, true when `s`
/// has any of the (constant) terms, case-insensitively.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HasAny {
    signature: Signature,
}

impl Default for HasAny {
    fn default() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for HasAny {
    fn name(&self) -> &str {
        "has_any"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if arg_types.len() < 2 {
            return plan_err!("has_any(string, term, ...) needs at least one term");
        }
        if !is_string_type(&arg_types[0]) && arg_types[0] != DataType::Null {
            return plan_err!(
                "has_any(string, term, ...): argument 1 must be a string, got {}",
                arg_types[0]
            );
        }
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (value, terms) = args.args.split_first().expect("checked by return_type");
        let mut needles = Vec::new();
        for (i, term) in terms.iter().enumerate() {
            let ColumnarValue::Scalar(scalar) = term else {
                return exec_err!("has_any: argument {} must be a constant", i + 2);
            };
            collect_string_constants("has_any", scalar, &mut needles, i + 2)?;
        }
        let needles: Vec<String> = needles.iter().map(|n| n.to_ascii_lowercase()).collect();
        let all_scalar = matches!(value, ColumnarValue::Scalar(_));
        let value = value.to_array(args.number_rows)?;
        let result = map_to_bool(&value, &mut |s| {
            needles
                .iter()
                .any(|n| has_term(s.as_bytes(), n.as_bytes(), true))
        })?;
        to_columnar(result, all_scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms() {
        let has =
            |h: &str, n: &str| has_term(h.as_bytes(), n.to_ascii_lowercase().as_bytes(), true);
        assert!(has("hello-world", "world"));
        assert!(!has("helloworld", "world"));
        assert!(has("a.b", "."));
        assert!(has("North America", "NORTH"));
        assert!(has("a-b-c", "b-c"));
        assert!(!has("a-bc-d", "b-c"));
        assert!(has("svchost.exe", ".exe"));
        assert!(!has("svchost.exe", "ost.exe"));
        // A later occurrence can be the whole-term one.
        assert!(has("worldwide world", "world"));
        assert!(!has("", "a"));
    }
}
