//! The detection's bound lists, read from the materialized steps once they are made: the rare
//! service names (`$rare_services`), their devices (`$rare_devices`) and the range of the rare
//! instances' process ids (`$min_pid`, `$max_pid`).
//!
//! When both steps are in this process's memory the lists are read straight from their
//! batches. Three small queries did it before, in a session of their own, each planned,
//! optimized and run over the worker threads while the planning thread waited: reading the
//! batches took 5–20 ms off the sample lake's run (BENCHMARKS.md). Spilled steps, and steps a
//! cluster wrote to its scratch folder, are still read by those queries.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, StringArray, StringViewArray, TypedDictionaryArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type, Int64Type};
use datafusion::common::{DataFusionError, ScalarValue, TableReference};
use datafusion::prelude::{SessionContext, ident};

use super::steps::{GET_SERVICES, RARE_SERVICES};
use super::string_list;
use crate::error::{QueryContext, Result};

/// The bound lists of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundLists {
    /// The distinct service names of RareServices (null read as `""`).
    pub rare_services: ScalarValue,
    /// The distinct devices of RareServices (null read as `""`).
    pub rare_devices: ScalarValue,
    /// The smallest and largest ServiceProcessID of GetServices' rows whose (service, device)
    /// is in RareServices; None when there are none, or none with an id.
    pub pid_range: (Option<i64>, Option<i64>),
}

/// Reads the lists from the steps' batches when both are in memory, else from the tables
/// registered in `ctx`.
pub async fn bound_lists(
    ctx: &SessionContext,
    services: Option<&[RecordBatch]>,
    rare: Option<&[RecordBatch]>,
) -> Result<BoundLists> {
    if let (Some(services), Some(rare)) = (services, rare) {
        return from_batches(services, rare);
    }
    from_tables(ctx).await
}

/// The lists from the steps' own batches.
pub fn from_batches(services: &[RecordBatch], rare: &[RecordBatch]) -> Result<BoundLists> {
    let what = "reading the bound lists from RareServices";
    let rare_columns = rare
        .iter()
        .map(|batch| {
            Ok((
                string_column(batch, "ServiceProcess")?,
                string_column(batch, "DeviceName")?,
            ))
        })
        .collect::<datafusion::error::Result<Vec<_>>>()
        .context(what)?;
    let mut names = BTreeSet::new();
    let mut devices = BTreeSet::new();
    // The join's keys: a null key matches nothing, as in the query's inner join.
    let mut pairs: HashSet<(&str, &str)> = HashSet::new();
    for (name, device) in &rare_columns {
        let (name, device) = (
            Strings::of(name).context(what)?,
            Strings::of(device).context(what)?,
        );
        for row in 0..name.len() {
            let (n, d) = (name.get(row), device.get(row));
            names.insert(n.unwrap_or(""));
            devices.insert(d.unwrap_or(""));
            if let (Some(n), Some(d)) = (n, d) {
                pairs.insert((n, d));
            }
        }
    }
    let what = "finding the rare instances' process ids";
    let mut range: Option<(i64, i64)> = None;
    for batch in services {
        let name = string_column(batch, "ServiceProcess").context(what)?;
        let device = string_column(batch, "DeviceName").context(what)?;
        let pid = int64_column(batch, "ServiceProcessID").context(what)?;
        let (name, device) = (
            Strings::of(&name).context(what)?,
            Strings::of(&device).context(what)?,
        );
        let pid = pid.as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            if pid.is_null(row) {
                continue;
            }
            let (Some(n), Some(d)) = (name.get(row), device.get(row)) else {
                continue;
            };
            if pairs.contains(&(n, d)) {
                let id = pid.value(row);
                range = Some(range.map_or((id, id), |(lo, hi)| (lo.min(id), hi.max(id))));
            }
        }
    }
    let names: Vec<&str> = names.into_iter().collect();
    let devices: Vec<&str> = devices.into_iter().collect();
    Ok(BoundLists {
        rare_services: string_list(&names),
        rare_devices: string_list(&devices),
        pid_range: (range.map(|r| r.0), range.map(|r| r.1)),
    })
}

/// A string column read where it is: GetServices can be millions of rows, kept with
/// dictionary strings, and the range is found without copying them.
enum Strings<'a> {
    Dictionary(TypedDictionaryArray<'a, Int32Type, StringArray>),
    Plain(&'a StringArray),
    Views(&'a StringViewArray),
}

impl<'a> Strings<'a> {
    fn of(array: &'a ArrayRef) -> datafusion::error::Result<Self> {
        let strings = match array.data_type() {
            DataType::Dictionary(key, value)
                if **key == DataType::Int32 && **value == DataType::Utf8 =>
            {
                array
                    .as_dictionary::<Int32Type>()
                    .downcast_dict::<StringArray>()
                    .map(Strings::Dictionary)
            }
            DataType::Utf8 => Some(Strings::Plain(array.as_string::<i32>())),
            DataType::Utf8View => Some(Strings::Views(array.as_string_view())),
            _ => None,
        };
        strings.ok_or_else(|| {
            DataFusionError::Internal(format!("a string column of type {}", array.data_type()))
        })
    }

    fn len(&self) -> usize {
        match self {
            Strings::Dictionary(d) => d.len(),
            Strings::Plain(a) => a.len(),
            Strings::Views(a) => a.len(),
        }
    }

    /// Row `row`'s string; None when null.
    fn get(&self, row: usize) -> Option<&'a str> {
        match self {
            Strings::Dictionary(d) => {
                let key = d.keys();
                if key.is_null(row) {
                    return None;
                }
                let values = d.values();
                let index = key.value(row) as usize;
                (!values.is_null(index)).then(|| values.value(index))
            }
            Strings::Plain(a) => (!a.is_null(row)).then(|| a.value(row)),
            Strings::Views(a) => (!a.is_null(row)).then(|| a.value(row)),
        }
    }
}

/// Column `name` of `batch`, as strings [`Strings`] reads in place (cast when of another type).
fn string_column(batch: &RecordBatch, name: &str) -> datafusion::error::Result<ArrayRef> {
    let column = column(batch, name)?;
    match Strings::of(column) {
        Ok(_) => Ok(Arc::clone(column)),
        Err(_) => Ok(cast(column, &DataType::Utf8)?),
    }
}

/// Column `name` of `batch` as 64-bit integers.
fn int64_column(batch: &RecordBatch, name: &str) -> datafusion::error::Result<ArrayRef> {
    Ok(cast(column(batch, name)?, &DataType::Int64)?)
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> datafusion::error::Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| DataFusionError::Internal(format!("no column {name}")))
}

/// The lists by queries on the registered steps.
pub async fn from_tables(ctx: &SessionContext) -> Result<BoundLists> {
    let local = in_this_process(ctx).await?;
    Ok(BoundLists {
        rare_services: rare_values(&local, "ServiceProcess").await?,
        rare_devices: rare_values(&local, "DeviceName").await?,
        pid_range: rare_pid_range(&local).await?,
    })
}

/// A session on the same runtime holding only the materialized steps, without the distributed
/// planner: the bound lists are read from them in this process. They are a few hundred values;
/// planned across workers, each of these small queries would cost its own round of stages.
async fn in_this_process(ctx: &SessionContext) -> Result<SessionContext> {
    let state = ctx.state();
    let local =
        SessionContext::new_with_config_rt(state.config().clone(), Arc::clone(state.runtime_env()));
    for name in [GET_SERVICES.name, RARE_SERVICES.name] {
        let table = ctx
            .table_provider(TableReference::bare(name))
            .await
            .context(format!("reading the materialized {name}"))?;
        local
            .register_table(TableReference::bare(name), table)
            .context(format!("reading the materialized {name}"))?;
    }
    Ok(local)
}

/// The smallest and largest process id of the rare services' instances (None when there are
/// none, or none with an id).
async fn rare_pid_range(ctx: &SessionContext) -> Result<(Option<i64>, Option<i64>)> {
    let what = "finding the rare instances' process ids";
    let batches = ctx
        .sql(
            "SELECT min(g.ServiceProcessID) AS lo, max(g.ServiceProcessID) AS hi \
             FROM GetServices g JOIN RareServices r \
             ON g.ServiceProcess = r.ServiceProcess AND g.DeviceName = r.DeviceName",
        )
        .await
        .context(what)?
        .collect()
        .await
        .context(what)?;
    let value = |column: usize| -> Option<i64> {
        let batch = batches.iter().find(|b| b.num_rows() > 0)?;
        let array = cast(batch.column(column), &DataType::Int64).ok()?;
        let array = array.as_primitive::<Int64Type>();
        (!array.is_null(0)).then(|| array.value(0))
    };
    Ok((value(0), value(1)))
}

/// The distinct values of one column of the registered RareServices (the service names, the
/// devices), sorted, as a bound list.
async fn rare_values(ctx: &SessionContext, column: &str) -> Result<ScalarValue> {
    let what = format!("listing RareServices' distinct {column} values");
    let what = what.as_str();
    let batches = ctx
        .table(TableReference::bare(RARE_SERVICES.name))
        .await
        .and_then(|df| df.select(vec![ident(column)]))
        .and_then(|df| df.distinct())
        .context(what)?
        .collect()
        .await
        .context(what)?;
    let mut names = BTreeSet::new();
    for batch in &batches {
        names.extend(crate::functions::string_values(batch.column(0)).context(what)?);
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    Ok(string_list(&names))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{DictionaryArray, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Int32Type, Schema};
    use datafusion::datasource::MemTable;

    fn strings(values: &[Option<&str>]) -> ArrayRef {
        // As the steps keep them in memory: dictionaries.
        Arc::new(
            values
                .iter()
                .copied()
                .collect::<DictionaryArray<Int32Type>>(),
        )
    }

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap()
    }

    fn list(value: &ScalarValue) -> Vec<Option<String>> {
        let ScalarValue::List(list) = value else {
            panic!("not a list: {value:?}")
        };
        let values = list.value(0);
        let values = values.as_any().downcast_ref::<StringArray>().unwrap();
        values.iter().map(|v| v.map(str::to_string)).collect()
    }

    /// GetServices and RareServices where a naive reading goes wrong: a rare name launched on
    /// another device too (its process id is not a rare instance's), null keys (which join
    /// nothing), a null process id, and the same name twice.
    fn steps() -> (Vec<RecordBatch>, Vec<RecordBatch>) {
        let services = batch(vec![
            (
                "DeviceName",
                strings(&[Some("a"), Some("b"), Some("a"), None, Some("a"), Some("c")]),
            ),
            (
                "ServiceProcess",
                strings(&[
                    Some("x.exe"),
                    Some("x.exe"),
                    Some("y.exe"),
                    Some("x.exe"),
                    Some("x.exe"),
                    None,
                ]),
            ),
            (
                "ServiceProcessID",
                Arc::new(Int64Array::from(vec![
                    Some(40),
                    Some(9000),
                    Some(7),
                    Some(1),
                    None,
                    Some(2),
                ])),
            ),
        ]);
        let rare = batch(vec![
            (
                "ServiceProcess",
                strings(&[Some("x.exe"), Some("y.exe"), None]),
            ),
            ("DeviceName", strings(&[Some("a"), Some("a"), Some("c")])),
        ]);
        (vec![services], vec![rare])
    }

    #[test]
    fn the_batches_give_the_lists_and_the_joined_range() {
        let (services, rare) = steps();
        let lists = from_batches(&services, &rare).unwrap();
        let some = |v: &[&str]| v.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>();
        assert_eq!(list(&lists.rare_services), some(&["", "x.exe", "y.exe"]));
        assert_eq!(list(&lists.rare_devices), some(&["a", "c"]));
        // x.exe on b (9000), the null device (1) and the null service on c (2) are not rare
        // instances.
        assert_eq!(lists.pid_range, (Some(7), Some(40)));
    }

    #[test]
    fn plain_strings_and_string_views_read_the_same() {
        // Spilled steps keep the query's own types: string views, or plain strings.
        let (services, rare) = steps();
        let recast = |batches: &[RecordBatch], to: &DataType| -> Vec<RecordBatch> {
            batches
                .iter()
                .map(|b| {
                    let schema = b.schema();
                    let columns = schema
                        .fields()
                        .iter()
                        .zip(b.columns())
                        .map(|(f, c)| match c.data_type() {
                            DataType::Dictionary(_, _) => (f.name().as_str(), cast(c, to).unwrap()),
                            _ => (f.name().as_str(), Arc::clone(c)),
                        })
                        .collect();
                    batch(columns)
                })
                .collect()
        };
        let expected = from_batches(&services, &rare).unwrap();
        let views = recast(&services, &DataType::Utf8View);
        let plain = recast(&rare, &DataType::Utf8);
        assert_eq!(from_batches(&views, &plain).unwrap(), expected);
        let large = recast(&rare, &DataType::LargeUtf8);
        assert_eq!(from_batches(&views, &large).unwrap(), expected);
    }

    #[test]
    fn no_rare_instance_gives_no_range() {
        let (services, _) = steps();
        let rare = batch(vec![
            ("ServiceProcess", strings(&[Some("z.exe")])),
            ("DeviceName", strings(&[Some("a")])),
        ]);
        let lists = from_batches(&services, &[rare]).unwrap();
        assert_eq!(lists.pid_range, (None, None));
        assert_eq!(list(&lists.rare_devices), vec![Some("a".to_string())]);
    }

    #[tokio::test]
    async fn the_batches_and_the_queries_agree() {
        let (services, rare) = steps();
        // huntlake's session: its identifiers keep their case, as the queries spell them.
        let ctx = crate::plan::session::new_session(&Default::default()).unwrap();
        for (name, batches) in [(GET_SERVICES.name, &services), (RARE_SERVICES.name, &rare)] {
            let table = MemTable::try_new(batches[0].schema(), vec![batches.clone()]).unwrap();
            ctx.register_table(TableReference::bare(name), Arc::new(table))
                .unwrap();
        }
        let queried = from_tables(&ctx).await.unwrap();
        assert_eq!(queried, from_batches(&services, &rare).unwrap());
        // Which path runs: the batches when both steps are in memory.
        let either = bound_lists(&ctx, Some(&services), None).await.unwrap();
        assert_eq!(either, queried);
    }
}
