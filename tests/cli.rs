//! The `huntlake detect` command, through the binary: output formats, the stderr summary, the
//! allowlist flags, and errors (message and exit code: 0 ok, 2 usage, 1 runtime).

mod common;

use std::path::Path;
use std::sync::Arc;

use assert_cmd::Command;
use common::*;
use datafusion::arrow::array::{ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use predicates::prelude::*;
use serde_json::{Value, json};

/// The rule's 18 output columns, in order, then huntlake's AlertId.
const HEADER: &str = "DeviceName,ServiceProcess,ServiceProcessCmdline,ServiceProcessCreationTime,\
ServiceProcessID,ServiceProcessUser,ServiceProcessSHA1,ConnectedAddresses,ConnectedUrls,\
FilesModified,FileModFolderPath,FileModHA1s,ChildProcesses,ChildCommandlines,DLLsLoaded,DLLSHA1,\
HostName,DnsDomain,AlertId";

/// `huntlake detect --lake LAKE --as-of AS_OF`.
fn detect(lake: &Path) -> Command {
    let mut command = Command::cargo_bin("huntlake").unwrap();
    command
        .arg("detect")
        .arg("--lake")
        .arg(lake)
        .arg("--as-of")
        .arg(AS_OF);
    command
}

/// Two rare services (one with network and file events), an allowlisted one and a common one
/// (6 launches).
fn small_lake() -> Lake {
    let lake = Lake::new();
    let mut process = vec![
        Row::launch(DEVICE, "rare.exe", "cmd.exe"),
        Row::launch(DEVICE, "rare.exe", "net.exe"),
        Row::launch("db2", "other.exe", "x.exe"),
        Row::launch(DEVICE, "svchost.exe", "cmd.exe"),
    ];
    for i in 0..6 {
        process.push(Row::launch(DEVICE, "common.exe", &format!("c{i}.exe")));
    }
    lake.add(Table::Process, &process);
    lake.add(
        Table::Network,
        &[Row::connection(DEVICE, "rare.exe", "10.0.0.1")],
    );
    lake.add(
        Table::File,
        &[Row::file_write(DEVICE, "rare.exe", "drop.txt")],
    );
    lake.fill_empty_tables();
    lake
}

const OTHER_LINE: &str = concat!(
    r#"{"DeviceName":"db2","ServiceProcess":"other.exe","#,
    r#""ServiceProcessCmdline":"\"C:\\Program Files\\other.exe\" -k run","#,
    r#""ServiceProcessCreationTime":"2026-11-01T00:00:05.0040000Z","ServiceProcessID":4242,"#,
    r#""ServiceProcessUser":"system","ServiceProcessSHA1":"3395856ce81f2b7382dee72602f798b642f14140","#,
    r#""ConnectedAddresses":[""],"ConnectedUrls":[""],"FilesModified":[""],"#,
    r#""FileModFolderPath":[""],"FileModHA1s":[""],"ChildProcesses":["x.exe"],"#,
    r#""ChildCommandlines":["x.exe /c whoami"],"DLLsLoaded":[""],"DLLSHA1":[""],"#,
    r#""HostName":"db2","DnsDomain":"","AlertId":"2c8b946b-b44f-595e-b42f-a8e87f1e54b6"}"#
);

const RARE_LINE: &str = concat!(
    r#"{"DeviceName":"ws1.corp.example","ServiceProcess":"rare.exe","#,
    r#""ServiceProcessCmdline":"\"C:\\Program Files\\rare.exe\" -k run","#,
    r#""ServiceProcessCreationTime":"2026-11-01T00:00:05.0040000Z","ServiceProcessID":4242,"#,
    r#""ServiceProcessUser":"system","ServiceProcessSHA1":"3395856ce81f2b7382dee72602f798b642f14140","#,
    r#""ConnectedAddresses":["10.0.0.1"],"ConnectedUrls":["10.0.0.1.example.net"],"#,
    r#""FilesModified":["drop.txt"],"FileModFolderPath":["C:\\ProgramData\\drop.txt"],"#,
    r#""FileModHA1s":["sha1-of-drop.txt"],"ChildProcesses":["cmd.exe","net.exe"],"#,
    r#""ChildCommandlines":["cmd.exe /c whoami","net.exe /c whoami"],"DLLsLoaded":[""],"#,
    r#""DLLSHA1":[""],"HostName":"ws1","DnsDomain":"corp.example","#,
    r#""AlertId":"26d84153-d389-5049-b706-4e54ffdf318b"}"#
);

fn stdout_of(command: &mut Command) -> String {
    let output = command.assert().success().get_output().clone();
    String::from_utf8(output.stdout).unwrap()
}

fn ndjson_rows(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The service names of the NDJSON detections of a run.
fn detected_services(command: &mut Command) -> Vec<String> {
    services(&ndjson_rows(&stdout_of(
        command.args(["--format", "ndjson"]),
    )))
}

// ---------------------------------------------------------------------------------------------
// Output formats
// ---------------------------------------------------------------------------------------------

#[test]
fn ndjson_is_one_object_per_line_in_key_order() {
    let lake = small_lake();
    let stdout = stdout_of(detect(lake.path()).args(["--format", "ndjson"]));
    assert_eq!(stdout, format!("{OTHER_LINE}\n{RARE_LINE}\n"));
    // Down a pipe, NDJSON is the default.
    assert_eq!(stdout_of(&mut detect(lake.path())), stdout);
}

#[test]
fn json_is_an_array_of_the_same_objects() {
    let lake = small_lake();
    let stdout = stdout_of(detect(lake.path()).args(["--format", "json"]));
    let parsed: Value = serde_json::from_str(&stdout).expect("valid JSON");
    let expected: Vec<Value> = ndjson_rows(&format!("{OTHER_LINE}\n{RARE_LINE}\n"));
    assert_eq!(parsed, Value::Array(expected));
}

#[test]
fn csv_has_the_18_columns_the_alert_id_and_sets_as_json_text() {
    let lake = small_lake();
    let stdout = stdout_of(detect(lake.path()).args(["--format", "csv"]));
    assert_eq!(stdout.lines().next(), Some(HEADER));
    let mut reader = csv::Reader::from_reader(stdout.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header.len(), 19);
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 2);
    let expected = ndjson_rows(&format!("{OTHER_LINE}\n{RARE_LINE}\n"));
    for (record, object) in records.iter().zip(&expected) {
        for (name, cell) in header.iter().zip(record.iter()) {
            match &object[name] {
                Value::String(text) => assert_eq!(cell, text, "{name}"),
                Value::Number(n) => assert_eq!(cell, n.to_string(), "{name}"),
                set @ Value::Array(_) => {
                    let parsed: Value = serde_json::from_str(cell)
                        .unwrap_or_else(|e| panic!("{name}: {cell:?} is not JSON: {e}"));
                    assert_eq!(&parsed, set, "{name}");
                }
                other => panic!("unexpected {name} value {other}"),
            }
        }
    }
    assert_eq!(&records[1][7], r#"["10.0.0.1"]"#);
    assert_eq!(&records[0][7], r#"[""]"#);
}

#[test]
fn parquet_has_list_columns_and_utc_nanosecond_timestamps() {
    let lake = small_lake();
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("detections.parquet");
    // The format comes from the extension.
    detect(lake.path())
        .arg("--output")
        .arg(&path)
        .assert()
        .success();
    let file = std::fs::File::open(&path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names.join(","), HEADER);
    assert_eq!(
        schema
            .field_with_name("ServiceProcessCreationTime")
            .unwrap()
            .data_type(),
        &DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
    );
    assert_eq!(
        schema
            .field_with_name("ServiceProcessID")
            .unwrap()
            .data_type(),
        &DataType::Int64
    );
    for set in ["ConnectedAddresses", "ChildProcesses", "DLLSHA1"] {
        assert!(
            matches!(
                schema.field_with_name(set).unwrap().data_type(),
                DataType::List(item) if matches!(item.data_type(), DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
            ),
            "{set} is {}",
            schema.field_with_name(set).unwrap().data_type()
        );
    }
    let lines: Vec<String> = batches
        .iter()
        .flat_map(|b| (0..b.num_rows()).map(move |r| huntlake::json_object(b, r)))
        .collect();
    assert_eq!(lines, [OTHER_LINE, RARE_LINE]);
    let created = batches[0]
        .column_by_name("ServiceProcessCreationTime")
        .unwrap()
        .as_primitive::<datafusion::arrow::datatypes::TimestampNanosecondType>()
        .value(0);
    assert_eq!(created, common::created());
}

#[test]
fn output_format_follows_the_extension_or_the_flag() {
    let lake = small_lake();
    let out = tempfile::tempdir().unwrap();
    let csv_path = out.path().join("d.csv");
    detect(lake.path())
        .arg("--output")
        .arg(&csv_path)
        .assert()
        .success()
        .stdout("");
    let text = std::fs::read_to_string(&csv_path).unwrap();
    assert_eq!(text.lines().next(), Some(HEADER));

    let forced = out.path().join("d.csv.txt");
    detect(lake.path())
        .args(["--format", "ndjson", "--output"])
        .arg(&forced)
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(&forced).unwrap(),
        format!("{OTHER_LINE}\n{RARE_LINE}\n")
    );
}

#[test]
fn table_format_shows_the_columns_and_values() {
    let lake = small_lake();
    let stdout = stdout_of(detect(lake.path()).args(["--format", "table"]));
    for expected in [
        "DeviceName",
        "DnsDomain",
        "rare.exe",
        "other.exe",
        "corp.example",
    ] {
        assert!(stdout.contains(expected), "{expected:?} not in {stdout}");
    }
}

#[test]
fn parquet_needs_an_output_file() {
    let lake = small_lake();
    detect(lake.path())
        .args(["--format", "parquet"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--output"));
}

/// A lake where nothing is detected (its one service is allowlisted).
fn quiet_lake() -> Lake {
    let lake = Lake::new();
    lake.add(
        Table::Process,
        &[Row::launch(DEVICE, "svchost.exe", "cmd.exe")],
    );
    lake.fill_empty_tables();
    lake
}

/// With no detections, NDJSON is empty and JSON is `[]`.
#[test]
fn no_detections_give_empty_ndjson_and_an_empty_json_array() {
    let lake = quiet_lake();
    let ndjson = stdout_of(detect(lake.path()).args(["--format", "ndjson"]));
    assert_eq!(ndjson, "");
    let json = stdout_of(detect(lake.path()).args(["--format", "json"]));
    assert_eq!(
        serde_json::from_str::<Value>(&json).unwrap(),
        Value::Array(vec![])
    );
}

/// With no detections a CSV still has its header: tools read the columns from it.
#[test]
fn no_detections_csv_keeps_its_header() {
    let lake = quiet_lake();
    let csv = stdout_of(detect(lake.path()).args(["--format", "csv"]));
    assert_eq!(csv, format!("{HEADER}\n"), "CSV without its header");
}

/// With no detections the Parquet output is still a Parquet file, with the 18 columns and no
/// rows (a 0-byte file breaks every reader).
#[test]
fn no_detections_parquet_is_a_valid_empty_file() {
    let lake = quiet_lake();
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("none.parquet");
    detect(lake.path())
        .arg("--output")
        .arg(&path)
        .assert()
        .success();
    let size = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::File::open(&path).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap_or_else(|e| {
        panic!("an empty result must still be a Parquet file ({size} bytes written): {e}")
    });
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names.join(","), HEADER);
    let rows: usize = builder
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(rows, 0);
}

// ---------------------------------------------------------------------------------------------
// The stderr summary and notes
// ---------------------------------------------------------------------------------------------

#[test]
fn summary_counts_rows_per_table_and_detections() {
    let lake = small_lake();
    let output = detect(lake.path()).assert().success().get_output().clone();
    let stderr = String::from_utf8(output.stderr).unwrap();
    for expected in [
        "DeviceProcessEvents 10 rows",
        "DeviceNetworkEvents 1 rows",
        "DeviceFileEvents 1 rows",
        "DeviceImageLoadEvents 0 rows",
        "2 detections",
        "lookback 14d",
    ] {
        assert!(stderr.contains(expected), "{expected:?} not in {stderr:?}");
    }
}

#[test]
fn lake_reference_time_is_used_without_as_of() {
    let lake = small_lake();
    std::fs::write(
        lake.path().join("huntlake-lake.json"),
        format!(r#"{{"reference_time": "{AS_OF}"}}"#),
    )
    .unwrap();
    let output = Command::cargo_bin("huntlake")
        .unwrap()
        .args(["detect", "--format", "ndjson", "--lake"])
        .arg(lake.path())
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("{OTHER_LINE}\n{RARE_LINE}\n")
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("huntlake-lake.json"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

#[test]
fn allow_adds_names_to_the_default_allowlist() {
    let lake = small_lake();
    assert_eq!(
        detected_services(detect(lake.path()).args(["--allow", "RARE.EXE"])),
        ["other.exe"]
    );
    assert_eq!(
        detected_services(detect(lake.path()).args([
            "--allow",
            "rare.exe",
            "--allow",
            "other.exe"
        ])),
        Vec::<String>::new()
    );
}

#[test]
fn allowlist_file_replaces_the_default_list() {
    let lake = small_lake();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("allow.txt");
    std::fs::write(
        &file,
        "# services we trust\n\n  rare.exe   # the updater\n#other.exe\n",
    )
    .unwrap();
    // svchost.exe is no longer allowlisted; rare.exe now is; other.exe is commented out.
    assert_eq!(
        detected_services(detect(lake.path()).arg("--allowlist").arg(&file)),
        ["other.exe", "svchost.exe"]
    );
    // --allow adds to the file's list.
    assert_eq!(
        detected_services(
            detect(lake.path())
                .arg("--allowlist")
                .arg(&file)
                .args(["--allow", "svchost.exe"])
        ),
        ["other.exe"]
    );
    // A missing allowlist file is a runtime error naming it.
    detect(lake.path())
        .arg("--allowlist")
        .arg(dir.path().join("nope.txt"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("nope.txt"));
}

/// Allowlist names are bound as values, never spliced into the SQL: a name with a quote is
/// just a name.
#[test]
fn allowlist_names_with_quotes_do_not_break_the_query() {
    let evil = "evil'); DROP TABLE x; --";
    let lake = Lake::new();
    lake.add(
        Table::Process,
        &[
            Row::launch(DEVICE, evil, "cmd.exe"),
            Row::launch(DEVICE, "rare.exe", "cmd.exe"),
        ],
    );
    lake.fill_empty_tables();
    assert_eq!(
        detected_services(&mut detect(lake.path())),
        [evil, "rare.exe"]
    );
    assert_eq!(
        detected_services(detect(lake.path()).args(["--allow", evil])),
        ["rare.exe"]
    );
    assert_eq!(
        detected_services(detect(lake.path()).args(["--allow", "it's.exe"])),
        [evil, "rare.exe"]
    );
}

#[test]
fn threshold_lookback_and_switch_flags() {
    let lake = small_lake();
    assert_eq!(
        detected_services(detect(lake.path()).args(["--threshold", "7"])),
        ["other.exe", "common.exe", "rare.exe"]
    );
    assert_eq!(
        detected_services(detect(lake.path()).args(["--threshold", "2"])),
        ["other.exe"]
    );
    detect(lake.path())
        .args(["--threshold", "0"])
        .assert()
        .code(2);
    // Every event is a day old: a 12-hour lookback sees none of them.
    assert_eq!(
        detected_services(detect(lake.path()).args(["--lookback", "12h"])),
        Vec::<String>::new()
    );
    let dropped = ndjson_rows(&stdout_of(detect(lake.path()).args([
        "--drop-empty-in-sets",
        "--format",
        "ndjson",
    ])));
    assert_eq!(dropped[0]["ConnectedAddresses"], Value::Array(vec![]));
    // The literal plan, and the spill path, print the same.
    let literal = stdout_of(detect(lake.path()).args(["--literal", "--format", "ndjson"]));
    assert_eq!(literal, format!("{OTHER_LINE}\n{RARE_LINE}\n"));
    let spilled = detect(lake.path())
        .args(["--materialize-budget", "1", "--format", "ndjson"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(
        String::from_utf8(spilled.stdout).unwrap(),
        format!("{OTHER_LINE}\n{RARE_LINE}\n")
    );
    assert!(
        String::from_utf8(spilled.stderr)
            .unwrap()
            .contains("spilled")
    );
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Asserts a run failed with `code` and a stderr containing every one of `parts`.
fn fails(command: &mut Command, code: i32, parts: &[&str]) -> String {
    let output = command.assert().code(code).get_output().clone();
    assert!(output.stdout.is_empty(), "no output on failure");
    let stderr = String::from_utf8(output.stderr).unwrap();
    for part in parts {
        assert!(stderr.contains(part), "{part:?} not in stderr: {stderr}");
    }
    stderr
}

#[test]
fn missing_table_folder_names_the_table_and_path() {
    let lake = small_lake();
    let dir = lake.table_dir(Table::File);
    std::fs::remove_dir_all(&dir).unwrap();
    fails(
        &mut detect(lake.path()),
        1,
        &["DeviceFileEvents", &dir.display().to_string()],
    );
}

/// A table folder holding only export litter (`_SUCCESS`, checksums, in-progress output).
#[test]
fn table_folder_without_parquet_files() {
    let lake = small_lake();
    let dir = lake.table_dir(Table::Image);
    std::fs::remove_dir_all(&dir).unwrap();
    for (relative, bytes) in [
        ("_SUCCESS", &b""[..]),
        ("part-00000.parquet.crc", b"crc"),
        ("_temporary/0/part-00000.parquet", b"PAR1"),
    ] {
        let path = dir.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    // An empty table, with a note: the rare service is still found, with no DLLs loaded.
    let output = detect(lake.path()).assert().success().get_output().clone();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "note: {} holds no Parquet file (*.parquet); DeviceImageLoadEvents is empty",
            dir.display()
        )),
        "{stderr}"
    );
    let rows = ndjson_rows(&String::from_utf8(output.stdout).unwrap());
    let rare: Vec<&Value> = rows
        .iter()
        .filter(|r| r["ServiceProcess"] == "rare.exe")
        .collect();
    assert_eq!(rare.len(), 1, "{rows:?}");
    assert_eq!(rare[0]["DLLsLoaded"], json!([""]));
}

/// A table folder whose only `.parquet` is a zero-byte file (skipped: it holds no rows) has no
/// Parquet files either, and should say so (not that no file has a time column).
#[test]
fn table_folder_with_only_a_zero_byte_parquet_file() {
    let lake = small_lake();
    let dir = lake.table_dir(Table::Image);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("part-00000.parquet"), b"").unwrap();
    let output = detect(lake.path()).assert().success().get_output().clone();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("the 1 Parquet files in")
            && stderr.contains("are all empty (zero bytes); DeviceImageLoadEvents is empty"),
        "{stderr}"
    );
}

/// Real exports often hold two or three of the four tables: by default a missing table folder
/// stops the run; `--allow-missing-tables` runs with it empty and says so.
#[test]
fn missing_tables_are_allowed_on_request_and_named() {
    let lake = small_lake();
    for table in [Table::Image, Table::Network] {
        std::fs::remove_dir_all(lake.table_dir(table)).unwrap();
    }
    fails(
        &mut detect(lake.path()),
        1,
        &["DeviceNetworkEvents", "no folder", "--allow-missing-tables"],
    );
    let output = detect(lake.path())
        .args(["--allow-missing-tables", "--format", "ndjson"])
        .assert()
        .success()
        .get_output()
        .clone();
    let stderr = String::from_utf8(output.stderr).unwrap();
    for table in ["DeviceNetworkEvents", "DeviceImageLoadEvents"] {
        assert!(
            stderr.contains(&format!(
                "note: the lake has no {table} folder; the table is empty"
            )),
            "{stderr}"
        );
    }
    assert!(!stderr.contains("DeviceFileEvents folder"), "{stderr}");
    let rows = ndjson_rows(&String::from_utf8(output.stdout).unwrap());
    let rare = rows
        .iter()
        .find(|r| r["ServiceProcess"] == "rare.exe")
        .expect("rare.exe is still detected");
    assert_eq!(rare["ConnectedAddresses"], json!([""]));
    assert_eq!(rare["DLLsLoaded"], json!([""]));
    assert_eq!(rare["FilesModified"], json!(["drop.txt"]));
}

#[test]
fn column_absent_from_every_file_names_table_and_column() {
    let lake = Lake::new();
    lake.add(
        Table::Process,
        &[Row::launch(DEVICE, "rare.exe", "cmd.exe")],
    );
    let no_url = FileSpec::default().omit(&["RemoteUrl"]);
    lake.write(
        Table::Network,
        &no_url,
        &[Row::connection(DEVICE, "rare.exe", "10.0.0.1")],
    );
    lake.write_zero_rows(Table::Network, &no_url);
    lake.fill_empty_tables();
    fails(
        &mut detect(lake.path()),
        1,
        &["DeviceNetworkEvents", "RemoteUrl"],
    );
}

#[test]
fn table_without_a_time_column() {
    let lake = small_lake();
    let dir = lake.table_dir(Table::Image);
    std::fs::remove_dir_all(&dir).unwrap();
    let batch = record_batch(Table::Image, &FileSpec::default(), &[]);
    let without_time = batch
        .project(&(1..batch.num_columns()).collect::<Vec<_>>())
        .unwrap();
    lake.write_batch(Table::Image, "no-time.parquet", &without_time);
    fails(
        &mut detect(lake.path()),
        1,
        &["DeviceImageLoadEvents", "TimeGenerated", "Timestamp"],
    );
}

#[test]
fn corrupt_parquet_file_is_named() {
    let lake = small_lake();
    let bad = lake.write_corrupt(Table::Network, "date=2026-11-19/part-bad.parquet");
    fails(
        &mut detect(lake.path()),
        1,
        &["DeviceNetworkEvents", &bad.display().to_string()],
    );
}

#[test]
fn key_column_of_the_wrong_type_names_file_and_column() {
    let lake = small_lake();
    let bad = lake.write(
        Table::Network,
        &FileSpec::default().pid(PidType::Utf8),
        &[Row::connection(DEVICE, "rare.exe", "10.0.0.9")],
    );
    fails(
        &mut detect(lake.path()),
        1,
        &[
            "DeviceNetworkEvents",
            &bad.display().to_string(),
            "InitiatingProcessId",
        ],
    );

    // A time column of text, likewise.
    let lake = small_lake();
    let batch = record_batch(
        Table::Image,
        &FileSpec::default(),
        &[Row::image_load(DEVICE, "rare.exe", "a.dll")],
    );
    let text_time: ArrayRef = Arc::new(StringArray::from(vec!["2026-11-18T12:00:00Z"]));
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[0] = Field::new("TimeGenerated", DataType::Utf8, true);
    let mut columns = batch.columns().to_vec();
    columns[0] = text_time;
    let batch = RecordBatch::try_new(
        Arc::new(datafusion::arrow::datatypes::Schema::new(fields)),
        columns,
    )
    .unwrap();
    let bad = lake.write_batch(Table::Image, "text-time.parquet", &batch);
    fails(
        &mut detect(lake.path()),
        1,
        &[&bad.display().to_string(), "TimeGenerated"],
    );
}

/// huntlake holds datetimes as nanoseconds (years 1677-2262); Kusto's reach years 1-9999. A
/// creation time outside that range (Windows' 1601-01-01 epoch, 9999-12-31 sentinels) cannot be
/// answered exactly, so the run must stop and say where, never print a wrong value.
#[test]
fn datetime_outside_the_nanosecond_range_names_file_and_column() {
    let lake = small_lake();
    let batch = record_batch(
        Table::Network,
        &FileSpec::default().unit(TimeUnit::Microsecond),
        &[Row::connection(DEVICE, "rare.exe", "10.0.0.9")],
    );
    let column = batch
        .schema()
        .index_of("InitiatingProcessCreationTime")
        .unwrap();
    let mut columns = batch.columns().to_vec();
    columns[column] = Arc::new(
        datafusion::arrow::array::TimestampMicrosecondArray::from(vec![-11_644_473_600_000_000])
            .with_timezone("UTC"),
    );
    let batch = RecordBatch::try_new(batch.schema(), columns).unwrap();
    let bad = lake.write_batch(Table::Network, "filetime-epoch.parquet", &batch);
    fails(
        &mut detect(lake.path()),
        1,
        &[
            "DeviceNetworkEvents",
            &bad.display().to_string(),
            "InitiatingProcessCreationTime",
            "1601",
        ],
    );
}

#[test]
fn time_column_flag_naming_a_missing_column() {
    let lake = small_lake();
    fails(
        detect(lake.path()).args(["--time-column", "EventTime"]),
        1,
        &["DeviceProcessEvents", "EventTime"],
    );
}

#[test]
fn output_into_a_missing_folder_names_the_path() {
    let lake = small_lake();
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("no-such-folder").join("d.ndjson");
    fails(
        detect(lake.path()).arg("--output").arg(&path),
        1,
        &[&path.display().to_string()],
    );
}

#[test]
fn bad_as_of_is_a_usage_error() {
    let lake = small_lake();
    let mut command = Command::cargo_bin("huntlake").unwrap();
    command
        .args(["detect", "--as-of", "yesterday", "--lake"])
        .arg(lake.path());
    fails(&mut command, 2, &["yesterday"]);
}

#[test]
fn bad_lookback_is_a_usage_error() {
    let lake = small_lake();
    fails(detect(lake.path()).args(["--lookback", "14x"]), 2, &["14x"]);
}

#[test]
fn nonexistent_lake_is_a_runtime_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-lake");
    fails(
        &mut detect(&missing),
        1,
        &[&missing.display().to_string(), "does not exist"],
    );
}

/// Output is written beside the destination and renamed into place: a failed run creates no
/// file, leaves an existing one as it was, and leaves no temporary file behind.
#[test]
fn failed_run_leaves_no_partial_output() {
    let lake = small_lake();
    lake.write_corrupt(Table::Process, "bad.parquet");
    let out = tempfile::tempdir().unwrap();
    let fresh = out.path().join("fresh.ndjson");
    detect(lake.path())
        .arg("--output")
        .arg(&fresh)
        .assert()
        .code(1);
    assert!(!fresh.exists(), "a failed run created {}", fresh.display());

    let existing = out.path().join("existing.parquet");
    std::fs::write(&existing, b"yesterday's results").unwrap();
    detect(lake.path())
        .arg("--output")
        .arg(&existing)
        .assert()
        .code(1);
    assert_eq!(std::fs::read(&existing).unwrap(), b"yesterday's results");

    // Parquet to standard output is refused after the detection ran: still nothing written.
    let good = small_lake();
    let parquet = out.path().join("p.parquet");
    detect(good.path())
        .args(["--format", "parquet"])
        .assert()
        .code(2);
    assert!(!parquet.exists());

    let left: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(left, ["existing.parquet"], "stray files: {left:?}");
}

/// `--memory-limit`, `--spill-dir` and `--explain` on the sample lake: the same detections;
/// the plans with their metrics on stderr; piped stderr gets no progress bar.
#[test]
fn memory_limit_spill_dir_and_explain_keep_the_answer() {
    let sample = common::sample_lake_path();
    let plain = stdout_of(detect(&sample).args(["--format", "ndjson"]));
    assert_eq!(plain.lines().count(), 4);

    let spill = tempfile::tempdir().unwrap();
    let output = detect(&sample)
        .args(["--format", "ndjson", "--memory-limit", "64MiB", "--explain"])
        .arg("--spill-dir")
        .arg(spill.path())
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), plain);
    let stderr = String::from_utf8(output.stderr).unwrap();
    for step in ["-- GetServices", "-- RareServices", "-- detection"] {
        assert!(stderr.contains(step), "no {step} plan in:\n{stderr}");
    }
    assert!(stderr.contains("DataSourceExec") && stderr.contains("output_rows="));
    // The three right-side scans test the rare names before anything else (src/scan_order.rs).
    assert_eq!(
        stderr
            .matches("predicate=in_exact(InitiatingProcessFileName@")
            .count(),
        3,
        "{stderr}"
    );
    // The day before the window in each table (kept by the partition slack) holds no row
    // after the window's start: its footer says so, and its file is not opened.
    assert_eq!(
        stderr
            .matches("1 file or part is not opened (their footers refute it)")
            .count(),
        4,
        "{stderr}"
    );
    assert!(
        !stderr.contains(" files  "),
        "a progress bar was drawn into a pipe"
    );

    detect(&sample)
        .args(["--spill-dir", "/nonexistent/huntlake-spill"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "--spill-dir /nonexistent/huntlake-spill: not an existing folder",
        ));
    detect(&sample)
        .args(["--memory-limit", "lots"])
        .assert()
        .code(2);
}

/// `HUNTLAKE_SQL_DIR` runs the rule's SQL from a folder instead of the built-in text.
#[test]
fn sql_dir_overrides_the_built_in_rule() {
    let sample = common::sample_lake_path();
    let dir = tempfile::tempdir().unwrap();
    let sql = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
    for name in [
        "get_services.sql",
        "rare_services.sql",
        "detect.sql",
        "literal.sql",
    ] {
        std::fs::copy(sql.join(name), dir.path().join(name)).unwrap();
    }
    let same = stdout_of(
        detect(&sample)
            .env("HUNTLAKE_SQL_DIR", dir.path())
            .args(["--format", "ndjson"]),
    );
    assert_eq!(same.lines().count(), 4);

    // No service is launched fewer than once: nothing is rare.
    let rare = dir.path().join("rare_services.sql");
    let text = std::fs::read_to_string(&rare).unwrap();
    std::fs::write(&rare, text.replace("< $threshold", "< 1")).unwrap();
    let none = stdout_of(
        detect(&sample)
            .env("HUNTLAKE_SQL_DIR", dir.path())
            .args(["--format", "ndjson"]),
    );
    assert_eq!(none, "");

    std::fs::remove_file(dir.path().join("detect.sql")).unwrap();
    detect(&sample)
        .env("HUNTLAKE_SQL_DIR", dir.path())
        .assert()
        .code(1)
        .stderr(predicates::str::contains("detect.sql (HUNTLAKE_SQL_DIR)"));
}

/// `huntlake generate`: the same seed writes the same bytes, and every rare service it plants
/// in the window is detected (its manifest is the ground truth of the benchmarks).
#[test]
fn generate_is_deterministic_and_its_planted_services_are_detected() {
    let generate = |out: &Path| {
        Command::cargo_bin("huntlake")
            .unwrap()
            .args(["generate", "--devices", "3", "--days", "3", "--seed", "7"])
            .args(["--as-of", "2026-11-19T00:00:00Z", "--rare-rate", "1"])
            .args(["--process-per-day", "200", "--network-per-day", "100"])
            .args(["--file-per-day", "100", "--image-per-day", "100"])
            .arg("--out")
            .arg(out)
            .assert()
            .success();
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    generate(a.path());
    generate(b.path());
    let files = |root: &Path| {
        let mut files: Vec<_> = walk(root)
            .into_iter()
            .map(|p| {
                (
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let (first, second) = (files(a.path()), files(b.path()));
    assert!(
        first
            .iter()
            .filter(|(p, _)| p.extension().is_some_and(|e| e == "parquet"))
            .count()
            >= 12
    );
    assert!(first == second, "two runs with the same seed differ");

    let manifest: Value =
        serde_json::from_slice(&std::fs::read(a.path().join("manifest.json")).unwrap()).unwrap();
    let planted = manifest["planted"].as_array().unwrap();
    assert!(!planted.is_empty());
    // detect() runs as of 12:00 that day: all three days are in the window.
    let rows = ndjson_rows(&stdout_of(detect(a.path()).args(["--format", "ndjson"])));
    for p in planted {
        assert!(
            rows.iter().any(|r| r["DeviceName"] == p["device_name"]
                && r["ServiceProcess"] == p["service_process"]
                && r["ServiceProcessID"] == p["service_process_id"]),
            "planted service not detected: {p}"
        );
    }
}

/// An installed huntlake, run in a folder that is not the checkout and without --lake, runs on
/// the sample lake it carries (not a path of the machine it was built on).
#[test]
fn without_lake_the_embedded_sample_runs_from_any_folder() {
    let elsewhere = tempfile::tempdir().unwrap();
    let output = Command::cargo_bin("huntlake")
        .unwrap()
        .current_dir(elsewhere.path())
        .env("CARGO_MANIFEST_DIR", "/nonexistent")
        .args(["detect", "--format", "ndjson"])
        .assert()
        .success()
        .get_output()
        .clone();
    let rows = ndjson_rows(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(rows.len(), 4);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("scanned DeviceProcessEvents 2474 rows") && stderr.contains("4 detections"),
        "{stderr}"
    );
    assert!(!stderr.contains(env!("CARGO_MANIFEST_DIR")), "{stderr}");
}

/// `huntlake generate` into `out` with small rates; `extra` flags after the defaults.
fn generate_small(out: &Path, days: &str, extra: &[&str]) -> Command {
    let mut command = Command::cargo_bin("huntlake").unwrap();
    command
        .args(["generate", "--devices", "2", "--days", days, "--seed", "3"])
        .args(["--as-of", "2026-11-19T00:00:00Z"])
        .args(["--process-per-day", "50", "--network-per-day", "20"])
        .args(["--file-per-day", "20", "--image-per-day", "20"])
        .args(extra)
        .arg("--out")
        .arg(out);
    command
}

/// Every file below `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = walk(dir)
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

#[test]
fn generate_never_deletes_what_it_did_not_write() {
    // A folder holding someone's files is refused, and left as it was.
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir
        .path()
        .join("DeviceProcessEvents/date=2026-11-18/part-00000.parquet");
    std::fs::create_dir_all(theirs.parent().unwrap()).unwrap();
    std::fs::write(&theirs, b"someone else's export").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"keep me").unwrap();
    let before = snapshot(dir.path());
    fails(
        &mut generate_small(dir.path(), "2", &[]),
        2,
        &[
            "not empty",
            "holds no lake huntlake generate wrote",
            "--force",
        ],
    );
    assert!(
        snapshot(dir.path()) == before,
        "a refused run changed the folder"
    );
    // With --force it still overwrites nothing that is not its own.
    fails(
        &mut generate_small(dir.path(), "2", &["--force"]),
        2,
        &[
            "DeviceProcessEvents/date=2026-11-18/part-00000.parquet",
            "is already there",
        ],
    );
    assert!(
        snapshot(dir.path()) == before,
        "a refused run changed the folder"
    );

    // A lake generate wrote: a bad argument is refused before anything is touched.
    let lake = tempfile::tempdir().unwrap();
    generate_small(lake.path(), "3", &[]).assert().success();
    let mine = lake.path().join("DeviceFileEvents/notes.txt");
    std::fs::write(&mine, b"an analyst's notes").unwrap();
    let written = snapshot(lake.path());
    for bad in [
        &["--devices", "0"][..],
        &["--rare-rate", "2"],
        &["--threads", "0"],
    ] {
        let mut command = generate_small(lake.path(), "3", &[]);
        command.args(bad);
        fails(&mut command, 2, &[bad[0]]);
        assert!(snapshot(lake.path()) == written, "{bad:?} touched the lake");
    }
    // A rerun with fewer days replaces generate's own files (the third day's are gone) and
    // keeps the analyst's.
    generate_small(lake.path(), "1", &[]).assert().success();
    let parquet: Vec<_> = walk(lake.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert_eq!(parquet.len(), 4, "one day of four tables: {parquet:?}");
    assert!(
        parquet
            .iter()
            .all(|p| p.to_string_lossy().contains("date=2026-11-18"))
    );
    assert_eq!(std::fs::read(&mine).unwrap(), b"an analyst's notes");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(lake.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["complete"], true);
    assert_eq!(manifest["files"].as_array().unwrap().len(), 4 + 2);

    // --force into a folder with other files: written beside them, nothing deleted.
    let mixed = tempfile::tempdir().unwrap();
    std::fs::write(mixed.path().join("notes.txt"), b"keep me").unwrap();
    generate_small(mixed.path(), "1", &["--force"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read(mixed.path().join("notes.txt")).unwrap(),
        b"keep me"
    );
    assert!(mixed.path().join("manifest.json").is_file());
}

/// Files huntlake writes get the mode any new file gets (0644 under umask 022), not a
/// temporary file's owner-only 0600: other accounts can read the lake and the results.
#[cfg(unix)]
#[test]
fn written_files_have_the_usual_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("detections.ndjson");
    detect(small_lake().path())
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let expected = 0o666 & !common::umask();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out), expected);
    let lake = dir.path().join("generated");
    generate_small(&lake, "1", &[]).assert().success();
    for file in walk(&lake) {
        assert_eq!(mode(&file), expected, "{}", file.display());
    }
}

/// `--skip-bad-files`: a file that is not Parquet, a truncated one and one whose key column has
/// the wrong type are set aside and listed; the answer is the lake's without them. Without the
/// flag, the first one stops the run naming it.
#[test]
fn skip_bad_files_sets_aside_unreadable_files_and_lists_them() {
    let lake = small_lake();
    assert!(detected_services(&mut detect(lake.path())).contains(&"rare.exe".to_string()));
    let clean = stdout_of(detect(lake.path()).args(["--format", "ndjson"]));

    let corrupt = lake.write_corrupt(Table::Network, "date=2026-11-19/not-parquet.parquet");
    let good = lake.add(
        Table::File,
        &[Row::file_write(DEVICE, "rare.exe", "second.txt")],
    );
    let truncated = lake.table_dir(Table::File).join("truncated.parquet");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::remove_file(&good).unwrap();
    let wrong_type = lake.write(
        Table::Image,
        &FileSpec::default().pid(PidType::Utf8),
        &[Row::image_load(DEVICE, "rare.exe", "evil.dll")],
    );

    // Without the flag: the first bad file (in path order) of the first table stops the run.
    fails(
        &mut detect(lake.path()),
        1,
        &[
            "DeviceNetworkEvents",
            &corrupt.display().to_string(),
            "not a readable Parquet file",
        ],
    );

    let output = detect(lake.path())
        .args(["--format", "ndjson", "--skip-bad-files"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8(output.stdout).unwrap(), clean);
    let stderr = String::from_utf8(output.stderr).unwrap();
    for (table, file, reason) in [
        (
            "DeviceNetworkEvents",
            &corrupt,
            "not a readable Parquet file",
        ),
        (
            "DeviceFileEvents",
            &truncated,
            "not a readable Parquet file",
        ),
        (
            "DeviceImageLoadEvents",
            &wrong_type,
            "column InitiatingProcessId is Utf8",
        ),
    ] {
        let line = stderr
            .lines()
            .find(|l| l.contains(&file.display().to_string()))
            .unwrap_or_else(|| panic!("{} not listed in {stderr}", file.display()));
        assert!(
            line.starts_with(&format!("huntlake: skipped {table} file ")),
            "{line}"
        );
        assert!(line.contains(reason), "{line}");
    }

    // Every file of a table unreadable: nothing to answer from.
    let lake = small_lake();
    std::fs::remove_dir_all(lake.table_dir(Table::Network)).unwrap();
    lake.write_corrupt(Table::Network, "only.parquet");
    fails(
        detect(lake.path()).arg("--skip-bad-files"),
        1,
        &[
            "DeviceNetworkEvents",
            "none of its 1 Parquet files is readable",
        ],
    );
}

/// A 10 MB command line goes through whole: no panic, no cut.
#[test]
fn a_ten_megabyte_command_line_goes_through() {
    let lake = Lake::new();
    let huge: String = "A".repeat(10 << 20);
    let mut launch = Row::launch(DEVICE, "rare.exe", "cmd.exe");
    launch.command_line = Some(huge.clone());
    lake.add(Table::Process, &[launch]);
    lake.fill_empty_tables();
    let rows = ndjson_rows(&stdout_of(detect(lake.path()).args(["--format", "ndjson"])));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["ChildCommandlines"], serde_json::json!([huge]));
}

/// Bytes that are not UTF-8 in a string column: one error naming the file, not a panic.
#[test]
fn non_utf8_bytes_name_the_file() {
    use datafusion::arrow::array::BinaryArray;
    let lake = small_lake();
    let batch = record_batch(
        Table::Process,
        &FileSpec::default(),
        &[Row::launch(DEVICE, "odd.exe", "x.exe")],
    );
    // FileName as raw bytes (BYTE_ARRAY without the UTF8 annotation, as some writers store
    // strings), holding a byte sequence that is not UTF-8.
    let index = batch.schema().index_of("FileName").unwrap();
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[index] = Field::new("FileName", DataType::Binary, true);
    let mut columns = batch.columns().to_vec();
    columns[index] = Arc::new(BinaryArray::from(vec![&b"x\xff\xfe.exe"[..]]));
    let batch = RecordBatch::try_new(
        Arc::new(datafusion::arrow::datatypes::Schema::new(fields)),
        columns,
    )
    .unwrap();
    let bad = lake.write_batch_with(Table::Process, "bytes.parquet", &batch, false);
    let stderr = fails(&mut detect(lake.path()), 1, &["UTF-8"]);
    assert!(
        stderr.contains(&bad.display().to_string()),
        "the message should name {}: {stderr}",
        bad.display()
    );
}

/// Partition pruning: a partition that ends more than a day (the default slack) before the
/// window is never opened, so even a corrupt file there costs nothing; rows in a partition
/// inside the slack still count. `--no-partition-pruning` opens everything.
#[test]
fn partitions_before_the_window_are_not_opened() {
    let lake = small_lake();
    let baseline = stdout_of(detect(lake.path()).args(["--format", "ndjson"]));
    // The window is (2026-11-05T12:00Z, 2026-11-19T12:00Z].
    let old = lake.write_corrupt(Table::Process, "date=2026-10-01/part-0.parquet");
    let y_m_d = lake.write_corrupt(Table::Network, "y=2026/m=11/d=03/h=23/m=00/PT1H.parquet");
    // Inside the slack: a row of the window filed under the day before it (event time vs
    // ingestion time), still found.
    let mut late = Row::file_write(DEVICE, "rare.exe", "late.txt");
    late.time = Some(at("2026-11-05T12:00:01Z"));
    lake.write(
        Table::File,
        &FileSpec::default().folder(Folder::Custom("date=2026-11-04".into())),
        &[late],
    );

    let output = detect(lake.path())
        .args(["--format", "ndjson"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows = ndjson_rows(&String::from_utf8(output.stdout).unwrap());
    let before = ndjson_rows(&baseline);
    assert_eq!(rows.len(), before.len());
    let rare = rows
        .iter()
        .find(|r| r["ServiceProcess"] == "rare.exe")
        .unwrap();
    assert_eq!(
        rare["FilesModified"],
        serde_json::json!(["drop.txt", "late.txt"])
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("; 2 files (")
            && stderr.contains(" in partitions before the window not opened"),
        "{stderr}"
    );

    // With a smaller slack the 11-04 partition is outside too; without pruning, the corrupt
    // files are read and named.
    let output = detect(lake.path())
        .args(["--format", "ndjson", "--partition-slack", "1h"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let rows = ndjson_rows(&String::from_utf8(output.stdout).unwrap());
    let rare = rows
        .iter()
        .find(|r| r["ServiceProcess"] == "rare.exe")
        .unwrap();
    assert_eq!(rare["FilesModified"], serde_json::json!(["drop.txt"]));
    // Without pruning the corrupt files are read, and the first is named.
    fails(
        detect(lake.path()).arg("--no-partition-pruning"),
        1,
        &[&old.display().to_string()],
    );
    let output = detect(lake.path())
        .args(["--no-partition-pruning", "--skip-bad-files"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    for file in [&old, &y_m_d] {
        assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    }
}

/// A `.parquet` name that cannot be read at all (here a link to nothing) is named, not passed
/// over: its rows would be lost without a word.
#[test]
fn a_data_file_that_cannot_be_read_is_named() {
    let lake = small_lake();
    let link = lake
        .table_dir(Table::File)
        .join("date=2026-11-19/gone.parquet");
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink("/no/such/target.parquet", &link).unwrap();
    fails(
        &mut detect(lake.path()),
        1,
        &[
            "DeviceFileEvents",
            &link.display().to_string(),
            "cannot be read",
        ],
    );
    let output = detect(lake.path())
        .arg("--skip-bad-files")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(&format!(
            "huntlake: skipped DeviceFileEvents file {}: cannot be read",
            link.display()
        )),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A copy of the sample lake in which one file's footer reads fine but a data page of
/// `InitiatingProcessParentFileName` (a column every table's scan reads) is garbage: only a
/// scan can find it. Returns the lake and the corrupt file.
fn sample_lake_with_a_corrupt_page() -> (tempfile::TempDir, std::path::PathBuf) {
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(&common::sample_lake_path(), dir.path());
    let file = dir
        .path()
        .join("DeviceProcessEvents/date=2026-11-18/part-00000.parquet");
    let reader = SerializedFileReader::new(std::fs::File::open(&file).unwrap()).unwrap();
    let row_group = reader.metadata().row_group(0);
    let column = row_group
        .columns()
        .iter()
        .find(|c| c.column_path().string() == "InitiatingProcessParentFileName")
        .unwrap();
    let (start, length) = column.byte_range();
    let mut bytes = std::fs::read(&file).unwrap();
    for byte in &mut bytes[start as usize..(start + length.min(64)) as usize] {
        *byte = 0xff;
    }
    std::fs::write(&file, bytes).unwrap();
    (dir, file)
}

#[test]
fn a_corrupt_data_page_names_its_table_and_file_and_can_be_set_aside() {
    let (lake, corrupt) = sample_lake_with_a_corrupt_page();
    let stderr = fails(
        &mut detect(lake.path()),
        1,
        &[
            "DeviceProcessEvents",
            &corrupt.display().to_string(),
            "cannot be decoded",
            "row group 0, column InitiatingProcessParentFileName",
        ],
    );
    assert!(
        stderr.starts_with("huntlake: error: DeviceProcessEvents: file "),
        "the table and the file come first, not the decoder's words: {stderr}"
    );

    // Set aside at scan time: listed, said to be excluded, and the answer is the lake's
    // without that file.
    let output = detect(lake.path())
        .args(["--format", "ndjson", "--skip-bad-files"])
        .assert()
        .success()
        .get_output()
        .clone();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "huntlake: skipped DeviceProcessEvents file {}: cannot be decoded (row group 0, \
             column InitiatingProcessParentFileName",
            corrupt.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("the result excludes the 1 skipped file"),
        "{stderr}"
    );
    std::fs::remove_file(&corrupt).unwrap();
    let without = stdout_of(detect(lake.path()).args(["--format", "ndjson"]));
    assert_eq!(String::from_utf8(output.stdout).unwrap(), without);
    assert!(!without.is_empty());
}

#[test]
fn a_query_over_a_corrupt_data_page_names_the_file_in_the_shell() {
    let (lake, corrupt) = sample_lake_with_a_corrupt_page();
    let output = Command::cargo_bin("huntlake")
        .unwrap()
        .args(["sql", "--lake"])
        .arg(lake.path())
        .args([
            "-c",
            "SELECT count(DISTINCT InitiatingProcessParentFileName) FROM DeviceProcessEvents",
        ])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "huntlake: error: DeviceProcessEvents: file {}: cannot be decoded",
            corrupt.display()
        )),
        "{stderr}"
    );
}
