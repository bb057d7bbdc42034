//! The two tables registered for each Defender table: `raw.<Table>`, a listing table over the
//! table's Parquet files cast to one schema, and `<Table>`, the Kusto view of it (strings never
//! null, datetimes as UTC 100-ns ticks, `TimeGenerated` from the table's time source).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig};
use datafusion::execution::FunctionRegistry;
use datafusion::prelude::{Expr, SessionContext, coalesce, ident, lit};

use super::statistics::FooterStatistics;
use super::{KustoType, LakeLocation, LakeTable, TimeSource};
use crate::error::{QueryContext, Result};

pub(super) fn raw_table(
    ctx: &SessionContext,
    lake: &LakeLocation,
    t: &LakeTable,
) -> Result<Arc<dyn TableProvider>> {
    let statistics = FooterStatistics::new(t.table.name(), t.table.arrow_schema(), &t.files);
    raw_table_with(ctx, lake, t, Arc::new(statistics))
}

/// [`raw_table`], its scans taking the files' statistics from `statistics`.
pub(super) fn raw_table_with(
    ctx: &SessionContext,
    lake: &LakeLocation,
    t: &LakeTable,
    statistics: Arc<FooterStatistics>,
) -> Result<Arc<dyn TableProvider>> {
    let schema = t.table.arrow_schema();
    if t.files.is_empty() {
        return Ok(Arc::new(EmptyTable::new(schema)));
    }
    let urls = t
        .files
        .iter()
        .map(|f| lake.table_url(&f.meta.location, false))
        .collect::<Result<Vec<_>>>()?;
    let format = ParquetFormat::default().with_options(ctx.copied_table_options().parquet);
    // The files were chosen already (see `files`): no extension filter here.
    let listing = ListingOptions::new(Arc::new(format)).with_file_extension("");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(listing)
        .with_schema(schema);
    let table = ListingTable::try_new(config)
        .context(format!("{}: listing table", t.table))?
        .with_cache(Some(statistics));
    Ok(Arc::new(table))
}

/// The Kusto view of a raw table: same columns, strings never null, datetimes as ticks, and
/// `TimeGenerated` from the table's time source.
pub(super) async fn kusto_view(
    ctx: &SessionContext,
    t: &LakeTable,
    raw: TableReference,
) -> Result<Arc<dyn TableProvider>> {
    let kusto_datetime = ctx
        .udf("kusto_datetime")
        .context("the kusto_datetime function")?;
    let utf8_checked = ctx
        .udf("utf8_checked")
        .context("the utf8_checked function")?;
    let kusto_string = ctx
        .udf(crate::functions::kusto_string::NAME)
        .context("the kusto_string function")?;
    let exprs: Vec<Expr> = t
        .table
        .columns()
        .iter()
        .map(|c| {
            let value = match (c.name.as_str(), c.kusto_type) {
                ("TimeGenerated", _) => kusto_datetime.call(vec![match &t.time {
                    TimeSource::Column(name) => ident(name),
                    TimeSource::TimeGeneratedElseTimestamp => {
                        coalesce(vec![ident("TimeGenerated"), ident("Timestamp")])
                    }
                }]),
                (_, KustoType::String | KustoType::Dynamic | KustoType::Guid)
                    if stored_as_bytes(t, &c.name) =>
                {
                    utf8_checked.call(vec![
                        kusto_string.call(vec![ident(&c.name)]),
                        lit(c.name.as_str()),
                    ])
                }
                (_, KustoType::String | KustoType::Dynamic | KustoType::Guid) => {
                    kusto_string.call(vec![ident(&c.name)])
                }
                (_, KustoType::Datetime) => kusto_datetime.call(vec![ident(&c.name)]),
                _ => ident(&c.name),
            };
            value.alias(&c.name)
        })
        .collect();
    let view = ctx
        .table(raw)
        .await
        .context(format!("reading {}", t.table))?
        .select(exprs)
        .context(format!("the Kusto view of {}", t.table))?
        .into_view();
    Ok(view)
}

/// True when some file of `t` stores string column `name` as raw bytes (BYTE_ARRAY without the
/// UTF8 annotation): those values reach the engine unchecked, so the view checks them.
pub(super) fn stored_as_bytes(t: &LakeTable, name: &str) -> bool {
    let is_string = t.table.column(name).is_some_and(|c| {
        matches!(
            c.kusto_type,
            KustoType::String | KustoType::Dynamic | KustoType::Guid
        )
    });
    is_string
        && t.files.iter().any(|f| {
            f.schema.field_with_name(name).is_ok_and(|field| {
                matches!(
                    field.data_type(),
                    DataType::Binary | DataType::LargeBinary | DataType::BinaryView
                )
            })
        })
}
