//! The functions huntlake adds to a DataFusion session: the rule's building blocks with Kusto's
//! semantics. [`register_all`] adds them all; the detection, the tests and the REPL call it.

pub mod case_insensitive;
pub mod host_split;
mod kernels;
pub mod kql;
pub mod kusto_datetime;
pub mod kusto_string;
pub mod make_set;
pub mod utf8_check;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

pub use host_split::split_device_name;
pub use kernels::string_values;

/// Registers every huntlake function in `ctx`.
pub fn register_all(ctx: &SessionContext) {
    ctx.register_udaf(AggregateUDF::from(make_set::MakeSet::default()));
    ctx.register_udf(ScalarUDF::from(case_insensitive::ContainsCi::default()));
    ctx.register_udf(ScalarUDF::from(case_insensitive::InList::new(
        case_insensitive::Folding::AsciiCaseInsensitive,
    )));
    ctx.register_udf(ScalarUDF::from(case_insensitive::InList::new(
        case_insensitive::Folding::Exact,
    )));
    ctx.register_udf(ScalarUDF::from(host_split::HostSplit::new(
        host_split::Part::HostName,
    )));
    ctx.register_udf(ScalarUDF::from(host_split::HostSplit::new(
        host_split::Part::DnsDomain,
    )));
    ctx.register_udf(ScalarUDF::from(kusto_datetime::KustoDatetime::default()));
    ctx.register_udf(ScalarUDF::from(kusto_string::KustoString::default()));
    ctx.register_udf(ScalarUDF::from(utf8_check::Utf8Checked::default()));
}

/// Registers the KQL-compatible functions (see [`kql`]) in `ctx`, next to [`register_all`]'s:
/// the aggregates `make_set_if`, `make_list`, `make_list_if`, `dcount`; the string predicates
/// `has`, `has_cs`, `has_any`, `startswith`, `startswith_cs`, `endswith`, `endswith_cs`,
/// `contains_cs`; `ago`, `bin`, `iff`, `isempty`, `isnotempty`, `strcat`, `tostring`,
/// `indexof`, `kql_substring` (Kusto's 0-based `substring`: SQL parses `substring(...)` and
/// `substr(...)` as syntax planned straight to DataFusion's 1-based `substr`, so that name cannot
/// be taken over), `parse_json` (`todynamic`), `extract_json` (`extractjson`).
///
/// DataFusion's `make_array` has a scalar alias `make_list`, which the SQL planner would find
/// before the aggregate; that alias is removed (`make_array` stays).
///
/// `as_of` (nanoseconds since the epoch) fixes Kusto's `now()`: with it, `ago(span)` is
/// `as_of - span` and `now()` / `current_timestamp` return `as_of`; without it, `ago` uses the
/// query's start time and DataFusion's `now()` stays.
pub fn register_kql(ctx: &SessionContext, as_of: Option<i64>) {
    use datafusion::execution::FunctionRegistry;
    use kql::{json, strings, text, time_fns};
    use make_set::{Kind, MakeSet};

    if ctx.udf("make_list").is_ok_and(|f| f.name() == "make_array") {
        ctx.deregister_udf("make_list");
    }
    for kind in [Kind::SetIf, Kind::List, Kind::ListIf, Kind::Dcount] {
        ctx.register_udaf(AggregateUDF::from(MakeSet::new(kind)));
    }
    for op in strings::Op::ALL {
        ctx.register_udf(ScalarUDF::from(strings::StringPredicate::new(op)));
    }
    ctx.register_udf(ScalarUDF::from(strings::HasAny::default()));
    ctx.register_udf(ScalarUDF::from(time_fns::Ago::new(as_of)));
    if let Some(at) = as_of {
        ctx.register_udf(ScalarUDF::from(time_fns::FixedNow::new(at)));
    }
    ctx.register_udf(ScalarUDF::from(time_fns::Bin::default()));
    ctx.register_udf(ScalarUDF::from(text::Iff::default()));
    ctx.register_udf(ScalarUDF::from(text::IsEmpty::new(false)));
    ctx.register_udf(ScalarUDF::from(text::IsEmpty::new(true)));
    ctx.register_udf(ScalarUDF::from(text::Strcat::default()));
    ctx.register_udf(ScalarUDF::from(text::ToString::default()));
    ctx.register_udf(ScalarUDF::from(text::IndexOf::default()));
    ctx.register_udf(ScalarUDF::from(text::Substring::default()));
    ctx.register_udf(ScalarUDF::from(json::ParseJson::default()));
    ctx.register_udf(ScalarUDF::from(json::ExtractJson::default()));
}
