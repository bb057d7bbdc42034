//! An independent model of the KQL rule, written row by row in Rust from the rules of
//! docs/semantics.md (numbers in brackets), sharing no code with huntlake. The
//! generated-lake tests compare both SQL plans with it, so that a mistake the two plans share
//! (in the Kusto views, say) is caught too.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{Row, TICK};

/// The rule's parameters.
#[derive(Debug, Clone)]
pub struct Params {
    pub as_of: i64,
    pub lookback: i64,
    pub threshold: i64,
    pub allowlist: Vec<String>,
    pub keep_empty_in_sets: bool,
    pub null_keys_match: bool,
}

impl Params {
    pub fn new(as_of: i64) -> Self {
        Params {
            as_of,
            lookback: super::LOOKBACK,
            threshold: 6,
            allowlist: [
                "svchost.exe",
                "mssense.exe",
                "msmpeng.exe",
                "searchindexer.exe",
                "microsoftedgeupdate.exe",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            keep_empty_in_sets: true,
            null_keys_match: false,
        }
    }
}

/// The rows of the four tables, as the Parquet files hold them.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    pub process: Vec<Row>,
    pub network: Vec<Row>,
    pub file: Vec<Row>,
    pub image: Vec<Row>,
}

/// [1] a string is never null: a missing one is "".
fn text(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

/// [15] datetimes are 100-ns ticks.
fn ticks(value: Option<i64>) -> Option<i64> {
    value.map(|t| t - t.rem_euclid(TICK))
}

/// [2][3] `contains`: substring test folding ASCII letters only.
fn contains_ci(haystack: &str, needle: &str) -> bool {
    haystack
        .to_ascii_lowercase()
        .contains(&needle.to_ascii_lowercase())
}

/// [3][4] `in~`: whole-string equality folding ASCII letters only.
fn in_ci(value: &str, list: &[String]) -> bool {
    list.iter().any(|item| item.eq_ignore_ascii_case(value))
}

/// The 7 join keys: DeviceName, ServiceProcess, ServiceProcessCmdline,
/// ServiceProcessCreationTime, ServiceProcessID, ServiceProcessUser, ServiceProcessSHA1.
type Key = (
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    String,
    String,
);

fn key(row: &Row) -> Key {
    (
        text(&row.device),
        text(&row.service),
        text(&row.cmdline),
        ticks(row.created),
        row.pid,
        text(&row.account),
        text(&row.sha1),
    )
}

/// The three `where` lines every table goes through: [5] strict window open at the top,
/// [2] parent contains services.exe, [4] service not allowlisted.
fn passes_filters(row: &Row, p: &Params) -> bool {
    let since = p.as_of - p.lookback;
    ticks(row.time).is_some_and(|t| t > since)
        && contains_ci(&text(&row.parent), "services.exe")
        && !in_ci(&text(&row.service), &p.allowlist)
}

/// [9] the documented choice: a null ServiceProcessID / CreationTime joins nothing, unless
/// `null_keys_match`.
fn joinable(row: &Row, p: &Params) -> bool {
    p.null_keys_match || (row.pid.is_some() && row.created.is_some())
}

/// The sets one left-joined table adds to each instance: per key, one set per column.
fn right_sets(
    rows: &[Row],
    p: &Params,
    columns: &[fn(&Row) -> String],
) -> BTreeMap<Key, Vec<BTreeSet<String>>> {
    let mut sets: BTreeMap<Key, Vec<BTreeSet<String>>> = BTreeMap::new();
    for row in rows
        .iter()
        .filter(|r| passes_filters(r, p) && joinable(r, p))
    {
        let entry = sets
            .entry(key(row))
            .or_insert_with(|| vec![BTreeSet::new(); columns.len()]);
        for (set, column) in entry.iter_mut().zip(columns) {
            set.insert(column(row));
        }
    }
    sets
}

/// [10][11] make_set: distinct, "" kept (unless the switch says otherwise), sorted here.
/// [8] an instance no right row matched sees one row of "" in each right column.
fn finish(set: Option<&BTreeSet<String>>, p: &Params) -> Value {
    let values: Vec<String> = match set {
        Some(set) => set.iter().cloned().collect(),
        None => vec![String::new()],
    };
    Value::Array(
        values
            .into_iter()
            .filter(|v| p.keep_empty_in_sets || !v.is_empty())
            .map(Value::String)
            .collect(),
    )
}

/// [13][14] HostName and DnsDomain: split at the first dot, counting characters.
fn host_split(device: &str) -> (String, String) {
    let chars: Vec<char> = device.chars().collect();
    match chars.iter().position(|&c| c == '.') {
        Some(dot) => (
            chars[..dot].iter().collect(),
            chars[dot + 1..].iter().collect(),
        ),
        None => (device.to_string(), String::new()),
    }
}

/// A datetime as Kusto prints it: UTC, 7 fractional digits.
pub fn kusto_datetime_text(nanos: i64) -> String {
    let ticks = nanos - nanos.rem_euclid(TICK);
    let seconds = ticks.div_euclid(super::NANOS_PER_SECOND);
    let fraction = ticks.rem_euclid(super::NANOS_PER_SECOND) / TICK;
    let dt = chrono::DateTime::from_timestamp(seconds, 0).expect("a representable datetime");
    format!("{}.{fraction:07}Z", dt.format("%Y-%m-%dT%H:%M:%S"))
}

/// The rule's output for `tables`, one JSON object per detection, in no particular order.
pub fn expected(tables: &Tables, p: &Params) -> Vec<Value> {
    // GetServices (materialized once [12]).
    let services: Vec<&Row> = tables
        .process
        .iter()
        .filter(|r| passes_filters(r, p))
        .collect();

    // summarize count() by ServiceProcess, DeviceName | where count_ < 6   [6]
    let mut counts: BTreeMap<(String, String), i64> = BTreeMap::new();
    for row in &services {
        *counts
            .entry((text(&row.service), text(&row.device)))
            .or_default() += 1;
    }

    // join kind=inner GetServices on ServiceProcess, DeviceName   [7]: the launches of rare
    // services, grouped by instance, with their children.
    let mut instances: BTreeMap<Key, [BTreeSet<String>; 2]> = BTreeMap::new();
    for row in &services {
        if counts[&(text(&row.service), text(&row.device))] >= p.threshold {
            continue;
        }
        let sets = instances.entry(key(row)).or_default();
        sets[0].insert(text(&row.file_name));
        sets[1].insert(text(&row.command_line));
    }

    let network = right_sets(
        &tables.network,
        p,
        &[|r| text(&r.remote_ip), |r| text(&r.remote_url)],
    );
    let files = right_sets(
        &tables.file,
        p,
        &[
            |r| text(&r.file_name),
            |r| text(&r.folder_path),
            |r| text(&r.file_sha1),
        ],
    );
    let images = right_sets(
        &tables.image,
        p,
        &[|r| text(&r.file_name), |r| text(&r.file_sha1)],
    );

    instances
        .iter()
        .map(|(k, children)| {
            let (device, service, cmdline, created, pid, user, sha1) = k;
            let n = network.get(k);
            let f = files.get(k);
            let m = images.get(k);
            let (host, domain) = host_split(device);
            json!({
                "DeviceName": device,
                "ServiceProcess": service,
                "ServiceProcessCmdline": cmdline,
                "ServiceProcessCreationTime": created.map(kusto_datetime_text),
                "ServiceProcessID": pid,
                "ServiceProcessUser": user,
                "ServiceProcessSHA1": sha1,
                "ConnectedAddresses": finish(n.map(|s| &s[0]), p),
                "ConnectedUrls": finish(n.map(|s| &s[1]), p),
                "FilesModified": finish(f.map(|s| &s[0]), p),
                "FileModFolderPath": finish(f.map(|s| &s[1]), p),
                "FileModHA1s": finish(f.map(|s| &s[2]), p),
                "ChildProcesses": finish(Some(&children[0]), p),
                "ChildCommandlines": finish(Some(&children[1]), p),
                "DLLsLoaded": finish(m.map(|s| &s[0]), p),
                "DLLSHA1": finish(m.map(|s| &s[1]), p),
                "HostName": host,
                "DnsDomain": domain,
            })
        })
        .collect()
}
