//! The rule: Sentinel's "Rare Process as a Service", translated to the SQL in `sql/`, with its
//! parameters bound (never spliced into the SQL text).

pub mod materialize;

use datafusion::arrow::array::{ArrayRef, ListArray, StringArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::prelude::{DataFrame, SessionContext};
use std::sync::Arc;

use crate::error::{QueryContext, Result};
pub use materialize::{MaterializeOptions, Materialized};

/// `sql/get_services.sql`: the service launches, materialized once.
pub const GET_SERVICES_SQL: &str = include_str!("../../sql/get_services.sql");
/// `sql/detect.sql`: the keyed plan over the materialized GetServices.
pub const DETECT_SQL: &str = include_str!("../../sql/detect.sql");
/// `sql/literal.sql`: the KQL's join structure, the test oracle.
pub const LITERAL_SQL: &str = include_str!("../../sql/literal.sql");

/// The name the materialized service launches are registered under.
pub const GET_SERVICES_TABLE: &str = "GetServices";

/// The rule's allowlist as published.
pub const DEFAULT_ALLOWLIST: [&str; 5] = [
    "svchost.exe",
    "mssense.exe",
    "msmpeng.exe",
    "searchindexer.exe",
    "microsoftedgeupdate.exe",
];

/// The output columns, in order: other tools parse them.
pub const OUTPUT_COLUMNS: [&str; 18] = [
    "DeviceName",
    "ServiceProcess",
    "ServiceProcessCmdline",
    "ServiceProcessCreationTime",
    "ServiceProcessID",
    "ServiceProcessUser",
    "ServiceProcessSHA1",
    "ConnectedAddresses",
    "ConnectedUrls",
    "FilesModified",
    "FileModFolderPath",
    "FileModHA1s",
    "ChildProcesses",
    "ChildCommandlines",
    "DLLsLoaded",
    "DLLSHA1",
    "HostName",
    "DnsDomain",
];

#[derive(Debug, Clone)]
pub struct RuleParams {
    /// `now()` of the query, nanoseconds since the epoch (a whole tick).
    pub as_of: i64,
    /// `LookupTime`, nanoseconds.
    pub lookback: i64,
    /// A service is rare when launched fewer than this many times (`count_ < 6`).
    pub threshold: i64,
    /// Service names that never alert, matched whole and ignoring ASCII case (`!in~`).
    pub allowlist: Vec<String>,
    /// Keep `""` inside sets, as Kusto's `make_set` does (the default).
    pub keep_empty_in_sets: bool,
    /// Let a null ServiceProcessID / ServiceProcessCreationTime join a null (default: no).
    pub null_keys_match: bool,
}

impl RuleParams {
    pub fn new(as_of: i64) -> Self {
        RuleParams {
            as_of,
            lookback: 14 * 86_400 * 1_000_000_000,
            threshold: 6,
            allowlist: DEFAULT_ALLOWLIST.iter().map(|s| s.to_string()).collect(),
            keep_empty_in_sets: true,
            null_keys_match: false,
        }
    }

    /// The exclusive lower bound of the window: `ago(LookupTime)`.
    pub fn since(&self) -> i64 {
        self.as_of.saturating_sub(self.lookback)
    }

    /// The values bound to the SQL's `$name` placeholders.
    pub fn bindings(&self) -> ParamValues {
        let strings = |values: &[&str]| -> ScalarValue {
            let values: ArrayRef = Arc::new(StringArray::from(values.to_vec()));
            let list = ListArray::new(
                Arc::new(Field::new_list_field(DataType::Utf8, true)),
                OffsetBuffer::from_lengths([values.len()]),
                values,
                None,
            );
            ScalarValue::List(Arc::new(list))
        };
        let allowlist: Vec<&str> = self.allowlist.iter().map(String::as_str).collect();
        let unmatched: &[&str] = if self.keep_empty_in_sets { &[""] } else { &[] };
        ParamValues::from(vec![
            (
                "since",
                ScalarValue::TimestampNanosecond(Some(self.since()), Some("UTC".into())),
            ),
            ("allowlist", strings(&allowlist)),
            ("threshold", ScalarValue::Int64(Some(self.threshold))),
            (
                "keep_empty",
                ScalarValue::Boolean(Some(self.keep_empty_in_sets)),
            ),
            ("unmatched", strings(unmatched)),
            (
                "null_keys_match",
                ScalarValue::Boolean(Some(self.null_keys_match)),
            ),
        ])
    }
}

/// Which translation to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// GetServices materialized once, then sets per instance and keyed left joins.
    Keyed,
    /// The KQL's join structure with full multiplicity (small data only).
    Literal,
}

/// Runs the rule on the tables registered in `ctx` and returns the detections, sorted by the 7
/// keys. With [`Plan::Keyed`], GetServices stays registered in `ctx` while the returned guard
/// lives.
pub async fn run(
    ctx: &SessionContext,
    params: &RuleParams,
    plan: Plan,
    options: &MaterializeOptions,
) -> Result<(Vec<RecordBatch>, Option<Materialized>)> {
    match plan {
        Plan::Keyed => {
            let services = ctx
                .sql(GET_SERVICES_SQL)
                .await
                .and_then(|df| df.with_param_values(params.bindings()))
                .context("planning GetServices (sql/get_services.sql)")?;
            let materialized =
                materialize::materialize(ctx, services, GET_SERVICES_TABLE, options).await?;
            let batches = collect_with_schema(
                ctx.sql(DETECT_SQL)
                    .await
                    .and_then(|df| df.with_param_values(params.bindings()))
                    .context("planning the detection (sql/detect.sql)")?,
                "running the detection",
            )
            .await?;
            Ok((batches, Some(materialized)))
        }
        Plan::Literal => {
            let batches = collect_with_schema(
                ctx.sql(LITERAL_SQL)
                    .await
                    .and_then(|df| df.with_param_values(params.bindings()))
                    .context("planning the literal translation (sql/literal.sql)")?,
                "running the literal translation",
            )
            .await?;
            Ok((batches, None))
        }
    }
}

/// Collects `df`; with no rows, one empty batch, so writers still know the columns (a CSV
/// header, a valid empty Parquet file).
async fn collect_with_schema(df: DataFrame, what: &str) -> Result<Vec<RecordBatch>> {
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let mut batches = df.collect().await.context(what)?;
    batches.retain(|b| b.num_rows() > 0);
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(schema));
    }
    Ok(batches)
}
