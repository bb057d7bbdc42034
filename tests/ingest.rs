//! `huntlake ingest`: the real KQLBench rows (exact counts, values read back through SQL), and
//! records in each export format: streaming-API JSON lines, Event Hubs captures, Sentinel JSON
//! with `_CL` names, portal CSV. Every record read is written or rejected (with its file, line
//! and reason), a rerun adds nothing, and the lake it writes is one huntlake reads.

mod common;

use common::walk;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::{Value, json};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/samples/KQLBench-Benchmark")
}

fn huntlake() -> Command {
    let mut command = Command::cargo_bin("huntlake").unwrap();
    command.env("HUNTLAKE_HISTORY", "");
    command
}

/// Runs ingest and returns its stderr (it must succeed).
fn ingest(from: &Path, to: &Path, extra: &[&str]) -> String {
    let output = huntlake()
        .arg("ingest")
        .arg("--from")
        .arg(from)
        .arg("--to")
        .arg(to)
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    stderr
}

/// `read, written, rejected` for `table` from ingest's report.
fn counts(stderr: &str, table: &str) -> (u64, u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with(&format!("huntlake: {table}: read ")))
        .unwrap_or_else(|| panic!("no counts for {table} in {stderr}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (numbers[0], numbers[1], numbers[2])
}

/// One SQL query over `lake`, as NDJSON rows.
fn query(lake: &Path, sql: &str) -> Vec<Value> {
    query_as_of(lake, "2026-11-20T00:00:00Z", sql)
}

fn query_as_of(lake: &Path, as_of: &str, sql: &str) -> Vec<Value> {
    let output = huntlake()
        .arg("sql")
        .arg("--lake")
        .arg(lake)
        .args(["--as-of", as_of, "--format", "ndjson", "-q", "-c", sql])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn rejects(lake: &Path) -> Vec<Value> {
    let dir = lake.join("_rejects");
    let mut rows = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            rows.extend(
                text.lines()
                    .map(|l| serde_json::from_str::<Value>(l).unwrap()),
            );
        }
    }
    rows
}

#[test]
fn the_kqlbench_rows_conserve_every_row_and_value() {
    let lake = tempfile::tempdir().unwrap();
    let stderr = ingest(&samples(), lake.path(), &[]);
    assert_eq!(counts(&stderr, "DeviceFileEvents"), (1003, 1003, 0));
    assert_eq!(counts(&stderr, "DeviceImageLoadEvents"), (90, 90, 0));
    assert_eq!(counts(&stderr, "DeviceNetworkEvents"), (749, 749, 0));
    // all_tables.json is the tables' column schema, not rows: its 10 entries name no table.
    assert_eq!(counts(&stderr, "(unknown table)"), (10, 0, 10));
    let rejected = rejects(lake.path());
    assert_eq!(rejected.len(), 10);
    assert!(rejected.iter().all(
        |r| r["source"].as_str().unwrap().ends_with("all_tables.json")
            && r["reason"] == "the record names no table (pass --table)"
    ));

    // The sample's README gives these counts.
    let actions = query(
        lake.path(),
        "SELECT ActionType, count(*) AS n FROM DeviceFileEvents GROUP BY ActionType ORDER BY n DESC",
    );
    assert_eq!(
        actions,
        vec![
            json!({"ActionType": "FileCreated", "n": 878}),
            json!({"ActionType": "FileModified", "n": 61}),
            json!({"ActionType": "FileDeleted", "n": 51}),
            json!({"ActionType": "FileRenamed", "n": 13}),
        ]
    );
    // Values: times to the 100 ns, nulls, JSON text, numbers, compared with the source.
    let source: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(samples().join("DeviceNetworkEvents.json")).unwrap(),
    )
    .unwrap();
    let first = &source[0];
    let rows = query(
        lake.path(),
        &format!(
            "SELECT tostring(TimeGenerated) AS t, RemotePort, InitiatingProcessId, \
             AdditionalFields, Type, InitiatingProcessFileSize FROM raw.DeviceNetworkEvents \
             WHERE ReportId = {} AND DeviceId = '{}' AND tostring(TimeGenerated) = '{}'",
            first["ReportId"],
            first["DeviceId"].as_str().unwrap(),
            first["TimeGenerated"].as_str().unwrap(),
        ),
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["t"], first["TimeGenerated"]);
    assert_eq!(rows[0]["RemotePort"], first["RemotePort"]);
    assert_eq!(rows[0]["InitiatingProcessId"], first["InitiatingProcessId"]);
    assert_eq!(rows[0]["Type"], "DeviceNetworkEvents");
    assert_eq!(rows[0]["InitiatingProcessFileSize"], Value::Null);

    // Rerun: the same files are replaced, no row is added.
    ingest(&samples(), lake.path(), &[]);
    let total = query(
        lake.path(),
        "SELECT (SELECT count(*) FROM DeviceFileEvents) + (SELECT count(*) FROM DeviceNetworkEvents) \
         + (SELECT count(*) FROM DeviceImageLoadEvents) AS n",
    );
    assert_eq!(total, vec![json!({"n": 1003 + 749 + 90})]);
}

/// A streaming-API record of `table` with Advanced Hunting columns.
fn streamed(table: &str, timestamp: &str, properties: Value) -> Value {
    let mut row = json!({
        "Timestamp": timestamp,
        "DeviceName": "ws1.corp.example",
        "InitiatingProcessFileName": "psexesvc.exe",
        "InitiatingProcessParentFileName": "services.exe",
        "InitiatingProcessId": 7316,
        "ReportId": 11,
    });
    for (k, v) in properties.as_object().unwrap() {
        row[k] = v.clone();
    }
    json!({
        "time": timestamp,
        "tenantId": "00000000-0000-0000-0000-000000000001",
        "operationName": "Publish",
        "category": format!("AdvancedHunting-{table}"),
        "properties": row,
    })
}

#[test]
fn streaming_api_lines_and_event_hubs_captures() {
    let dir = tempfile::tempdir().unwrap();
    let container = dir.path().join(
        "insights-logs-advancedhunting-deviceprocessevents/tenantId=0001/y=2026/m=11/d=19/h=10/m=00",
    );
    std::fs::create_dir_all(&container).unwrap();
    let lines = [
        streamed(
            "DeviceProcessEvents",
            "2026-11-19T10:00:01.1234567Z",
            json!({"FileName": "cmd.exe", "AdditionalFields": {"a": [1, 2]}, "NewColumn": 5}),
        )
        .to_string(),
        streamed(
            "DeviceProcessEvents",
            "2026-11-18T23:59:59Z",
            json!({"FileName": "whoami.exe"}),
        )
        .to_string(),
        // A key column of the wrong type: rejected.
        streamed(
            "DeviceProcessEvents",
            "2026-11-19T10:00:02Z",
            json!({"InitiatingProcessId": "not a number"}),
        )
        .to_string(),
        // A table huntlake does not read: rejected, counted under its name.
        streamed("DeviceEvents", "2026-11-19T10:00:03Z", json!({})).to_string(),
        "{\"category\": \"AdvancedHunting-DeviceProcessEvents\", \"properties\": {".to_string(),
    ];
    std::fs::write(container.join("PT1H.json"), lines.join("\n") + "\n").unwrap();
    // An Event Hubs capture of network events, already converted to JSON.
    let capture = json!({"records": [
        streamed("DeviceNetworkEvents", "2026-11-19T10:05:00Z", json!({"RemoteIP": "203.0.113.57", "RemotePort": 443})),
        streamed("DeviceNetworkEvents", "2026-11-19T10:06:00Z", json!({"RemoteIP": "10.0.0.1", "RemotePort": 445})),
    ]});
    std::fs::write(dir.path().join("capture.json"), capture.to_string()).unwrap();

    let lake = tempfile::tempdir().unwrap();
    let stderr = ingest(dir.path(), lake.path(), &[]);
    assert_eq!(counts(&stderr, "DeviceProcessEvents"), (3, 2, 1));
    assert_eq!(counts(&stderr, "DeviceNetworkEvents"), (2, 2, 0));
    assert_eq!(counts(&stderr, "DeviceEvents"), (1, 0, 1));
    assert_eq!(counts(&stderr, "(unknown table)"), (1, 0, 1));

    let mut rejected = rejects(lake.path());
    rejected.sort_by_key(|r| r["line"].as_u64());
    let reasons: Vec<(u64, &str)> = rejected
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(reasons.len(), 3);
    assert_eq!(reasons[0].0, 3);
    assert!(
        reasons[0]
            .1
            .starts_with("column InitiatingProcessId: expected a long"),
        "{reasons:?}"
    );
    assert_eq!(
        reasons[1],
        (
            4,
            "table DeviceEvents is not one of the four tables huntlake reads"
        )
    );
    assert_eq!(reasons[2].0, 5);
    assert!(reasons[2].1.starts_with("not valid JSON"));
    assert!(
        rejected[0]["source"]
            .as_str()
            .unwrap()
            .ends_with("PT1H.json")
    );

    // Partitioned by the row's Timestamp; Advanced Hunting columns; extras kept as text.
    assert!(
        lake.path()
            .join("DeviceProcessEvents/date=2026-11-18")
            .is_dir()
    );
    assert!(
        lake.path()
            .join("DeviceProcessEvents/date=2026-11-19")
            .is_dir()
    );
    let rows = query(
        lake.path(),
        "SELECT FileName, tostring(Timestamp) AS t, AdditionalFields \
         FROM raw.DeviceProcessEvents ORDER BY Timestamp DESC",
    );
    assert_eq!(
        rows,
        vec![
            json!({"FileName": "cmd.exe", "t": "2026-11-19T10:00:01.1234567Z",
                   "AdditionalFields": "{\"a\":[1,2]}"}),
            json!({"FileName": "whoami.exe", "t": "2026-11-18T23:59:59.0000000Z",
                   "AdditionalFields": null}),
        ]
    );
    // A column the schema does not know is kept in the file, as text.
    let day = lake.path().join("DeviceProcessEvents/date=2026-11-19");
    let file = std::fs::read_dir(&day)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let reader =
        datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(&file).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap();
    let batch = reader.into_iter().next().unwrap().unwrap();
    let extra = batch.column_by_name("NewColumn").expect("NewColumn kept");
    let extra =
        datafusion::arrow::compute::cast(extra, &datafusion::arrow::datatypes::DataType::Utf8)
            .unwrap();
    assert_eq!(
        datafusion::arrow::array::AsArray::as_string::<i32>(&extra).value(0),
        "5"
    );
    // detect needs all four tables, and names the one this lake lacks; the shell opens it with
    // that table empty, and the rule's first step reads the streamed rows (Timestamp as their
    // time column).
    huntlake()
        .args([
            "detect",
            "--format",
            "ndjson",
            "--as-of",
            "2026-11-20T00:00:00Z",
            "--lake",
        ])
        .arg(lake.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("DeviceFileEvents"));
    let rows = query(
        lake.path(),
        "SELECT DeviceName, count(*) AS n FROM GetServices GROUP BY DeviceName",
    );
    assert_eq!(
        rows,
        vec![json!({"DeviceName": "ws1.corp.example", "n": 2})]
    );
}

#[test]
fn sentinel_json_lines_and_portal_csv() {
    let dir = tempfile::tempdir().unwrap();
    let row = |file: &str, time: &str| {
        json!({"TenantId": "t", "TimeGenerated": time, "Timestamp": time,
               "DeviceName": "ws2", "FileName": file, "ActionType": "FileCreated",
               "FileSize": 12, "SourceSystem": "", "Type": "DeviceFileEvents_CL"})
        .to_string()
    };
    std::fs::write(
        dir.path().join("export.ndjson"),
        [
            row("a.txt", "2026-11-19T08:00:00Z"),
            row("b.txt", "2026-11-20T08:00:00Z"),
        ]
        .join("\n"),
    )
    .unwrap();
    // The portal's CSV: a BOM, its own time format, a quoted command line with a comma.
    std::fs::write(
        dir.path().join("hunting results.csv"),
        "\u{feff}Timestamp,DeviceName,FileName,ProcessCommandLine,ProcessId,InitiatingProcessFileName\n\
         \"Oct 9, 2024 2:41:10 PM\",ws3,cmd.exe,\"cmd.exe /c echo a,b\",4321,services.exe\n\
         \"Oct 9, 2024 2:41:11 PM\",ws3,net.exe,net view,notanumber,services.exe\n\
         not a time,ws3,x.exe,,1,y.exe\n",
    )
    .unwrap();

    let lake = tempfile::tempdir().unwrap();
    let stderr = ingest(dir.path(), lake.path(), &["--table", "DeviceProcessEvents"]);
    assert_eq!(counts(&stderr, "DeviceFileEvents"), (2, 2, 0));
    assert_eq!(counts(&stderr, "DeviceProcessEvents"), (3, 1, 2));
    let reasons: Vec<String> = rejects(lake.path())
        .iter()
        .map(|r| format!("{} {}", r["line"], r["reason"].as_str().unwrap()))
        .collect();
    assert!(
        reasons.contains(&"3 column ProcessId: expected a long, got \"notanumber\"".to_string()),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"4 no readable Timestamp (the row's time)".to_string()),
        "{reasons:?}"
    );

    let rows = query(
        lake.path(),
        "SELECT FileName, tostring(Timestamp) AS t, ProcessCommandLine, ProcessId \
         FROM raw.DeviceProcessEvents",
    );
    assert_eq!(
        rows,
        vec![
            json!({"FileName": "cmd.exe", "t": "2024-10-09T14:41:10.0000000Z",
                    "ProcessCommandLine": "cmd.exe /c echo a,b", "ProcessId": 4321})
        ]
    );
    let rows = query(
        lake.path(),
        "SELECT FileName, FileSize, Type FROM DeviceFileEvents ORDER BY FileName",
    );
    assert_eq!(
        rows,
        vec![
            json!({"FileName": "a.txt", "FileSize": 12, "Type": "DeviceFileEvents_CL"}),
            json!({"FileName": "b.txt", "FileSize": 12, "Type": "DeviceFileEvents_CL"}),
        ]
    );
    assert!(
        lake.path()
            .join("DeviceFileEvents/date=2026-11-20")
            .is_dir()
    );

    // A source that does not exist is one clear error.
    huntlake()
        .args(["ingest", "--from", "/no/such/export", "--to"])
        .arg(lake.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("/no/such/export"));
}

/// Rows of DeviceProcessEvents in `lake`, by SQL.
fn process_rows(lake: &Path) -> u64 {
    let rows = query(lake, "SELECT count(*) AS n FROM raw.DeviceProcessEvents");
    rows[0]["n"].as_u64().unwrap()
}

/// A streaming-API JSON line of a process event at `time`.
fn process_line(file: &str, time: &str) -> String {
    streamed("DeviceProcessEvents", time, json!({"FileName": file})).to_string()
}

#[test]
fn a_moved_or_remounted_export_folder_is_the_same_source() {
    let exports = tempfile::tempdir().unwrap();
    let first = exports.path().join("mount-a/2026-11");
    std::fs::create_dir_all(&first).unwrap();
    std::fs::write(
        first.join("PT1H.json"),
        [
            process_line("a.exe", "2026-11-19T10:00:00Z"),
            process_line("b.exe", "2026-11-19T11:00:00Z"),
        ]
        .join("\n"),
    )
    .unwrap();
    let lake = tempfile::tempdir().unwrap();
    ingest(&first, lake.path(), &[]);
    assert_eq!(process_rows(lake.path()), 2);

    // The folder moves (another mount point): the same relative path, the same content.
    let second = exports.path().join("mount-b/2026-11");
    std::fs::create_dir_all(second.parent().unwrap()).unwrap();
    std::fs::rename(&first, &second).unwrap();
    ingest(&second, lake.path(), &[]);
    assert_eq!(
        process_rows(lake.path()),
        2,
        "a moved folder duplicated rows"
    );

    // Its parent is ingested: another relative path, but the same content.
    ingest(second.parent().unwrap(), lake.path(), &[]);
    assert_eq!(
        process_rows(lake.path()),
        2,
        "the same content duplicated rows"
    );

    // The file grows: the same relative path, new content, which replaces the old.
    let file = second.join("PT1H.json");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push('\n');
    text.push_str(&process_line("c.exe", "2026-11-19T12:00:00Z"));
    std::fs::write(&file, text).unwrap();
    ingest(&second, lake.path(), &[]);
    assert_eq!(process_rows(lake.path()), 3);
    let parquet = walk(lake.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .count();
    assert_eq!(parquet, 1, "the earlier outputs were replaced");
}

#[test]
fn a_failing_rerun_keeps_the_rows_the_source_gave_before() {
    let exports = tempfile::tempdir().unwrap();
    let csv = exports.path().join("DeviceProcessEvents.csv");
    std::fs::write(
        &csv,
        "Timestamp,DeviceName,FileName\n2026-11-19T10:00:00Z,ws1,cmd.exe\n\
         2026-11-19T10:01:00Z,ws1,net.exe\n",
    )
    .unwrap();
    let lake = tempfile::tempdir().unwrap();
    ingest(exports.path(), lake.path(), &[]);
    assert_eq!(process_rows(lake.path()), 2);
    let before: Vec<_> = walk(lake.path());

    // The same file, now unreadable as CSV (its header is not UTF-8): the rerun fails.
    std::fs::write(
        &csv,
        b"Timestamp,Device\xffName\n2026-11-19T10:00:00Z,ws1\n",
    )
    .unwrap();
    huntlake()
        .args(["ingest", "--format", "csv", "--from"])
        .arg(exports.path())
        .arg("--to")
        .arg(lake.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("DeviceProcessEvents.csv"));
    assert_eq!(process_rows(lake.path()), 2, "a failing rerun lost rows");
    assert_eq!(
        walk(lake.path()),
        before,
        "a failing rerun left files behind"
    );
}

#[test]
fn the_portals_invalid_date_is_a_null_datetime_not_a_lost_row() {
    let exports = tempfile::tempdir().unwrap();
    std::fs::write(
        exports.path().join("DeviceProcessEvents.csv"),
        "Timestamp,DeviceName,FileName,ProcessCreationTime,InitiatingProcessParentCreationTime\n\
         \"Oct 9, 2024 2:41:10 PM\",ws1,cmd.exe,Invalid date,\n\
         \"Oct 9, 2024 2:41:11 PM\",ws1,net.exe,\"Oct 9, 2024 2:41:11 PM\",Invalid date\n\
         \"Oct 9, 2024 2:41:12 PM\",ws1,bad.exe,yesterday,\n",
    )
    .unwrap();
    let lake = tempfile::tempdir().unwrap();
    let stderr = ingest(exports.path(), lake.path(), &[]);
    assert_eq!(counts(&stderr, "DeviceProcessEvents"), (3, 2, 1));
    assert!(
        stderr.contains("note: 3 datetime cells were empty or 'Invalid date'"),
        "{stderr}"
    );
    let rows = query(
        lake.path(),
        "SELECT FileName, ProcessCreationTime IS NULL AS missing FROM raw.DeviceProcessEvents \
         ORDER BY FileName",
    );
    assert_eq!(
        rows,
        vec![
            json!({"FileName": "cmd.exe", "missing": true}),
            json!({"FileName": "net.exe", "missing": false}),
        ]
    );
    let rejected = rejects(lake.path());
    assert_eq!(rejected.len(), 1);
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("column ProcessCreationTime: expected a datetime, got \"yesterday\"")
    );
}

#[test]
fn exports_are_found_by_content_and_other_files_are_listed() {
    let exports = tempfile::tempdir().unwrap();
    // Streaming-API records in files named *.log (as some pipelines name them).
    std::fs::write(
        exports.path().join("events-0001.log"),
        process_line("a.exe", "2026-11-19T10:00:00Z"),
    )
    .unwrap();
    std::fs::write(
        exports.path().join("README.txt"),
        "How these exports were made.\n",
    )
    .unwrap();
    std::fs::write(exports.path().join("old.json.gz"), b"\x1f\x8b\x08\x00rest").unwrap();
    let lake = tempfile::tempdir().unwrap();
    let stderr = ingest(exports.path(), lake.path(), &[]);
    assert_eq!(process_rows(lake.path()), 1);
    assert!(stderr.contains("huntlake: 1 source files"), "{stderr}");
    assert!(
        stderr.contains("note: skipped") && stderr.contains("old.json.gz: gzip-compressed"),
        "{stderr}"
    );
    assert!(stderr.contains("README.txt: not an export"), "{stderr}");
    // What ingest writes has the mode any new file gets, not a temporary file's 0600.
    #[cfg(unix)]
    for file in walk(lake.path()) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !common::umask(), "{}", file.display());
    }

    // A folder without any export fails, naming it and what it skipped.
    let nothing = tempfile::tempdir().unwrap();
    std::fs::write(nothing.path().join("README.txt"), "nothing here\n").unwrap();
    huntlake()
        .arg("ingest")
        .arg("--from")
        .arg(nothing.path())
        .arg("--to")
        .arg(lake.path())
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains(format!(
                "{}: no export file to read",
                nothing.path().display()
            ))
            .and(predicate::str::contains("README.txt: not an export")),
        );
}

#[test]
fn json_values_and_rejected_records_are_kept_as_they_came() {
    let exports = tempfile::tempdir().unwrap();
    // Written by hand, not by a JSON library: key order, spacing and number forms as an
    // exporter wrote them.
    let nested = r#"{"z": 1.10, "a": [123456789012345678901234567890, "x"]}"#;
    let good = format!(
        r#"{{"time": "2026-11-19T10:00:00Z", "tenantId": "t1", "category": "AdvancedHunting-DeviceProcessEvents", "properties": {{"Timestamp": "2026-11-19T10:00:00Z", "DeviceName": "ws1", "FileName": "a.exe", "AdditionalFields": {nested}, "Unknown": 1.10}}}}"#
    );
    let bad = r#"{"time": "2026-11-19T10:00:01Z", "tenantId": "t1", "category": "AdvancedHunting-DeviceProcessEvents", "properties": {"Timestamp": "2026-11-19T10:00:01Z", "DeviceName": "ws1", "ProcessId": "not a number"}}"#;
    std::fs::write(exports.path().join("PT1H.json"), format!("{good}\n{bad}\n")).unwrap();
    let lake = tempfile::tempdir().unwrap();
    ingest(exports.path(), lake.path(), &[]);
    let rows = query(
        lake.path(),
        "SELECT AdditionalFields FROM raw.DeviceProcessEvents",
    );
    assert_eq!(rows, vec![json!({"AdditionalFields": nested})]);
    // A field the schema does not know is kept in the file as its text.
    let file = walk(lake.path())
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    let batch = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&file).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap()
    .next()
    .unwrap()
    .unwrap();
    let unknown = batch.column_by_name("Unknown").expect("Unknown kept");
    assert_eq!(
        datafusion::arrow::array::AsArray::as_string::<i32>(unknown).value(0),
        "1.10"
    );
    let rejected = rejects(lake.path());
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["text"], bad, "the whole record, byte for byte");
    // Fed back in after a fix, it is read like any record.
    let fixed = rejected[0]["text"]
        .as_str()
        .unwrap()
        .replace("\"not a number\"", "4242");
    let again = tempfile::tempdir().unwrap();
    std::fs::write(again.path().join("fixed.json"), fixed).unwrap();
    ingest(again.path(), lake.path(), &[]);
    assert_eq!(process_rows(lake.path()), 2);
}
