//! One test per Kusto behaviour the translation must reproduce, each on data that a naive SQL
//! translation gets wrong. Rule numbers `[n]` refer to the table in
//! docs/semantics.md. Every detection run goes through both plans (keyed and
//! literal), which must agree (see `common::run_both`).

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;
use datafusion::arrow::array::{
    ArrayRef, AsArray, DictionaryArray, Int64Array, ListArray, StringArray, StringViewArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use huntlake::Plan;
use serde_json::{Value, json};

/// A lake holding these rows, one default-layout file per table (empty tables get a zero-row
/// file when the lake runs).
fn lake_of(process: &[Row], network: &[Row], file: &[Row], image: &[Row]) -> Lake {
    let lake = Lake::new();
    for (table, rows) in [
        (Table::Process, process),
        (Table::Network, network),
        (Table::File, file),
        (Table::Image, image),
    ] {
        if !rows.is_empty() {
            lake.add(table, rows);
        }
    }
    lake
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

fn names(list: &[&str]) -> Vec<String> {
    sorted(list.iter().map(|s| s.to_string()).collect())
}

// ---------------------------------------------------------------------------------------------
// [2][3] where InitiatingProcessParentFileName contains "services.exe"
// ---------------------------------------------------------------------------------------------

/// `contains` is a case-insensitive substring test folding ASCII only: `SERVICES.EXE` in a full
/// path matches, `ſervices.exe` (U+017F, which Unicode folds to `s`) does not, and a null
/// parent ("") never contains it. A `LIKE` would miss the first; `ILIKE`/`lower()` would take
/// the second.
#[test]
fn parent_contains_services_exe_ignoring_ascii_case_only() {
    let launch = |service: &str, parent: Option<&str>| {
        Row::launch(DEVICE, service, "cmd.exe").parent(parent)
    };
    let lake = lake_of(
        &[
            launch("upper.exe", Some("C:\\Windows\\System32\\SERVICES.EXE")),
            launch("mixed.exe", Some("Services.Exe")),
            launch("substring.exe", Some("not-services.exe.old")),
            launch("long-s.exe", Some("ſervices.exe")),
            launch("dotted-i.exe", Some("SERV\u{130}CES.EXE")),
            launch("explorer-child.exe", Some("explorer.exe")),
            launch("no-parent.exe", None),
            launch("empty-parent.exe", Some("")),
            launch("almost.exe", Some("services.ex")),
        ],
        &[],
        &[],
        &[],
    );
    let rows = detections(&lake);
    // `SERVİCES.EXE` (U+0130, which Unicode lower-cases to `i̇`) does not contain it either.
    assert_eq!(
        sorted(services(&rows)),
        names(&["mixed.exe", "substring.exe", "upper.exe"])
    );
}

// ---------------------------------------------------------------------------------------------
// [3][4] where InitiatingProcessFileName !in~ (WhiteList)
// ---------------------------------------------------------------------------------------------

/// `!in~` compares the whole name ignoring ASCII case only: `SvcHost.EXE` and `MSMPENG.EXE`
/// are allowlisted; `svchost.exe ` (trailing space), `svchost.exe.bak`, `ſvchost.exe` and
/// `searchindexer` are not, and alert.
#[test]
fn allowlist_is_whole_name_and_ascii_case_insensitive() {
    let process: Vec<Row> = [
        "SvcHost.EXE",
        "MSMPENG.EXE",
        "MicrosoftEdgeUpdate.exe",
        "svchost.exe ",
        "svchost.exe.bak",
        " svchost.exe",
        "ſvchost.exe",
        "searchindexer",
    ]
    .iter()
    .map(|service| Row::launch(DEVICE, service, "cmd.exe"))
    .collect();
    let lake = lake_of(&process, &[], &[], &[]);
    assert_eq!(
        sorted(services(&detections(&lake))),
        names(&[
            " svchost.exe",
            "searchindexer",
            "svchost.exe ",
            "svchost.exe.bak",
            "ſvchost.exe"
        ])
    );
}

/// A replaced allowlist is matched the same way, and an empty one lets everything through.
#[test]
fn custom_allowlist_replaces_the_default() {
    let lake = lake_of(
        &[
            Row::launch(DEVICE, "svchost.exe", "cmd.exe"),
            Row::launch(DEVICE, "Updater.EXE", "cmd.exe"),
        ],
        &[],
        &[],
        &[],
    );
    let custom = run_both(&lake, &|r| r.rule.allowlist = vec!["updater.exe".into()]);
    assert_eq!(services(&custom.rows()), ["svchost.exe"]);
    let none = run_both(&lake, &|r| r.rule.allowlist = vec![]);
    assert_eq!(
        sorted(services(&none.rows())),
        names(&["Updater.EXE", "svchost.exe"])
    );
}

// ---------------------------------------------------------------------------------------------
// [1][4][6] null strings are ""
// ---------------------------------------------------------------------------------------------

/// A null InitiatingProcessFileName is the service "": `"" !in~ (list)` is true, so the row is
/// kept (SQL's `NULL NOT IN (...)` would drop it), it groups with rows that store "" (here in a
/// dictionary-encoded file), and its network events (null name too) join it.
#[test]
fn null_service_name_is_the_empty_service() {
    let unnamed = |row: Row| row.with(|r| r.service = None);
    let lake = Lake::new();
    lake.add(Table::Process, &[unnamed(Row::launch(DEVICE, "", "a.exe"))]);
    lake.write(
        Table::Process,
        &FileSpec::default().strings(Strings::Dictionary),
        &[Row::launch(DEVICE, "", "b.exe")],
    );
    lake.add(
        Table::Network,
        &[unnamed(Row::connection(DEVICE, "", "10.0.0.7"))],
    );
    let rows = detections(&lake);
    let row = only_row(&rows, "");
    assert_eq!(row["ChildProcesses"], strings(&["a.exe", "b.exe"]));
    assert_eq!(row["ConnectedAddresses"], strings(&["10.0.0.7"]));
}

// ---------------------------------------------------------------------------------------------
// [6][7] summarize / join keys are case-sensitive
// ---------------------------------------------------------------------------------------------

/// `Foo.exe` and `foo.exe` on one device are two groups of 3 launches, each rare (together they
/// would be 6, not rare); the same for device names `WS9` and `ws9`. A network event of
/// `foo.exe` joins `foo.exe` only.
#[test]
fn grouping_and_joins_are_case_sensitive() {
    let mut process = Vec::new();
    for child in ["a.exe", "b.exe", "c.exe"] {
        process.push(Row::launch(DEVICE, "Foo.exe", child));
        process.push(Row::launch(DEVICE, "foo.exe", child));
        process.push(Row::launch("WS9", "bar.exe", child));
        process.push(Row::launch("ws9", "bar.exe", child));
    }
    let lake = lake_of(
        &process,
        &[Row::connection(DEVICE, "foo.exe", "10.0.0.1")],
        &[],
        &[],
    );
    let rows = detections(&lake);
    assert_eq!(rows.len(), 4, "{rows:#?}");
    for row in &rows {
        assert_eq!(row["ChildProcesses"], strings(&["a.exe", "b.exe", "c.exe"]));
    }
    let devices: BTreeSet<&str> = rows
        .iter()
        .map(|r| r["DeviceName"].as_str().unwrap())
        .collect();
    assert_eq!(devices, BTreeSet::from(["WS9", "ws9", DEVICE]));
    assert_eq!(
        only_row(&rows, "foo.exe")["ConnectedAddresses"],
        strings(&["10.0.0.1"])
    );
    assert_eq!(
        only_row(&rows, "Foo.exe")["ConnectedAddresses"],
        strings(&[""])
    );
}

// ---------------------------------------------------------------------------------------------
// [6] where count_ < 6
// ---------------------------------------------------------------------------------------------

/// Launches are counted per (ServiceProcess, DeviceName), over all its instances, after the
/// filters: 5 launches alert (one output row per instance), 6 do not; rows outside the window or
/// with another parent do not count. The threshold is a parameter.
#[test]
fn fewer_than_six_launches_is_rare() {
    let launch = |service: &str, pid: i64, child: &str| {
        Row::launch(DEVICE, service, child).with(|r| r.pid = Some(pid))
    };
    let mut process = Vec::new();
    // five.exe: 5 launches over two instances (pid 1 ×3, pid 2 ×2).
    for (pid, child) in [(1, "a"), (1, "b"), (1, "c"), (2, "d"), (2, "e")] {
        process.push(launch("five.exe", pid, child));
    }
    // six.exe: 6 launches over three instances: not rare, though each instance has only 2.
    for (pid, child) in [(1, "a"), (1, "b"), (2, "c"), (2, "d"), (3, "e"), (3, "f")] {
        process.push(launch("six.exe", pid, child));
    }
    // five-plus.exe: 5 counted launches + 1 before the window + 1 from explorer.exe.
    for child in ["a", "b", "c", "d", "e"] {
        process.push(launch("five-plus.exe", 1, child));
    }
    process.push(launch("five-plus.exe", 1, "old").at(since() - NANOS_PER_DAY));
    process.push(launch("five-plus.exe", 1, "explorer").parent(Some("explorer.exe")));
    let lake = lake_of(&process, &[], &[], &[]);

    let count = |rows: &[Value], service: &str| {
        rows.iter()
            .filter(|r| r["ServiceProcess"] == service)
            .count()
    };
    let rows = detections(&lake);
    assert_eq!(count(&rows, "five.exe"), 2);
    assert_eq!(count(&rows, "six.exe"), 0);
    assert_eq!(count(&rows, "five-plus.exe"), 1);
    let five_plus = only_row(&rows, "five-plus.exe");
    assert_eq!(
        five_plus["ChildProcesses"],
        strings(&["a", "b", "c", "d", "e"])
    );

    let seven = run_both(&lake, &|r| r.rule.threshold = 7).rows();
    assert_eq!(count(&seven, "six.exe"), 3);
    assert_eq!(count(&seven, "five.exe"), 2);
    let five = run_both(&lake, &|r| r.rule.threshold = 5).rows();
    assert_eq!(five.len(), 0, "{five:#?}");
}

// ---------------------------------------------------------------------------------------------
// [5][15] where TimeGenerated > ago(14d)
// ---------------------------------------------------------------------------------------------

/// The window is strict at tick precision and open at the top: a row at exactly as-of − 14d is
/// out, one tick later is in, 50 ns later (a nanosecond file) is still out because Kusto holds
/// the time as ticks, and rows at or after as-of are in. The same holds on the right side.
#[test]
fn window_is_strict_at_tick_precision_and_open_at_the_top() {
    let ns = FileSpec::default().unit(TimeUnit::Nanosecond);
    let times = [
        ("at-bound", since()),
        ("half-tick", since() + 50),
        ("ninety-nine", since() + 99),
        ("one-tick", since() + TICK),
        ("day-before", since() - NANOS_PER_DAY),
        ("now", as_of()),
        ("future", as_of() + NANOS_PER_DAY),
    ];
    let lake = Lake::new();
    let process: Vec<Row> = times
        .iter()
        .map(|(name, t)| Row::launch(DEVICE, "edge.exe", name).at(*t))
        .collect();
    lake.write(Table::Process, &ns, &process);
    let network: Vec<Row> = times
        .iter()
        .map(|(name, t)| Row::connection(DEVICE, "edge.exe", name).at(*t))
        .collect();
    lake.write(Table::Network, &ns, &network);

    let rows = detections(&lake);
    let row = only_row(&rows, "edge.exe");
    assert_eq!(
        row["ChildProcesses"],
        strings(&["future", "now", "one-tick"])
    );
    assert_eq!(
        row["ConnectedAddresses"],
        strings(&["future", "now", "one-tick"])
    );

    // A shorter lookback moves the bound.
    let short = run_both(&lake, &|r| r.rule.lookback = 2 * NANOS_PER_DAY).rows();
    assert_eq!(
        only_row(&short, "edge.exe")["ChildProcesses"],
        strings(&["future", "now"])
    );
}

/// The window's bound is tested on the raw column in each file's own unit; a bound that falls
/// inside a microsecond must not let a row at the microsecond before it through. With the
/// bound at since + 500 ns, Kusto keeps the rows whose tick is after it: from since + 600 ns.
#[test]
fn a_window_bound_inside_a_microsecond_holds_in_every_unit() {
    let lake = Lake::new();
    let ns = FileSpec::default().unit(TimeUnit::Nanosecond);
    let us = FileSpec::default().unit(TimeUnit::Microsecond);
    let ms = FileSpec::default().unit(TimeUnit::Millisecond).zone(None);
    let at = |name: &str, t: i64| Row::launch(DEVICE, "edge.exe", name).at(t);
    lake.write(
        Table::Process,
        &ns,
        &[
            at("ns-550", since() + 550),
            at("ns-599", since() + 599),
            at("ns-600", since() + 600),
        ],
    );
    lake.write(
        Table::Process,
        &us,
        &[at("us-0", since()), at("us-1", since() + 1_000)],
    );
    lake.write(
        Table::Process,
        &ms,
        &[at("ms-0", since()), at("ms-1", since() + 1_000_000)],
    );
    let rows = run_both(&lake, &|r| r.rule.lookback = 14 * NANOS_PER_DAY - 500).rows();
    assert_eq!(
        only_row(&rows, "edge.exe")["ChildProcesses"],
        strings(&["ms-1", "ns-600", "us-1"])
    );
}

/// A file whose footer puts every row inside the window is read without testing it, and so
/// are the row groups inside it of a file of several days (those wholly before it are
/// skipped, those across its start tested); a file wholly before the window is not opened;
/// the others are still tested: a file across the window's start keeps only its rows after
/// it, and a file inside the window but with a null time keeps the others (a null time is in
/// no window). Each service launches in one file, and on the right side a connection per file.
#[test]
fn files_inside_the_window_and_files_across_it_keep_the_same_rows() {
    let lake = Lake::new();
    let ns = FileSpec::default().unit(TimeUnit::Nanosecond);
    let day = NANOS_PER_DAY;
    let launch = |service: &str, name: &str, t: Option<i64>| {
        Row::launch(DEVICE, service, name).with(|r| r.time = t)
    };
    let inside = [
        launch("inside.exe", "in-1", Some(since() + day)),
        launch("inside.exe", "in-2", Some(since() + 2 * day)),
    ];
    let across = [
        launch("across.exe", "before", Some(since() - day)),
        launch("across.exe", "at-bound", Some(since())),
        launch("across.exe", "after", Some(since() + day)),
    ];
    let null = [
        launch("null.exe", "null-time", None),
        launch("null.exe", "timed", Some(since() + day)),
    ];
    // A file of several days, in row groups of the writer's 7 rows: the first wholly before
    // the window, the second across its start, the third inside it.
    let old = |d: i64| {
        launch(
            "days.exe",
            &format!("old-{d}"),
            Some(since() - (10 - d) * day),
        )
    };
    let new = |d: i64| {
        launch(
            "days.exe",
            &format!("new-{d}"),
            Some(since() + (d + 1) * 1_000),
        )
    };
    let days: Vec<Row> = (0..10).map(old).chain((0..5).map(new)).collect();
    // A file wholly before the window, left out of the scan: none of its rows may count.
    let before = [launch("across.exe", "old-file", Some(since() - 2 * day))];
    for rows in [&inside[..], &across[..], &null[..], &days[..], &before[..]] {
        lake.write(Table::Process, &ns, rows);
    }
    let connection = |name: &str, t: Option<i64>| {
        Row::connection(DEVICE, "across.exe", name).with(|r| r.time = t)
    };
    lake.write(
        Table::Network,
        &ns,
        &[connection("10.0.0.1", Some(since() + day))],
    );
    lake.write(
        Table::Network,
        &ns,
        &[
            connection("10.0.0.2", Some(since())),
            connection("10.0.0.3", Some(since() + day)),
            connection("10.0.0.4", None),
        ],
    );
    lake.write(
        Table::Network,
        &ns,
        &[connection("10.0.0.9", Some(since() - day))],
    );
    let rows = detections(&lake);
    assert_eq!(
        only_row(&rows, "inside.exe")["ChildProcesses"],
        strings(&["in-1", "in-2"])
    );
    let across = only_row(&rows, "across.exe");
    assert_eq!(across["ChildProcesses"], strings(&["after"]));
    assert_eq!(
        across["ConnectedAddresses"],
        strings(&["10.0.0.1", "10.0.0.3"])
    );
    assert_eq!(
        only_row(&rows, "null.exe")["ChildProcesses"],
        strings(&["timed"])
    );
    assert_eq!(
        only_row(&rows, "days.exe")["ChildProcesses"],
        strings(&["new-0", "new-1", "new-2", "new-3", "new-4"])
    );
}

// ---------------------------------------------------------------------------------------------
// [1][7][8] null strings join ""
// ---------------------------------------------------------------------------------------------

/// A string key stored as null in one table joins "" in another: the account is "" in the
/// process file, null in the network file, absent from the file-events file, and "" in a
/// dictionary-encoded image-load file; and the other way round for a second service.
#[test]
fn null_string_keys_match_empty_strings() {
    let blank = |row: Row| row.with(|r| r.account = s(""));
    let null = |row: Row| row.with(|r| r.account = None);
    let lake = Lake::new();
    lake.add(
        Table::Process,
        &[
            blank(Row::launch(DEVICE, "blank.exe", "cmd.exe")),
            null(Row::launch(DEVICE, "null.exe", "cmd.exe")),
        ],
    );
    lake.add(
        Table::Network,
        &[
            null(Row::connection(DEVICE, "blank.exe", "10.0.0.1")),
            blank(Row::connection(DEVICE, "null.exe", "10.0.0.2")),
        ],
    );
    lake.write(
        Table::File,
        &FileSpec::default().omit(&["InitiatingProcessAccountName"]),
        &[
            Row::file_write(DEVICE, "blank.exe", "a.txt"),
            Row::file_write(DEVICE, "null.exe", "b.txt"),
        ],
    );
    // Every column of a table must be in some file: a second file that has the column.
    lake.add(Table::File, &[]);
    lake.write(
        Table::Image,
        &FileSpec::default().strings(Strings::Dictionary),
        &[
            blank(Row::image_load(DEVICE, "blank.exe", "a.dll")),
            null(Row::image_load(DEVICE, "null.exe", "b.dll")),
        ],
    );
    let rows = detections(&lake);
    let blank_row = only_row(&rows, "blank.exe");
    assert_eq!(blank_row["ServiceProcessUser"], "");
    assert_eq!(blank_row["ConnectedAddresses"], strings(&["10.0.0.1"]));
    assert_eq!(blank_row["FilesModified"], strings(&["a.txt"]));
    assert_eq!(blank_row["DLLsLoaded"], strings(&["a.dll"]));
    let null_row = only_row(&rows, "null.exe");
    assert_eq!(null_row["ServiceProcessUser"], "");
    assert_eq!(null_row["ConnectedAddresses"], strings(&["10.0.0.2"]));
    assert_eq!(null_row["FilesModified"], strings(&["b.txt"]));
    assert_eq!(null_row["DLLsLoaded"], strings(&["b.dll"]));
}

// ---------------------------------------------------------------------------------------------
// [2][4][5] the right-hand tables go through the same filters
// ---------------------------------------------------------------------------------------------

/// Network, file and image-load rows of the same instance are only joined when they too pass
/// the three `where` lines: parent contains services.exe (ASCII case folded), in the window.
#[test]
fn right_side_rows_pass_the_same_filters() {
    let connection = |ip: &str| Row::connection(DEVICE, "rare.exe", ip);
    let lake = lake_of(
        &[Row::launch(DEVICE, "rare.exe", "cmd.exe")],
        &[
            connection("explorer").parent(Some("explorer.exe")),
            connection("null-parent").parent(None),
            connection("upper-parent").parent(Some("C:\\WINDOWS\\system32\\SERVICES.EXE")),
            connection("long-s-parent").parent(Some("ſervices.exe")),
            connection("old").at(since()),
            connection("ok"),
        ],
        &[
            Row::file_write(DEVICE, "rare.exe", "bad.txt").parent(Some("cmd.exe")),
            Row::file_write(DEVICE, "rare.exe", "good.txt"),
        ],
        &[
            Row::image_load(DEVICE, "rare.exe", "old.dll").at(since() - 1),
            Row::image_load(DEVICE, "rare.exe", "new.dll").at(as_of() + 1),
        ],
    );
    let rows = detections(&lake);
    let row = only_row(&rows, "rare.exe");
    assert_eq!(row["ConnectedAddresses"], strings(&["ok", "upper-parent"]));
    assert_eq!(row["FilesModified"], strings(&["good.txt"]));
    assert_eq!(row["DLLsLoaded"], strings(&["new.dll"]));
}

// ---------------------------------------------------------------------------------------------
// [7][15] the 7 join keys
// ---------------------------------------------------------------------------------------------

/// A network event joins an instance only when all 7 keys are equal: string keys exactly (case
/// included), the creation time to the tick, the pid exactly. Each service below has one
/// network event differing in one key (→ no match, `[""]`); the controls match, including a
/// creation time 50 ns off in a nanosecond file (the same tick) and one written in
/// milliseconds.
#[test]
fn each_join_key_must_match_exactly() {
    /// (service, how its network event differs, whether it still matches)
    type Case = (&'static str, fn(&mut Row), bool);
    let ns = FileSpec::default().unit(TimeUnit::Nanosecond);
    let cases: Vec<Case> = vec![
        (
            "device-case.exe",
            |r| r.device = s("WS1.corp.example"),
            false,
        ),
        (
            "service-case.exe",
            |r| r.service = s("Service-Case.exe"),
            false,
        ),
        (
            "cmdline-case.exe",
            |r| r.cmdline = r.cmdline.as_ref().map(|c| c.to_uppercase()),
            false,
        ),
        (
            "created-tick.exe",
            |r| r.created = r.created.map(|t| t + TICK),
            false,
        ),
        ("pid-plus-one.exe", |r| r.pid = r.pid.map(|p| p + 1), false),
        ("account-case.exe", |r| r.account = s("SYSTEM"), false),
        (
            "sha1-case.exe",
            |r| r.sha1 = r.sha1.as_ref().map(|c| c.to_uppercase()),
            false,
        ),
        (
            "cmdline-space.exe",
            |r| r.cmdline = r.cmdline.as_ref().map(|c| format!("{c} ")),
            false,
        ),
        ("identical.exe", |_| {}, true),
        (
            "created-half-tick.exe",
            |r| r.created = r.created.map(|t| t + 50),
            true,
        ),
    ];
    let lake = Lake::new();
    let process: Vec<Row> = cases
        .iter()
        .map(|(service, _, _)| Row::launch(DEVICE, service, "cmd.exe"))
        .collect();
    lake.write(Table::Process, &ns, &process);
    let network: Vec<Row> = cases
        .iter()
        .map(|(service, change, _)| Row::connection(DEVICE, service, "10.0.0.1").with(change))
        .collect();
    lake.write(Table::Network, &ns, &network);
    // The same instant written in milliseconds joins too.
    lake.write(
        Table::File,
        &FileSpec::default().unit(TimeUnit::Millisecond),
        &[Row::file_write(DEVICE, "identical.exe", "ms.txt")],
    );

    let rows = detections(&lake);
    assert_eq!(rows.len(), cases.len(), "{rows:#?}");
    for (service, _, matches) in &cases {
        let row = only_row(&rows, service);
        let (addresses, urls) = if *matches {
            (strings(&["10.0.0.1"]), strings(&["10.0.0.1.example.net"]))
        } else {
            (strings(&[""]), strings(&[""]))
        };
        assert_eq!(row["ConnectedAddresses"], addresses, "{service}");
        assert_eq!(row["ConnectedUrls"], urls, "{service}");
    }
    assert_eq!(
        only_row(&rows, "identical.exe")["FilesModified"],
        strings(&["ms.txt"])
    );
}

// ---------------------------------------------------------------------------------------------
// [8][10][11] unmatched left joins and "" in sets
// ---------------------------------------------------------------------------------------------

/// A service with no network, file or image-load events gets `[""]` in those sets (the
/// unmatched row's strings are "", and make_set keeps ""); a launch with a null child name adds
/// "" to ChildProcesses. With keep_empty_in_sets=false, "" is left out and the sets are `[]`.
#[test]
fn unmatched_left_joins_give_empty_string_sets() {
    let lake = lake_of(
        &[
            Row::launch(DEVICE, "lonely.exe", "cmd.exe"),
            Row::launch(DEVICE, "lonely.exe", "x").with(|r| {
                r.file_name = None;
                r.command_line = None;
            }),
        ],
        &[],
        &[],
        &[],
    );
    let keep = run_both(&lake, &defaults);
    assert_eq!(
        keep.lines,
        [concat!(
            r#"{"DeviceName":"ws1.corp.example","ServiceProcess":"lonely.exe","#,
            r#""ServiceProcessCmdline":"\"C:\\Program Files\\lonely.exe\" -k run","#,
            r#""ServiceProcessCreationTime":"2026-11-01T00:00:05.0040000Z","#,
            r#""ServiceProcessID":4242,"ServiceProcessUser":"system","#,
            r#""ServiceProcessSHA1":"3395856ce81f2b7382dee72602f798b642f14140","#,
            r#""ConnectedAddresses":[""],"ConnectedUrls":[""],"FilesModified":[""],"#,
            r#""FileModFolderPath":[""],"FileModHA1s":[""],"ChildProcesses":["","cmd.exe"],"#,
            r#""ChildCommandlines":["","cmd.exe /c whoami"],"DLLsLoaded":[""],"DLLSHA1":[""],"#,
            r#""HostName":"ws1","DnsDomain":"corp.example"}"#
        )]
    );
    let drop = run_both(&lake, &|r| r.rule.keep_empty_in_sets = false);
    assert_eq!(
        drop.lines,
        [concat!(
            r#"{"DeviceName":"ws1.corp.example","ServiceProcess":"lonely.exe","#,
            r#""ServiceProcessCmdline":"\"C:\\Program Files\\lonely.exe\" -k run","#,
            r#""ServiceProcessCreationTime":"2026-11-01T00:00:05.0040000Z","#,
            r#""ServiceProcessID":4242,"ServiceProcessUser":"system","#,
            r#""ServiceProcessSHA1":"3395856ce81f2b7382dee72602f798b642f14140","#,
            r#""ConnectedAddresses":[],"ConnectedUrls":[],"FilesModified":[],"#,
            r#""FileModFolderPath":[],"FileModHA1s":[],"ChildProcesses":["cmd.exe"],"#,
            r#""ChildCommandlines":["cmd.exe /c whoami"],"DLLsLoaded":[],"DLLSHA1":[],"#,
            r#""HostName":"ws1","DnsDomain":"corp.example"}"#
        )]
    );
}

/// Sets hold distinct values compared case-sensitively (`A.dll` and `a.dll` are both kept,
/// duplicates once), "" from a matched row's null value is kept, and elements come out sorted
/// ascending by bytes. The literal plan multiplies rows (3 children × 3 connections × 7 loads)
/// and must still give the same sets.
#[test]
fn sets_are_distinct_case_sensitive_and_sorted() {
    let dll = |name: Option<&str>| {
        Row::image_load(DEVICE, "rare.exe", "x").with(|r| {
            r.file_name = name.map(str::to_string);
            r.file_sha1 = name.map(|n| format!("sha1-{}", n.to_ascii_lowercase()));
        })
    };
    let lake = lake_of(
        &[
            Row::launch(DEVICE, "rare.exe", "cmd.exe"),
            Row::launch(DEVICE, "rare.exe", "CMD.EXE"),
            Row::launch(DEVICE, "rare.exe", "cmd.exe"),
        ],
        &[
            Row::connection(DEVICE, "rare.exe", "10.0.0.1"),
            Row::connection(DEVICE, "rare.exe", "10.0.0.1"),
            Row::connection(DEVICE, "rare.exe", "10.0.0.10"),
        ],
        &[],
        &[
            dll(Some("a.dll")),
            dll(Some("A.dll")),
            dll(Some("A.dll")),
            dll(Some("é.dll")),
            dll(Some("B.dll")),
            dll(Some("z.dll")),
            dll(None),
        ],
    );
    let rows = detections(&lake);
    let row = only_row(&rows, "rare.exe");
    assert_eq!(row["ChildProcesses"], strings(&["CMD.EXE", "cmd.exe"]));
    assert_eq!(
        row["ChildCommandlines"],
        strings(&["CMD.EXE /c whoami", "cmd.exe /c whoami"])
    );
    assert_eq!(
        row["ConnectedAddresses"],
        strings(&["10.0.0.1", "10.0.0.10"])
    );
    assert_eq!(
        row["DLLsLoaded"],
        strings(&["", "A.dll", "B.dll", "a.dll", "z.dll", "é.dll"])
    );
    assert_eq!(
        row["DLLSHA1"],
        strings(&["", "sha1-a.dll", "sha1-b.dll", "sha1-z.dll", "sha1-é.dll"])
    );
}

/// [10] the rule's `make_set(x, 100000)`: a set holds at most 100,000 values (which ones is
/// unspecified), here of 100,001 distinct addresses.
#[test]
fn sets_hold_at_most_100000_values() {
    let network: Vec<Row> = (0..100_001u32)
        .map(|i| {
            let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
            Row::connection(DEVICE, "rare.exe", &ip)
        })
        .collect();
    let lake = lake_of(
        &[Row::launch(DEVICE, "rare.exe", "cmd.exe")],
        &network,
        &[],
        &[],
    );
    lake.fill_empty_tables();
    // Which values survive the cap is unspecified, so the plans may keep different ones: each
    // is checked on its own.
    for plan in [Plan::Keyed, Plan::Literal] {
        let rows = run_plan(lake.path(), plan, &defaults).rows();
        let row = only_row(&rows, "rare.exe");
        for column in ["ConnectedAddresses", "ConnectedUrls"] {
            let set = row[column].as_array().unwrap();
            assert_eq!(set.len(), 100_000, "{plan:?}: {column}");
            let distinct: BTreeSet<&str> = set.iter().map(|v| v.as_str().unwrap()).collect();
            assert_eq!(
                distinct.len(),
                100_000,
                "{plan:?}: {column} holds duplicates"
            );
        }
        assert_eq!(row["ChildProcesses"], strings(&["cmd.exe"]));
    }
}

// ---------------------------------------------------------------------------------------------
// Output values
// ---------------------------------------------------------------------------------------------

/// One full detection, every table matched: the creation time is printed as Kusto prints a
/// datetime (UTC, 7 fractional digits, floored to the tick: 5.004123456 s → 5.0041234), the pid
/// is a JSON number, the columns come in the rule's order, and strings are JSON-escaped.
#[test]
fn detection_is_printed_as_kusto_prints_it() {
    let sub_tick = created() + 123_456;
    let keys = |row: Row| row.with(|r| r.created = Some(sub_tick));
    let lake = Lake::new();
    lake.write(
        Table::Process,
        &FileSpec::default(),
        &[keys(Row::launch(DEVICE, "rare.exe", "cmd.exe"))],
    );
    lake.add(
        Table::Network,
        &[keys(Row::connection(DEVICE, "rare.exe", "203.0.113.9"))],
    );
    lake.add(
        Table::File,
        &[keys(Row::file_write(DEVICE, "rare.exe", "drop.ps1"))],
    );
    lake.add(
        Table::Image,
        &[keys(Row::image_load(DEVICE, "rare.exe", "evil.dll"))],
    );
    let run = run_both(&lake, &defaults);
    assert_eq!(
        run.lines,
        [concat!(
            r#"{"DeviceName":"ws1.corp.example","ServiceProcess":"rare.exe","#,
            r#""ServiceProcessCmdline":"\"C:\\Program Files\\rare.exe\" -k run","#,
            r#""ServiceProcessCreationTime":"2026-11-01T00:00:05.0041234Z","#,
            r#""ServiceProcessID":4242,"ServiceProcessUser":"system","#,
            r#""ServiceProcessSHA1":"3395856ce81f2b7382dee72602f798b642f14140","#,
            r#""ConnectedAddresses":["203.0.113.9"],"ConnectedUrls":["203.0.113.9.example.net"],"#,
            r#""FilesModified":["drop.ps1"],"FileModFolderPath":["C:\\ProgramData\\drop.ps1"],"#,
            r#""FileModHA1s":["sha1-of-drop.ps1"],"ChildProcesses":["cmd.exe"],"#,
            r#""ChildCommandlines":["cmd.exe /c whoami"],"DLLsLoaded":["evil.dll"],"#,
            r#""DLLSHA1":["sha1-of-evil.dll"],"HostName":"ws1","DnsDomain":"corp.example"}"#
        )]
    );
    // The round number too: 7 digits, not 3.
    let plain = lake_of(&[Row::launch(DEVICE, "rare.exe", "cmd.exe")], &[], &[], &[]);
    let rows = detections(&plain);
    assert_eq!(
        rows[0]["ServiceProcessCreationTime"],
        "2026-11-01T00:00:05.0040000Z"
    );
    assert!(rows[0]["ServiceProcessID"].is_i64());
}

/// [13][14] HostName/DnsDomain split DeviceName at its first dot, counting characters: no dot,
/// a leading dot, a trailing dot, several dots, non-ASCII names, a null name ("").
#[test]
fn host_name_and_dns_domain_split_at_the_first_dot() {
    let devices: [(Option<&str>, &str, &str); 9] = [
        (Some("ws1"), "ws1", ""),
        (Some(".corp"), "", "corp"),
        (Some("ws2."), "ws2", ""),
        (Some("a.b.c.d"), "a", "b.c.d"),
        (Some("pc-é.corp"), "pc-é", "corp"),
        (Some("ü.x.y"), "ü", "x.y"),
        (Some("."), "", ""),
        (Some("..x"), "", ".x"),
        (None, "", ""),
    ];
    let process: Vec<Row> = devices
        .iter()
        .map(|(device, _, _)| {
            Row::launch("x", "svc.exe", "cmd.exe").with(|r| r.device = device.map(str::to_string))
        })
        .collect();
    let lake = lake_of(&process, &[], &[], &[]);
    let rows = detections(&lake);
    assert_eq!(rows.len(), devices.len(), "{rows:#?}");
    for (device, host, domain) in devices {
        let device = device.unwrap_or("");
        let row = rows
            .iter()
            .find(|r| r["DeviceName"] == device)
            .unwrap_or_else(|| panic!("no detection for device {device:?}"));
        assert_eq!(
            (&row["HostName"], &row["DnsDomain"]),
            (&json!(host), &json!(domain)),
            "device {device:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// [15] file layouts
// ---------------------------------------------------------------------------------------------

/// Files of one lake store times in ms, us or ns, with no zone, "UTC" or "+01:00", and the
/// creation time still joins on the same instant across tables (ms in the process file, ns
/// without zone in the network file, ...). Process rows split over files of different units
/// group together.
#[test]
fn mixed_time_units_and_zones_join_on_the_same_instant() {
    let lake = Lake::new();
    let ms_utc = FileSpec::default()
        .unit(TimeUnit::Millisecond)
        .zone(Some("UTC"));
    let us_offset = FileSpec::default()
        .unit(TimeUnit::Microsecond)
        .zone(Some("+01:00"));
    let ns_naive = FileSpec::default().unit(TimeUnit::Nanosecond).zone(None);
    let ms_naive = FileSpec::default().unit(TimeUnit::Millisecond).zone(None);
    lake.write(
        Table::Process,
        &ms_utc,
        &[Row::launch(DEVICE, "rare.exe", "a.exe")],
    );
    lake.write(
        Table::Process,
        &us_offset,
        &[Row::launch(DEVICE, "rare.exe", "b.exe")],
    );
    lake.write(
        Table::Network,
        &ns_naive,
        &[Row::connection(DEVICE, "rare.exe", "10.0.0.1")],
    );
    lake.write(
        Table::Network,
        &us_offset,
        &[Row::connection(DEVICE, "rare.exe", "10.0.0.2")],
    );
    lake.write(
        Table::File,
        &us_offset,
        &[Row::file_write(DEVICE, "rare.exe", "a.txt")],
    );
    lake.write(
        Table::Image,
        &ms_naive,
        &[Row::image_load(DEVICE, "rare.exe", "a.dll")],
    );
    let rows = detections(&lake);
    let row = only_row(&rows, "rare.exe");
    assert_eq!(
        row["ServiceProcessCreationTime"],
        "2026-11-01T00:00:05.0040000Z"
    );
    assert_eq!(row["ChildProcesses"], strings(&["a.exe", "b.exe"]));
    assert_eq!(
        row["ConnectedAddresses"],
        strings(&["10.0.0.1", "10.0.0.2"])
    );
    assert_eq!(row["FilesModified"], strings(&["a.txt"]));
    assert_eq!(row["DLLsLoaded"], strings(&["a.dll"]));
}

/// Strings stored as Utf8, LargeUtf8, Utf8View or Dictionary(Int32, Utf8), pids as int32 or
/// int64, and a column no schema knows: all read alike and join.
#[test]
fn string_layouts_integer_widths_and_unknown_columns() {
    let lake = Lake::new();
    lake.write(
        Table::Process,
        &FileSpec::default()
            .strings(Strings::LargeUtf8)
            .pid(PidType::Int32),
        &[Row::launch(DEVICE, "rare.exe", "a.exe")],
    );
    lake.write(
        Table::Process,
        &FileSpec::default()
            .strings(Strings::Dictionary)
            .extra_column(),
        &[Row::launch(DEVICE, "rare.exe", "b.exe")],
    );
    lake.write(
        Table::Network,
        &FileSpec::default()
            .strings(Strings::Utf8View)
            .pid(PidType::Int32),
        &[Row::connection(DEVICE, "rare.exe", "10.0.0.1")],
    );
    lake.write(
        Table::File,
        &FileSpec::default().strings(Strings::Dictionary),
        &[Row::file_write(DEVICE, "rare.exe", "a.txt")],
    );
    lake.write(
        Table::Image,
        &FileSpec::default()
            .strings(Strings::LargeUtf8)
            .extra_column(),
        &[Row::image_load(DEVICE, "rare.exe", "a.dll")],
    );
    let rows = detections(&lake);
    let row = only_row(&rows, "rare.exe");
    assert_eq!(row["ServiceProcessID"], 4242);
    assert_eq!(row["ChildProcesses"], strings(&["a.exe", "b.exe"]));
    assert_eq!(row["ConnectedAddresses"], strings(&["10.0.0.1"]));
    assert_eq!(row["FilesModified"], strings(&["a.txt"]));
    assert_eq!(row["DLLsLoaded"], strings(&["a.dll"]));
}

/// A table's files may sit in hive folders (`date=…/`, `y=…/m=…/d=…/`), plain dated folders or
/// flat, among export litter (`_SUCCESS`, `.crc`, zero-byte files, `_temporary/`, hidden files),
/// and zero-row files. A real launch file inside `_temporary/` is in-progress output and must
/// not count (it would make the service's 6th launch).
#[test]
fn hive_and_plain_folders_with_litter() {
    let lake = Lake::new();
    let folders = [
        Folder::Flat,
        Folder::Hive,
        Folder::HiveNested,
        Folder::Plain,
        Folder::Custom("deeper/still/here".into()),
    ];
    for (i, folder) in folders.iter().enumerate() {
        lake.write(
            Table::Process,
            &FileSpec::default().folder(folder.clone()),
            &[Row::launch(DEVICE, "spread.exe", &format!("child{i}.exe"))],
        );
    }
    for hidden in ["_temporary/0", ".staging"] {
        lake.write(
            Table::Process,
            &FileSpec::default().folder(Folder::Custom(hidden.into())),
            &[Row::launch(DEVICE, "spread.exe", "hidden.exe")],
        );
    }
    lake.write_zero_rows(Table::Process, &FileSpec::default().folder(Folder::Hive));
    lake.write(
        Table::Network,
        &FileSpec::default().folder(Folder::HiveNested),
        &[Row::connection(DEVICE, "spread.exe", "10.0.0.1")],
    );
    lake.write(
        Table::Network,
        &FileSpec::default().folder(Folder::Custom("2026/11/20".into())),
        &[Row::connection(DEVICE, "spread.exe", "10.0.0.2")],
    );
    for table in Table::ALL {
        lake.write_litter(table);
    }
    let rows = detections(&lake);
    let row = only_row(&rows, "spread.exe");
    assert_eq!(
        row["ChildProcesses"],
        strings(&[
            "child0.exe",
            "child1.exe",
            "child2.exe",
            "child3.exe",
            "child4.exe"
        ])
    );
    assert_eq!(
        row["ConnectedAddresses"],
        strings(&["10.0.0.1", "10.0.0.2"])
    );
}

/// Folder names are file names, not URLs: Spark escapes `:` in hive values as `%3A`
/// (`hour=2026-11-19 00%3A00%3A00/`), and `#`, `?`, `%20`, spaces and accents are legal in
/// folder names. Every file must be read (and reading none of them silently is the worst case:
/// the run succeeds with 0 detections while the summary counts the rows).
#[test]
fn folder_names_with_url_special_characters_are_read() {
    let folders = [
        "hour=2026-11-19 00%3A00%3A00",
        "a#b",
        "why?",
        "a%20b",
        "régions/été",
    ];
    // Five launches: one more and rare.exe would not be rare (count_ < 6).
    let lake = Lake::new();
    for (i, folder) in folders.iter().enumerate() {
        lake.write(
            Table::Process,
            &FileSpec::default().folder(Folder::Custom(folder.to_string())),
            &[Row::launch(DEVICE, "rare.exe", &format!("child{i}.exe"))],
        );
    }
    lake.write(
        Table::Network,
        &FileSpec::default().folder(Folder::Custom("hour=2026-11-19 00%3A00%3A00".into())),
        &[Row::connection(DEVICE, "rare.exe", "10.0.0.1")],
    );
    let rows = detections(&lake);
    let row = only_row(&rows, "rare.exe");
    let children: Vec<String> = (0..folders.len())
        .map(|i| format!("child{i}.exe"))
        .collect();
    let children: Vec<&str> = children.iter().map(String::as_str).collect();
    assert_eq!(row["ChildProcesses"], strings(&children));
    assert_eq!(row["ConnectedAddresses"], strings(&["10.0.0.1"]));
}

/// The same for the lake's root folder.
#[test]
fn lake_roots_with_url_special_characters_are_read() {
    let mut wrong = Vec::new();
    for root in ["lake#1", "lakes%2Fnov", "what?", "my lakes/été"] {
        let lake = Lake::named(root);
        lake.add(
            Table::Process,
            &[Row::launch(DEVICE, "rare.exe", "cmd.exe")],
        );
        lake.add(
            Table::Network,
            &[Row::connection(DEVICE, "rare.exe", "10.0.0.1")],
        );
        let run = run_both(&lake, &defaults);
        let rows = run.rows();
        if rows.len() != 1 || rows[0]["ConnectedAddresses"] != strings(&["10.0.0.1"]) {
            wrong.push(format!("{root:?}: {rows:?} ({})", run.summary));
        }
    }
    assert!(
        wrong.is_empty(),
        "lake roots read wrongly:\n{}",
        wrong.join("\n")
    );
}

/// Column types other writers produce read like the usual ones: binary strings (Parquet
/// BYTE_ARRAY without the UTF8 annotation), files without the Arrow schema, a column of type
/// Null (all null: ""), uint32/int16 pids, dictionaries with other key and value types, an IANA
/// zone, whole seconds.
#[test]
fn other_physical_column_types_read_alike() {
    use datafusion::arrow::array::NullArray;
    use datafusion::arrow::compute::cast;

    /// `batch` with `column` cast to `to` (or made all-null of type Null).
    fn retype(batch: &RecordBatch, column: &str, to: &DataType) -> RecordBatch {
        let schema = batch.schema();
        let i = schema.index_of(column).unwrap();
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        let mut columns = batch.columns().to_vec();
        columns[i] = if *to == DataType::Null {
            Arc::new(NullArray::new(batch.num_rows()))
        } else {
            cast(&columns[i], to).unwrap()
        };
        fields[i] = Field::new(column, to.clone(), true);
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }
    let dictionary =
        |key: DataType, value: DataType| DataType::Dictionary(Box::new(key), Box::new(value));
    let paris = DataType::Timestamp(TimeUnit::Microsecond, Some("Europe/Paris".into()));
    /// (label, columns retyped, whether the file keeps the Arrow schema)
    type Variant = (&'static str, Vec<(&'static str, DataType)>, bool);
    let variants: Vec<Variant> = vec![
        (
            "binary",
            vec![
                ("DeviceName", DataType::Binary),
                ("InitiatingProcessFileName", DataType::Binary),
                ("RemoteIP", DataType::Binary),
            ],
            true,
        ),
        (
            "binary-plain",
            vec![
                ("DeviceName", DataType::Binary),
                ("InitiatingProcessCommandLine", DataType::LargeBinary),
                ("RemoteIP", DataType::Binary),
            ],
            false,
        ),
        (
            "binary-view",
            vec![("InitiatingProcessSHA1", DataType::BinaryView)],
            true,
        ),
        ("null-url", vec![("RemoteUrl", DataType::Null)], true),
        (
            "uint32-pid",
            vec![("InitiatingProcessId", DataType::UInt32)],
            true,
        ),
        (
            "int16-pid",
            vec![("InitiatingProcessId", DataType::Int16)],
            false,
        ),
        (
            "dictionaries",
            vec![
                ("DeviceName", dictionary(DataType::Int8, DataType::Utf8)),
                (
                    "InitiatingProcessSHA1",
                    dictionary(DataType::UInt16, DataType::LargeUtf8),
                ),
            ],
            true,
        ),
        (
            "paris",
            vec![
                ("TimeGenerated", paris.clone()),
                ("InitiatingProcessCreationTime", paris),
            ],
            true,
        ),
        (
            "seconds",
            vec![("TimeGenerated", DataType::Timestamp(TimeUnit::Second, None))],
            true,
        ),
    ];
    let lake = Lake::new();
    lake.add(
        Table::Process,
        &[Row::launch(DEVICE, "rare.exe", "cmd.exe")],
    );
    lake.add(Table::Network, &[]);
    for (label, changes, arrow_metadata) in &variants {
        let mut batch = record_batch(
            Table::Network,
            &FileSpec::default(),
            &[Row::connection(DEVICE, "rare.exe", label)],
        );
        for (column, to) in changes {
            batch = retype(&batch, column, to);
        }
        lake.write_batch_with(
            Table::Network,
            &format!("{label}.parquet"),
            &batch,
            *arrow_metadata,
        );
    }
    let rows = detections(&lake);
    let row = only_row(&rows, "rare.exe");
    let mut labels: Vec<&str> = variants.iter().map(|(label, _, _)| *label).collect();
    labels.sort();
    assert_eq!(row["ConnectedAddresses"], strings(&labels));
    let mut urls: Vec<String> = labels
        .iter()
        .filter(|l| **l != "null-url")
        .map(|l| format!("{l}.example.net"))
        .collect();
    urls.push(String::new());
    urls.sort();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    assert_eq!(row["ConnectedUrls"], strings(&urls));
}

/// Advanced Hunting exports have `Timestamp` and no `TimeGenerated`: such a table works, with a
/// note. A file with both uses TimeGenerated (the rule's column); a table mixing the two kinds
/// of file reads each row's own time; `time_column` picks one column for every table.
#[test]
fn advanced_hunting_exports_use_timestamp() {
    let lake = Lake::new();
    let timestamp_only = FileSpec::default().time_columns(TimeColumns::Timestamp);
    lake.write(
        Table::Process,
        &timestamp_only,
        &[Row::launch(DEVICE, "rare.exe", "cmd.exe")],
    );
    lake.add(
        Table::Network,
        &[Row::connection(DEVICE, "rare.exe", "10.0.0.1")],
    );
    // TimeGenerated before the window, Timestamp inside it.
    lake.write(
        Table::File,
        &FileSpec::default().time_columns(TimeColumns::Both),
        &[Row::file_write(DEVICE, "rare.exe", "a.txt").with(|r| {
            r.time = Some(since() - NANOS_PER_DAY);
            r.timestamp = Some(in_window());
        })],
    );
    lake.add(
        Table::Image,
        &[Row::image_load(DEVICE, "rare.exe", "sentinel.dll")],
    );
    lake.write(
        Table::Image,
        &timestamp_only,
        &[Row::image_load(DEVICE, "rare.exe", "hunting.dll")],
    );
    let run = run_both(&lake, &defaults);
    let rows = run.rows();
    let row = only_row(&rows, "rare.exe");
    assert_eq!(row["ChildProcesses"], strings(&["cmd.exe"]));
    assert_eq!(row["ConnectedAddresses"], strings(&["10.0.0.1"]));
    assert_eq!(row["FilesModified"], strings(&[""]));
    assert_eq!(row["DLLsLoaded"], strings(&["hunting.dll", "sentinel.dll"]));
    let notes = run.notes.join("\n");
    assert!(
        run.notes
            .iter()
            .any(|n| n.contains("DeviceProcessEvents") && n.contains("Timestamp")),
        "no note about DeviceProcessEvents using Timestamp: {notes}"
    );
    assert!(
        run.notes
            .iter()
            .any(|n| n.contains("DeviceImageLoadEvents") && n.contains("Timestamp")),
        "no note about DeviceImageLoadEvents' mixed files: {notes}"
    );
    assert!(
        !notes.contains("DeviceNetworkEvents"),
        "a Sentinel table needs no note: {notes}"
    );

    // --time-column Timestamp: every table uses Timestamp, so the file event counts now.
    let by_timestamp = Lake::new();
    let both = FileSpec::default().time_columns(TimeColumns::Both);
    by_timestamp.write(
        Table::Process,
        &both,
        &[Row::launch(DEVICE, "rare.exe", "cmd.exe")],
    );
    by_timestamp.write(
        Table::File,
        &both,
        &[Row::file_write(DEVICE, "rare.exe", "a.txt").with(|r| {
            r.time = Some(since() - NANOS_PER_DAY);
            r.timestamp = Some(in_window());
        })],
    );
    for table in [Table::Network, Table::Image] {
        by_timestamp.write_zero_rows(table, &both);
    }
    let run = run_both(&by_timestamp, &|r| r.time_column = Some("Timestamp".into()));
    assert_eq!(
        only_row(&run.rows(), "rare.exe")["FilesModified"],
        strings(&["a.txt"])
    );
}

// ---------------------------------------------------------------------------------------------
// [9] null long/datetime keys
// ---------------------------------------------------------------------------------------------

/// A null ServiceProcessID or ServiceProcessCreationTime matches nothing by default (the
/// documented choice): the detection is there, with null printed, and `[""]` sets. With
/// null_keys_match=true, nulls join nulls (never a value).
#[test]
fn null_pid_and_creation_time_keys() {
    let no_pid = |row: Row| row.with(|r| r.pid = None);
    let no_created = |row: Row| row.with(|r| r.created = None);
    let lake = lake_of(
        &[
            no_pid(Row::launch(DEVICE, "nopid.exe", "cmd.exe")),
            no_created(Row::launch(DEVICE, "nocreated.exe", "cmd.exe")),
            Row::launch(DEVICE, "haspid.exe", "cmd.exe"),
        ],
        &[
            no_pid(Row::connection(DEVICE, "nopid.exe", "10.0.0.1")),
            no_created(Row::connection(DEVICE, "nocreated.exe", "10.0.0.2")),
            no_pid(Row::connection(DEVICE, "haspid.exe", "10.0.0.3")),
        ],
        &[no_pid(Row::file_write(DEVICE, "nopid.exe", "a.txt"))],
        &[no_created(Row::image_load(
            DEVICE,
            "nocreated.exe",
            "a.dll",
        ))],
    );
    let rows = detections(&lake);
    let nopid = only_row(&rows, "nopid.exe");
    assert_eq!(nopid["ServiceProcessID"], Value::Null);
    assert_eq!(nopid["ConnectedAddresses"], strings(&[""]));
    assert_eq!(nopid["FilesModified"], strings(&[""]));
    let nocreated = only_row(&rows, "nocreated.exe");
    assert_eq!(nocreated["ServiceProcessCreationTime"], Value::Null);
    assert_eq!(nocreated["ConnectedAddresses"], strings(&[""]));
    assert_eq!(nocreated["DLLsLoaded"], strings(&[""]));

    let matching = run_both(&lake, &|r| r.rule.null_keys_match = true).rows();
    let nopid = only_row(&matching, "nopid.exe");
    assert_eq!(nopid["ConnectedAddresses"], strings(&["10.0.0.1"]));
    assert_eq!(nopid["FilesModified"], strings(&["a.txt"]));
    let nocreated = only_row(&matching, "nocreated.exe");
    assert_eq!(nocreated["ConnectedAddresses"], strings(&["10.0.0.2"]));
    assert_eq!(nocreated["DLLsLoaded"], strings(&["a.dll"]));
    assert_eq!(
        only_row(&matching, "haspid.exe")["ConnectedAddresses"],
        strings(&[""])
    );
}

// ---------------------------------------------------------------------------------------------
// [12] materialize(): the spill path
// ---------------------------------------------------------------------------------------------

/// GetServices spilled to disk (a 1-byte memory budget) gives the same detections as in
/// memory, and its spill files are gone once the run is over.
#[test]
fn spilled_get_services_gives_identical_output() {
    let mut process = Vec::new();
    let mut network = Vec::new();
    for i in 0..40 {
        let service = format!("svc{}.exe", i % 9);
        let device = ["ws1.corp", "WS1.corp", "db2"][i % 3];
        process.push(
            Row::launch(device, &service, &format!("child{}.exe", i % 4))
                .with(|r| r.pid = Some((i % 2) as i64 + 1)),
        );
        network.push(
            Row::connection(device, &service, &format!("10.0.0.{}", i % 5))
                .with(|r| r.pid = Some((i % 3) as i64 + 1)),
        );
    }
    let lake = lake_of(&process, &network, &[], &[]);
    let in_memory = run_both(&lake, &defaults);
    assert!(!in_memory.spilled);
    assert!(!in_memory.lines.is_empty());

    let spill_dir = tempfile::tempdir().unwrap();
    let spill_path = spill_dir.path().to_path_buf();
    let spilled = run_both(&lake, &|r| {
        r.materialize.memory_budget = 1;
        r.materialize.spill_dir = Some(spill_path.clone());
    });
    assert!(spilled.spilled, "a 1-byte budget must spill");
    assert!(
        spilled.summary.contains("spilled"),
        "the summary says so: {}",
        spilled.summary
    );
    assert_eq!(spilled.lines, in_memory.lines);
    assert_no_spill_files_left(spill_dir.path());

    // The keyed plan alone, spilled, against the literal plan in memory.
    let keyed_spilled = run_plan(lake.path(), Plan::Keyed, &|r| {
        r.materialize.memory_budget = 1
    });
    assert_eq!(keyed_spilled.lines, in_memory.lines);
}

fn assert_no_spill_files_left(dir: &std::path::Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "spill files left behind: {left:?}");
}

/// `--memory-limit` below the size of GetServices: the step goes to disk through the session's
/// memory pool (no budget set), and the run gives the same detections as without a limit.
#[test]
fn memory_limit_below_get_services_spills_and_completes() {
    let mut process = Vec::new();
    // 12,000 launches of common services with 2 KB command lines: GetServices holds > 24 MB.
    let long_tail = "x".repeat(2_000);
    for i in 0..12_000 {
        let service = format!("common{}.exe", i % 5);
        process.push(
            Row::launch("ws1.corp", &service, &format!("child{}.exe", i % 7)).with(|r| {
                r.command_line = Some(format!("child.exe {i} {long_tail}"));
            }),
        );
    }
    process.push(Row::launch("ws1.corp", "rare.exe", "cmd.exe"));
    process.push(Row::launch("db2", "other.exe", "whoami.exe"));
    let network = [Row::connection("ws1.corp", "rare.exe", "10.0.0.9")];
    let lake = lake_of(&process, &network, &[], &[]);
    lake.fill_empty_tables();

    let unlimited = run_plan(lake.path(), Plan::Keyed, &defaults);
    assert!(!unlimited.spilled);
    assert_eq!(unlimited.lines.len(), 2);

    let spill_dir = tempfile::tempdir().unwrap();
    let spill_path = spill_dir.path().to_path_buf();
    let limited = run_plan(lake.path(), Plan::Keyed, &|r| {
        r.session.memory_limit = Some(16 << 20);
        r.session.spill_dir = Some(spill_path.clone());
        r.materialize.spill_dir = Some(spill_path.clone());
    });
    assert!(
        limited.spilled,
        "GetServices is larger than the whole limit"
    );
    assert_eq!(limited.lines, unlimited.lines);
    assert_no_spill_files_left(spill_dir.path());
}

/// The spill folder is a user's choice (`--spill-dir`, or TMPDIR): names with glob or URL
/// characters must still read the spilled rows back (not silently read nothing).
#[test]
fn spill_folders_with_special_characters() {
    let lake = lake_of(
        &[Row::launch(DEVICE, "rare.exe", "cmd.exe")],
        &[Row::connection(DEVICE, "rare.exe", "10.0.0.1")],
        &[],
        &[],
    );
    let in_memory = run_both(&lake, &defaults);
    assert_eq!(in_memory.lines.len(), 1);
    let mut wrong = Vec::new();
    for name in ["a?b", "a[1]", "a*b", "a#b", "a%41b", "a b"] {
        let base = tempfile::tempdir().unwrap();
        let spill_dir = base.path().join(name);
        std::fs::create_dir_all(&spill_dir).unwrap();
        let run = run_plan(lake.path(), Plan::Keyed, &|r| {
            r.materialize.memory_budget = 1;
            r.materialize.spill_dir = Some(spill_dir.clone());
        });
        assert!(run.spilled);
        if run.lines != in_memory.lines {
            wrong.push(format!(
                "{name:?}: {} detections ({})",
                run.lines.len(),
                run.summary
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "spilled runs differ:\n{}",
        wrong.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// [10][11] make_set itself, through SQL
// ---------------------------------------------------------------------------------------------

fn sql_session(partitions: usize) -> SessionContext {
    let config = SessionConfig::new()
        .set_bool("datafusion.sql_parser.enable_ident_normalization", false)
        .with_target_partitions(partitions)
        // Switch to skipping partial aggregation early, so that convert_to_state runs too.
        .set_usize(
            "datafusion.execution.skip_partial_aggregation_probe_rows_threshold",
            10,
        )
        .set_str(
            "datafusion.execution.skip_partial_aggregation_probe_ratio_threshold",
            "0.0",
        );
    let ctx = SessionContext::new_with_config(config);
    huntlake::functions::register_all(&ctx);
    ctx
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Runs `sql` and returns every cell as JSON, row by row.
fn query(ctx: &SessionContext, sql: &str) -> Vec<Vec<Value>> {
    let batches = block_on(async { ctx.sql(sql).await?.collect().await })
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut rows = Vec::new();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            let line = huntlake::json_object(batch, row);
            let object: serde_json::Map<String, Value> = serde_json::from_str(&line).unwrap();
            let names = batch.schema();
            rows.push(
                names
                    .fields()
                    .iter()
                    .map(|f| object[f.name()].clone())
                    .collect(),
            );
        }
    }
    rows
}

fn table_of(columns: Vec<(&str, ArrayRef)>, partitions: Vec<Vec<usize>>) -> Arc<MemTable> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap();
    let partitions = partitions
        .into_iter()
        .map(|ranges| {
            ranges
                .chunks(2)
                .map(|r| batch.slice(r[0], r[1] - r[0]))
                .collect()
        })
        .collect();
    Arc::new(MemTable::try_new(schema, partitions).unwrap())
}

/// make_set skips nulls, keeps "", dedups, gives [] for a group of nulls, and caps the size at
/// max_size (which elements survive the cap is unspecified: any `max_size` of them).
#[test]
fn make_set_skips_nulls_keeps_empty_and_caps() {
    let ctx = sql_session(1);
    let g: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 1, 1, 1, 1, 2, 2, 3]));
    let x: ArrayRef = Arc::new(StringArray::from(vec![
        None,
        Some("a"),
        Some(""),
        Some("b"),
        Some("a"),
        Some("c"),
        None,
        None,
        Some("z"),
    ]));
    ctx.register_table("t", table_of(vec![("g", g), ("x", x)], vec![vec![0, 9]]))
        .unwrap();
    let rows = query(
        &ctx,
        "SELECT g, make_set(x) AS s, make_set(x, 100000) AS big, make_set(x, 2) AS capped \
         FROM t GROUP BY g ORDER BY g",
    );
    assert_eq!(rows[0][1], strings(&["", "a", "b", "c"]));
    assert_eq!(rows[0][2], strings(&["", "a", "b", "c"]));
    let capped: Vec<&str> = rows[0][3]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(capped.len(), 2, "{capped:?}");
    assert!(capped.iter().all(|v| ["", "a", "b", "c"].contains(v)));
    assert_ne!(capped[0], capped[1]);
    assert_eq!(rows[1][1], json!([]), "a group of nulls gives []");
    assert_eq!(rows[2][1], strings(&["z"]));

    // Without GROUP BY (the one-group accumulator).
    let all = query(&ctx, "SELECT make_set(x) AS s, make_set(x, 3) AS c FROM t");
    assert_eq!(all[0][0], strings(&["", "a", "b", "c", "z"]));
    assert_eq!(all[0][1].as_array().unwrap().len(), 3);

    // A cap below 1 is an error, not a silent [].
    let zero = block_on(async {
        ctx.sql("SELECT make_set(x, 0) FROM t")
            .await?
            .collect()
            .await
    });
    assert!(zero.is_err(), "make_set(x, 0) must be rejected");
}

/// make_set works on integers (sorted as numbers) and on every string layout alike.
#[test]
fn make_set_on_integers_and_string_layouts() {
    let ctx = sql_session(1);
    let values = [Some("b"), None, Some("a"), Some(""), Some("b")];
    let n: ArrayRef = Arc::new(Int64Array::from(vec![
        Some(3),
        Some(-2),
        None,
        Some(10),
        Some(3),
    ]));
    let utf8: ArrayRef = Arc::new(StringArray::from(values.to_vec()));
    let view: ArrayRef = Arc::new(StringViewArray::from(values.to_vec()));
    let dict: ArrayRef = Arc::new(
        values
            .iter()
            .copied()
            .collect::<DictionaryArray<Int32Type>>(),
    );
    ctx.register_table(
        "t",
        table_of(
            vec![("n", n), ("utf8", utf8), ("view", view), ("dict", dict)],
            vec![vec![0, 2, 2, 5]],
        ),
    )
    .unwrap();
    let rows = query(
        &ctx,
        "SELECT make_set(n) AS n, make_set(n, 2) AS n2, make_set(utf8) AS u, \
         make_set(view) AS v, make_set(dict) AS d FROM t",
    );
    assert_eq!(rows[0][0], json!([-2, 3, 10]));
    assert_eq!(rows[0][1].as_array().unwrap().len(), 2);
    assert_eq!(rows[0][2], strings(&["", "a", "b"]));
    assert_eq!(rows[0][3], strings(&["", "a", "b"]));
    assert_eq!(rows[0][4], strings(&["", "a", "b"]));
}

/// Many batches over 4 partitions (partial sets merged, and partial aggregation skipped after
/// 10 rows, so rows also become one-element sets) give exactly the sets of a single partition,
/// and of a plain Rust computation, with and without a FILTER clause (as the rule's SQL uses);
/// capped sets hold min(cap, distinct) of the group's values.
#[test]
fn make_set_is_the_same_over_partitions() {
    let mut rng = Rng::new(7);
    let rows = 4000;
    let groups: Vec<i64> = (0..rows).map(|_| rng.below(300) as i64).collect();
    let values: Vec<Option<String>> = (0..rows)
        .map(|_| match rng.below(10) {
            0 => None,
            1 => Some(String::new()),
            n => Some(format!("v{}", (n * 7 + rng.below(12)) % 23)),
        })
        .collect();
    let mut expected: std::collections::BTreeMap<i64, BTreeSet<String>> = Default::default();
    for (g, v) in groups.iter().zip(&values) {
        let set = expected.entry(*g).or_default();
        if let Some(v) = v {
            set.insert(v.clone());
        }
    }
    let columns = || -> Vec<(&str, ArrayRef)> {
        vec![
            ("g", Arc::new(Int64Array::from(groups.clone())) as ArrayRef),
            (
                "x",
                Arc::new(StringArray::from(
                    values.iter().map(|v| v.as_deref()).collect::<Vec<_>>(),
                )) as ArrayRef,
            ),
        ]
    };
    // Batches of 37 rows dealt over 4 partitions / all in one.
    let mut four: Vec<Vec<usize>> = vec![Vec::new(); 4];
    for (i, start) in (0..rows).step_by(37).enumerate() {
        four[i % 4].extend([start, (start + 37).min(rows)]);
    }
    let one = vec![four.concat()];
    let sql = "SELECT g, make_set(x) AS s, make_set(x, 3) AS c, \
               make_set(x, 100000) FILTER (WHERE x <> '') AS f \
               FROM t GROUP BY g ORDER BY g";

    let single = sql_session(1);
    single
        .register_table("t", table_of(columns(), one))
        .unwrap();
    let multi = sql_session(4);
    multi
        .register_table("t", table_of(columns(), four))
        .unwrap();
    let single_rows = query(&single, sql);
    let multi_rows = query(&multi, sql);
    assert_eq!(single_rows.len(), expected.len());
    for (rows, name) in [(&single_rows, "1 partition"), (&multi_rows, "4 partitions")] {
        assert_eq!(rows.len(), expected.len(), "{name}");
        for (row, (g, set)) in rows.iter().zip(&expected) {
            assert_eq!(row[0], json!(g), "{name}");
            let want: Vec<&str> = set.iter().map(String::as_str).collect();
            assert_eq!(row[1], strings(&want), "{name}, group {g}");
            let capped = row[2].as_array().unwrap();
            assert_eq!(capped.len(), set.len().min(3), "{name}, group {g}");
            assert!(
                capped.iter().all(|v| set.contains(v.as_str().unwrap())),
                "{name}, group {g}: {capped:?}"
            );
            let non_empty: Vec<&str> = want.iter().copied().filter(|v| !v.is_empty()).collect();
            assert_eq!(row[3], strings(&non_empty), "{name}, group {g}, FILTER");
        }
    }
    // The partial aggregation did switch to passing rows through (convert_to_state).
    let plan = query(&multi, &format!("EXPLAIN ANALYZE {sql}"));
    let plan = format!("{plan:?}");
    let skipped = plan
        .split("skipped_aggregation_rows=")
        .skip(1)
        .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .filter_map(|n| n.parse::<u64>().ok())
        .sum::<u64>();
    assert!(skipped > 0, "partial aggregation was never skipped: {plan}");
    let uncapped =
        |rows: &[Vec<Value>]| -> Vec<Value> { rows.iter().map(|r| r[1].clone()).collect() };
    assert_eq!(uncapped(&single_rows), uncapped(&multi_rows));
}

/// Keeps the make_set helpers honest: the list column of a query is a List<Utf8>.
#[test]
fn make_set_returns_a_list_of_utf8() {
    let ctx = sql_session(1);
    let view: ArrayRef = Arc::new(StringViewArray::from(vec![Some("a")]));
    ctx.register_table("t", table_of(vec![("x", view)], vec![vec![0, 1]]))
        .unwrap();
    let batches = block_on(async {
        ctx.sql("SELECT make_set(x) AS s FROM t")
            .await?
            .collect()
            .await
    })
    .unwrap();
    let column = batches[0].column(0);
    assert_eq!(
        column.data_type(),
        &DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
    );
    let list: &ListArray = column.as_list::<i32>();
    assert_eq!(list.value(0).as_string::<i32>().value(0), "a");
}
