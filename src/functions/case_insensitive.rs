//! Kusto's case-insensitive string operators with Kusto's folding: ASCII letters only
//! (`A-Z` ↔ `a-z`); every other character, `ſ` and `K` (Kelvin) included, compares as it is.
//! DataFusion's `ILIKE` and `lower()` fold Unicode, which would match names Kusto does not.
//!
//! - `contains_ci(haystack, needle)`: Kusto `contains`: substring test.
//! - `in_ci(x, v1, v2, ...)` or `in_ci(x, list)`: Kusto `in~`: whole-string equality with any.
//! - `in_exact(x, ...)`: Kusto `in`, the case-sensitive one.
//!
//! A null string reads as `""` (Kusto strings are never null), so the result is never null.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use memchr::{memchr, memchr2};

use super::kernels::{
    collect_string_constants, is_string_type, map_to_bool, scalar_string, scalar_to_string,
    string_values, to_columnar,
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
    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        Ok(match strip_empty_default(args) {
            Ok(args) => ExprSimplifyResult::Simplified(
                ScalarUDF::new_from_impl(ContainsCi::default()).call(args),
            ),
            Err(args) => ExprSimplifyResult::Original(args),
        })
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

/// How `in_ci` / `in_exact` compare a value with the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Folding {
    /// Kusto `in`: byte-for-byte equality.
    Exact,
    /// Kusto `in~`: equality after folding ASCII letters.
    AsciiCaseInsensitive,
}

impl Folding {
    fn key<'a>(self, value: &'a str) -> std::borrow::Cow<'a, str> {
        match self {
            Folding::Exact => value.into(),
            Folding::AsciiCaseInsensitive if value.bytes().any(|b| b.is_ascii_uppercase()) => {
                value.to_ascii_lowercase().into()
            }
            Folding::AsciiCaseInsensitive => value.into(),
        }
    }
}

/// `in_ci(x, v1, v2, ...)` / `in_ci(x, list)` (Kusto `in~`) and `in_exact(...)` (Kusto `in`).
/// The list may be long (the rule binds the rare service names here), so it is held in a hash
/// set, built once per thread for a bound list rather than once per batch.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct InList {
    name: &'static str,
    folding: Folding,
    signature: Signature,
}

impl InList {
    pub fn new(folding: Folding) -> Self {
        InList {
            name: match folding {
                Folding::Exact => "in_exact",
                Folding::AsciiCaseInsensitive => "in_ci",
            },
            folding,
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for InList {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let name = self.name;
        if arg_types.len() < 2 {
            return plan_err!("{name}(x, value, ...) needs a value to compare with");
        }
        if !is_string_type(&arg_types[0]) && arg_types[0] != DataType::Null {
            return plan_err!(
                "{name}: the first argument must be a string, got {}",
                arg_types[0]
            );
        }
        Ok(DataType::Boolean)
    }
    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        Ok(match strip_empty_default(args) {
            Ok(args) => ExprSimplifyResult::Simplified(
                ScalarUDF::new_from_impl(InList::new(self.folding)).call(args),
            ),
            Err(args) => ExprSimplifyResult::Original(args),
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (value, list) = args.args.split_first().expect("checked by return_type");
        let candidates = candidate_set(self.name, self.folding, list)?;
        let all_scalar = matches!(value, ColumnarValue::Scalar(_));
        let value = value.to_array(args.number_rows)?;
        let result = map_to_bool(&value, &mut |s| {
            candidates.contains(self.folding.key(s).as_ref())
        })?;
        to_columnar(result, all_scalar)
    }
}

type CandidateSet = HashSet<Box<str>, foldhash::fast::RandomState>;
/// A bound list, the folding it was read with, and its candidate set.
type CachedList = (Arc<dyn Array>, Folding, Arc<CandidateSet>);

thread_local! {
    /// Candidate sets of bound lists, by list: a bound list is one `Arc` for the whole query.
    /// Holding the `Arc` keeps its address from being reused by another list.
    static BOUND_LISTS: RefCell<Vec<CachedList>> =
        const { RefCell::new(Vec::new()) };
}

/// The comparison keys of the list arguments (strings, or lists of strings).
fn candidate_set(
    function: &str,
    folding: Folding,
    list: &[ColumnarValue],
) -> Result<Arc<CandidateSet>> {
    if let [ColumnarValue::Scalar(ScalarValue::List(bound))] = list {
        let bound: Arc<dyn Array> = bound.clone();
        let cached = BOUND_LISTS.with_borrow(|lists| {
            lists
                .iter()
                .find(|(l, f, _)| Arc::ptr_eq(l, &bound) && *f == folding)
                .map(|(_, _, set)| Arc::clone(set))
        });
        if let Some(set) = cached {
            return Ok(set);
        }
        let set = Arc::new(build_candidate_set(function, folding, list)?);
        BOUND_LISTS.with_borrow_mut(|lists| {
            if lists.len() >= 8 {
                lists.remove(0);
            }
            lists.push((bound, folding, Arc::clone(&set)));
        });
        return Ok(set);
    }
    Ok(Arc::new(build_candidate_set(function, folding, list)?))
}

fn build_candidate_set(
    function: &str,
    folding: Folding,
    list: &[ColumnarValue],
) -> Result<CandidateSet> {
    let mut values = Vec::new();
    for (i, arg) in list.iter().enumerate() {
        let ColumnarValue::Scalar(scalar) = arg else {
            return exec_err!("{function}: argument {} must be a constant", i + 2);
        };
        collect_string_constants(function, scalar, &mut values, i + 2)?;
    }
    Ok(values
        .iter()
        .map(|v| folding.key(v).into_owned().into_boxed_str())
        .collect())
}

/// These functions read a null string as `""` already, so the Kusto view's
/// `coalesce(column, '')` around their first argument can go: the Parquet reader then hands
/// them the column as decoded instead of a rebuilt copy. `Err` gives the arguments back
/// unchanged.
pub(crate) fn strip_empty_default(
    mut args: Vec<Expr>,
) -> std::result::Result<Vec<Expr>, Vec<Expr>> {
    match args.first().and_then(empty_default_inner) {
        Some(inner) => {
            args[0] = inner;
            Ok(args)
        }
        None => Err(args),
    }
}

/// `x` when `expr` is `kusto_string(x)` (the Kusto view's), `coalesce(x, '')` or its
/// simplified form `CASE WHEN x IS NOT NULL THEN x ELSE '' END`.
fn empty_default_inner(expr: &Expr) -> Option<Expr> {
    let is_empty = |e: &Expr| matches!(e, Expr::Literal(v, _) if scalar_to_string(v).is_some_and(|s| s.is_empty()));
    match expr {
        Expr::ScalarFunction(f) if f.func.name() == "coalesce" => match f.args.as_slice() {
            [x, empty] if is_empty(empty) => Some(x.clone()),
            _ => None,
        },
        Expr::ScalarFunction(f) if f.func.name() == super::kusto_string::NAME => {
            f.args.first().cloned()
        }
        Expr::Case(case) if case.expr.is_none() => {
            let ([(when, then)], Some(otherwise)) =
                (case.when_then_expr.as_slice(), &case.else_expr)
            else {
                return None;
            };
            match when.as_ref() {
                Expr::IsNotNull(x) if x == then && is_empty(otherwise) => Some(x.as_ref().clone()),
                _ => None,
            }
        }
        _ => None,
    }
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
        let list = [ColumnarValue::Scalar(ScalarValue::from("svchost.exe"))];
        let set = build_candidate_set("in_ci", Folding::AsciiCaseInsensitive, &list).unwrap();
        let in_ci = |v: &str| set.contains(Folding::AsciiCaseInsensitive.key(v).as_ref());
        assert!(in_ci("SvcHost.EXE"));
        assert!(!in_ci("svchost.exe "));
        assert!(!in_ci(""));
        assert!(!in_ci("ſvchost.exe"));
    }

    /// The rows of `sql`'s result, as the pretty printer draws them.
    async fn table_rows(sql: &str) -> Vec<String> {
        let ctx = datafusion::prelude::SessionContext::new();
        crate::functions::register_all(&ctx);
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string()
            .lines()
            .skip(3)
            .filter(|l| l.starts_with('|'))
            .map(str::to_string)
            .collect()
    }

    /// Per-row needles and bound lists go through the value-by-value path, in row order.
    #[tokio::test]
    async fn per_row_needles_and_lists_keep_row_order() {
        let sql = "SELECT contains_ci(a, b) AS c, in_ci(a, make_array('x', 'Q')) AS i \
                   FROM (VALUES ('xAbC', 'abc'), (NULL, 'a'), ('q', 'q'), ('', ''), ('x', 'y')) t(a, b)";
        assert_eq!(
            table_rows(sql).await,
            [
                "| true  | false |",
                "| false | false |",
                "| true  | true  |",
                "| true  | false |",
                "| false | true  |",
            ]
        );
    }

    /// `in_exact` is Kusto's case-sensitive `in`; a null reads as `""`, so it is in a list that
    /// holds `""`. A bound list is read once per thread and reused across batches.
    #[tokio::test]
    async fn in_exact_is_case_sensitive_and_reads_null_as_empty() {
        let sql = "SELECT in_exact(a, make_array('Rare.exe', '')) AS e, \
                          in_exact(a, 'rare.exe') AS one, \
                          in_ci(coalesce(a, ''), make_array('RARE.EXE')) AS ci \
                   FROM (VALUES ('Rare.exe'), ('rare.exe'), (NULL), ('Rare.exe ')) t(a)";
        for _ in 0..2 {
            assert_eq!(
                table_rows(sql).await,
                [
                    "| true  | false | true  |",
                    "| false | true  | true  |",
                    "| true  | false | false |",
                    "| false | false | false |",
                ]
            );
        }
    }
}
