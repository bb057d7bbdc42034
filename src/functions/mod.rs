//! The functions huntlake adds to a DataFusion session: the rule's building blocks with Kusto's
//! semantics. [`register_all`] adds them all; the detection, the tests and the REPL call it.

pub mod case_insensitive;
pub mod host_split;
mod kernels;
pub mod kusto_datetime;
pub mod make_set;

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
}
