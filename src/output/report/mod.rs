//! The triage report: one self-contained HTML page per run that answers, for each detection,
//! "what did this service do, and is it anywhere else in the fleet?".
//!
//! [`gather`] reads what the page shows back from the lake, in one session and a few queries
//! for all detections at once (`sql/report_*.sql`): each instance's events from the four
//! tables (its timeline, bounded per kind), the fleet prevalence of each service name and
//! SHA-1, and the window's service launches per day. [`html::render`] writes the page.

pub mod html;

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::alerts::Instance;
use crate::error::{QueryContext, Result};
use crate::lake::Lake;
use crate::plan::{SessionOptions, new_session};
use crate::rule::RuleParams;
use crate::time::{DAY, parse_datetime};

const TIMELINE_SQL: &str = include_str!("../../../sql/report_timeline.sql");
const PREVALENCE_SQL: &str = include_str!("../../../sql/report_prevalence.sql");
const LAUNCHES_SQL: &str = include_str!("../../../sql/report_launches.sql");

/// Events shown per instance and kind (the full counts are shown too).
pub const DEFAULT_MAX_EVENTS: usize = 1000;

/// Events a report embeds at most, across its detections: past it, fewer per kind are shown
/// (at least [`MIN_EVENTS_PER_KIND`]), so that a report of 10,000 detections stays a file a
/// browser opens in seconds.
pub const EVENT_BUDGET: usize = 400_000;
pub const MIN_EVENTS_PER_KIND: usize = 25;

/// The events per kind a report of `detections` shows, at most `asked`.
pub fn events_per_kind(asked: usize, detections: usize) -> usize {
    let fair = EVENT_BUDGET / (detections.max(1) * EVENT_KINDS.len());
    asked.min(fair.max(MIN_EVENTS_PER_KIND))
}

/// How widespread a detection's service and binary are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prevalence {
    /// Devices where the service name ran as a service in the window.
    pub service_devices: i64,
    /// Devices where the service's SHA-1 ran, as a service or not, in the window.
    pub sha1_devices: i64,
    /// The first time the service name (as a service) or the SHA-1 was seen in the lake.
    pub first_seen: Option<i64>,
}

/// The kinds of events a timeline holds, in the order the report lists their counts.
pub const EVENT_KINDS: [&str; 4] = ["process", "network", "file", "image"];

/// One event of an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub time: i64,
    /// An index into [`EVENT_KINDS`].
    pub kind: usize,
    /// The child process, the remote address, the file or the DLL.
    pub what: String,
    /// The network or file event's ActionType ("" for the others).
    pub action: String,
    /// The child's command line, the URL, the file's hash, the DLL's hash.
    pub detail: String,
}

/// An instance's events, at most the bound per kind, in time order, with the full counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    pub events: Vec<Event>,
    pub totals: [u64; 4],
}

/// One detection as the report shows it.
#[derive(Debug, Clone)]
pub struct ReportedDetection {
    pub instance: Instance,
    /// The service's launches on the device in the window: the count that made it rare.
    pub launches: i64,
    pub prevalence: Prevalence,
    pub timeline: Timeline,
}

/// Everything the page shows.
#[derive(Debug, Clone)]
pub struct ReportData {
    pub lake: String,
    pub params: RuleParams,
    /// Rows of the files opened, per table.
    pub scanned: Vec<(String, u64)>,
    /// Seconds the run took (detection and report).
    pub seconds: f64,
    /// The window's days: (start, service launches that day).
    pub days: Vec<(i64, u64)>,
    pub detections: Vec<ReportedDetection>,
    pub max_events: usize,
}

/// Reads back from `lake` what the report shows for `instances` (see the module).
pub async fn gather(
    lake: &Lake,
    params: &RuleParams,
    instances: Vec<Instance>,
    session: &SessionOptions,
    max_events: usize,
) -> Result<(Vec<ReportedDetection>, Vec<(i64, u64)>)> {
    let ctx = session_for(lake, session).await?;
    register_instances(&ctx, &instances)?;
    let services = distinct(instances.iter().map(|i| i.text("ServiceProcess")));
    let hashes = distinct(instances.iter().map(|i| i.text("ServiceProcessSHA1")));
    let prevalence = query_prevalence(&ctx, params, &services, &hashes).await?;
    let (days, launches) = query_launches(&ctx, params, &services).await?;
    let mut timelines = query_timelines(&ctx, params, &services, max_events).await?;
    let detections = instances
        .into_iter()
        .enumerate()
        .map(|(index, instance)| {
            let launches = launches
                .get(&(
                    instance.text("DeviceName").to_string(),
                    instance.text("ServiceProcess").to_string(),
                ))
                .copied()
                .unwrap_or(0);
            let prevalence = prevalence_of(&prevalence, &instance);
            let mut timeline = timelines.remove(&(index as i64)).unwrap_or_default();
            timeline
                .events
                .sort_by(|a, b| a.time.cmp(&b.time).then(a.kind.cmp(&b.kind)));
            // Detections read back from an earlier run's output have no event times: the
            // timeline's first and last events stand in.
            let mut instance = instance;
            if instance.times.first.is_none() {
                instance.times.first = timeline.events.first().map(|e| e.time);
            }
            if instance.times.last.is_none() {
                instance.times.last = timeline.events.iter().map(|e| e.time).max();
            }
            ReportedDetection {
                instance,
                launches,
                prevalence,
                timeline,
            }
        })
        .collect();
    Ok((detections, days))
}

/// The fleet prevalence of each instance (for `detect --with-prevalence`), row-aligned.
pub async fn prevalence(
    lake: &Lake,
    params: &RuleParams,
    instances: &[Instance],
    session: &SessionOptions,
) -> Result<Vec<Prevalence>> {
    let ctx = session_for(lake, session).await?;
    let services = distinct(instances.iter().map(|i| i.text("ServiceProcess")));
    let hashes = distinct(instances.iter().map(|i| i.text("ServiceProcessSHA1")));
    let found = query_prevalence(&ctx, params, &services, &hashes).await?;
    Ok(instances.iter().map(|i| prevalence_of(&found, i)).collect())
}

type PrevalenceTable = HashMap<(String, String), (i64, Option<i64>)>;

fn prevalence_of(found: &PrevalenceTable, instance: &Instance) -> Prevalence {
    let service = found.get(&("service".into(), instance.text("ServiceProcess").into()));
    let sha1 = instance.text("ServiceProcessSHA1");
    let hash = (!sha1.is_empty())
        .then(|| found.get(&("sha1".into(), sha1.into())))
        .flatten();
    let first_seen = [service, hash]
        .into_iter()
        .flatten()
        .filter_map(|(_, first)| *first)
        .min();
    Prevalence {
        service_devices: service.map_or(0, |(devices, _)| *devices),
        sha1_devices: hash.map_or(0, |(devices, _)| *devices),
        first_seen,
    }
}

/// A session over `lake`'s tables with huntlake's functions.
async fn session_for(lake: &Lake, session: &SessionOptions) -> Result<SessionContext> {
    let options = SessionOptions {
        cluster: None,
        ..session.clone()
    };
    let ctx = new_session(&options)?;
    lake.register(&ctx).await?;
    Ok(ctx)
}

fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut values: Vec<&str> = values.filter(|v| !v.is_empty()).collect();
    values.sort_unstable();
    values.dedup();
    values
}

fn bindings(params: &RuleParams, extra: Vec<(&'static str, ScalarValue)>) -> ParamValues {
    let mut list = vec![(
        "since",
        ScalarValue::TimestampNanosecond(Some(params.since()), Some("UTC".into())),
    )];
    list.extend(extra);
    ParamValues::from(list)
}

async fn run(
    ctx: &SessionContext,
    sql: &str,
    params: ParamValues,
    what: &str,
) -> Result<Vec<RecordBatch>> {
    ctx.sql(sql)
        .await
        .and_then(|df| df.with_param_values(params))
        .context(format!("planning {what}"))?
        .collect()
        .await
        .context(format!("reading {what}"))
}

/// The reported instances as the table ReportInstances (Instance: their index).
fn register_instances(ctx: &SessionContext, instances: &[Instance]) -> Result<()> {
    let text = |name: &str| -> ArrayRef {
        Arc::new(
            instances
                .iter()
                .map(|i| i.get(name).as_str().map(str::to_string))
                .collect::<StringArray>(),
        )
    };
    let created: TimestampNanosecondArray = instances
        .iter()
        .map(|i| {
            i.get("ServiceProcessCreationTime")
                .as_str()
                .and_then(|t| parse_datetime(t).ok())
        })
        .collect::<TimestampNanosecondArray>()
        .with_timezone("UTC");
    let pids: Int64Array = instances
        .iter()
        .map(|i| i.get("ServiceProcessID").as_i64())
        .collect();
    let utc = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("Instance", DataType::Int64, false),
        Field::new("DeviceName", DataType::Utf8, true),
        Field::new("ServiceProcess", DataType::Utf8, true),
        Field::new("ServiceProcessCmdline", DataType::Utf8, true),
        Field::new("ServiceProcessCreationTime", utc, true),
        Field::new("ServiceProcessID", DataType::Int64, true),
        Field::new("ServiceProcessUser", DataType::Utf8, true),
        Field::new("ServiceProcessSHA1", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(0..instances.len() as i64)),
        text("DeviceName"),
        text("ServiceProcess"),
        text("ServiceProcessCmdline"),
        Arc::new(created),
        Arc::new(pids),
        text("ServiceProcessUser"),
        text("ServiceProcessSHA1"),
    ];
    let what = "keeping the reported instances";
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)
        .map_err(datafusion::error::DataFusionError::from)
        .context(what)?;
    let table = MemTable::try_new(schema, vec![vec![batch]]).context(what)?;
    ctx.register_table("ReportInstances", Arc::new(table))
        .context(what)?;
    Ok(())
}

async fn query_prevalence(
    ctx: &SessionContext,
    params: &RuleParams,
    services: &[&str],
    hashes: &[&str],
) -> Result<PrevalenceTable> {
    let bound = bindings(
        params,
        vec![
            ("services", crate::rule::string_list(services)),
            ("hashes", crate::rule::string_list(hashes)),
        ],
    );
    let batches = run(ctx, PREVALENCE_SQL, bound, "sql/report_prevalence.sql").await?;
    let mut found = HashMap::new();
    for batch in &batches {
        let kinds = strings(batch.column(0));
        let values = strings(batch.column(1));
        let devices = batch.column(2).as_primitive::<Int64Type>();
        let first = times(batch.column(3));
        for row in 0..batch.num_rows() {
            if let (Some(kind), Some(value)) = (&kinds[row], &values[row]) {
                found.insert(
                    (kind.clone(), value.clone()),
                    (devices.value(row), first[row]),
                );
            }
        }
    }
    Ok(found)
}

type Launches = HashMap<(String, String), i64>;

/// The window's launches per day, and per (device, service) of the reported services.
async fn query_launches(
    ctx: &SessionContext,
    params: &RuleParams,
    services: &[&str],
) -> Result<(Vec<(i64, u64)>, Launches)> {
    let allowlist: Vec<&str> = params
        .options
        .allowlist
        .iter()
        .map(String::as_str)
        .collect();
    let bound = bindings(
        params,
        vec![
            ("services", crate::rule::string_list(services)),
            ("allowlist", crate::rule::string_list(&allowlist)),
            (
                "epoch",
                ScalarValue::TimestampNanosecond(Some(0), Some("UTC".into())),
            ),
        ],
    );
    let batches = run(ctx, LAUNCHES_SQL, bound, "sql/report_launches.sql").await?;
    let (first_day, count) = day_bins(params);
    let mut days: Vec<(i64, u64)> = (0..count)
        .map(|d| (first_day + d as i64 * DAY, 0))
        .collect();
    let mut launches = HashMap::new();
    for batch in &batches {
        let day = times(batch.column(0));
        let service = strings(batch.column(1));
        let device = strings(batch.column(2));
        let n = batch.column(3).as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            if let Some(start) = day[row] {
                days[day_index(params, start)].1 += n.value(row) as u64;
            }
            if let (Some(service), Some(device)) = (&service[row], &device[row]) {
                *launches
                    .entry((device.clone(), service.clone()))
                    .or_insert(0) += n.value(row);
            }
        }
    }
    Ok((days, launches))
}

/// The UTC calendar days the window touches: the first day's start, and how many.
pub fn day_bins(params: &RuleParams) -> (i64, usize) {
    let first = params.since().div_euclid(DAY) * DAY;
    let last = (params.as_of - 1).div_euclid(DAY) * DAY;
    (first, ((last - first) / DAY + 1).max(1) as usize)
}

/// The bin of the instant `time` (an event after the as-of counts in the last day).
pub fn day_index(params: &RuleParams, time: i64) -> usize {
    let (first, count) = day_bins(params);
    ((time - first).div_euclid(DAY)).clamp(0, count as i64 - 1) as usize
}

async fn query_timelines(
    ctx: &SessionContext,
    params: &RuleParams,
    services: &[&str],
    max_events: usize,
) -> Result<HashMap<i64, Timeline>> {
    let bound = bindings(
        params,
        vec![
            ("services", crate::rule::string_list(services)),
            ("max_events", ScalarValue::Int64(Some(max_events as i64))),
        ],
    );
    let batches = run(ctx, TIMELINE_SQL, bound, "sql/report_timeline.sql").await?;
    let mut timelines: HashMap<i64, Timeline> = HashMap::new();
    for batch in &batches {
        let instance = batch.column(0).as_primitive::<Int64Type>();
        let kind = strings(batch.column(1));
        let time = times(batch.column(2));
        let what = strings(batch.column(3));
        let action = strings(batch.column(4));
        let detail = strings(batch.column(5));
        let total = batch.column(6).as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            let Some(kind) = kind[row]
                .as_deref()
                .and_then(|k| EVENT_KINDS.iter().position(|known| *known == k))
            else {
                continue;
            };
            let timeline = timelines.entry(instance.value(row)).or_default();
            timeline.totals[kind] = total.value(row) as u64;
            timeline.events.push(Event {
                time: time[row].unwrap_or_default(),
                kind,
                what: what[row].clone().unwrap_or_default(),
                action: action[row].clone().unwrap_or_default(),
                detail: detail[row].clone().unwrap_or_default(),
            });
        }
    }
    Ok(timelines)
}

/// A string column's values, whatever its string layout.
fn strings(array: &ArrayRef) -> Vec<Option<String>> {
    let plain = datafusion::arrow::compute::cast(array, &DataType::Utf8)
        .unwrap_or_else(|_| Arc::new(StringArray::new_null(array.len())));
    let plain = plain.as_string::<i32>();
    (0..plain.len())
        .map(|i| (!plain.is_null(i)).then(|| plain.value(i).to_string()))
        .collect()
}

/// A time column's values in nanoseconds.
fn times(array: &ArrayRef) -> Vec<Option<i64>> {
    let nanos =
        datafusion::arrow::compute::cast(array, &DataType::Timestamp(TimeUnit::Nanosecond, None))
            .unwrap_or_else(|_| Arc::new(TimestampNanosecondArray::new_null(array.len())));
    let nanos = nanos.as_primitive::<datafusion::arrow::datatypes::TimestampNanosecondType>();
    (0..nanos.len())
        .map(|i| (!nanos.is_null(i)).then(|| nanos.value(i)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::RuleOptions;

    #[test]
    fn large_reports_show_fewer_events_per_kind() {
        assert_eq!(events_per_kind(1000, 4), 1000);
        assert_eq!(events_per_kind(1000, 1000), 100);
        assert_eq!(events_per_kind(1000, 10_000), 25);
        assert_eq!(events_per_kind(10, 4), 10);
    }

    #[test]
    fn the_chart_has_one_bin_per_calendar_day_the_window_touches() {
        let at = |t: &str| parse_datetime(t).unwrap();
        let midnight = RuleParams::new(at("2026-11-19T00:00:00Z"), RuleOptions::default());
        assert_eq!(day_bins(&midnight), (at("2026-11-05T00:00:00Z"), 14));
        assert_eq!(day_index(&midnight, at("2026-11-18T23:59:59Z")), 13);
        let noon = RuleParams::new(at("2026-11-19T12:00:00Z"), RuleOptions::default());
        assert_eq!(day_bins(&noon), (at("2026-11-05T00:00:00Z"), 15));
        assert_eq!(day_index(&noon, at("2026-11-05T12:00:01Z")), 0);
        // After the as-of (the window is open at the top): the last day.
        assert_eq!(day_index(&noon, at("2026-11-25T00:00:00Z")), 14);
    }
}
