//! `huntlake ingest`: the real KQLBench rows (exact counts, values read back through SQL), and
//! records in each export format: streaming-API JSON lines, Event Hubs captures, Sentinel JSON
//! with `_CL` names, portal CSV. Every record read is written or rejected (with its file, line
//! and reason), a rerun adds nothing, and the lake it writes is one huntlake reads.

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
