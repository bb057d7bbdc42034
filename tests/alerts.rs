//! Detections as alerts: Sentinel's SecurityAlert shape and OCSF 1.8.0 Detection Findings
//! (validated against the official schema committed under tests/fixtures/ocsf), the stable
//! AlertId in every format, and each alert's first and last event time.

mod common;

use std::path::Path;

use assert_cmd::Command;
use common::*;
use serde_json::{Value, json};

const RULE_ID: &str = "91a451e3-178f-41b2-9e5d-da97d75b9971";

/// `huntlake detect --lake LAKE --as-of AS_OF --format FORMAT`.
fn detect(lake: &Path, format: &str) -> Command {
    let mut command = Command::cargo_bin("huntlake").unwrap();
    command
        .arg("detect")
        .arg("--lake")
        .arg(lake)
        .args(["--as-of", AS_OF, "--format", format]);
    command
}

fn json_lines(command: &mut Command) -> Vec<Value> {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect()
}

fn hours(n: i64) -> i64 {
    n * 3_600 * NANOS_PER_SECOND
}

/// One rare instance whose events span a known time range, with traps for a naive
/// translation: a launch before the window, and a later connection of another instance of
/// the same service (another process id) that must not stretch the alert's end.
fn timed_lake() -> (Lake, i64, i64) {
    let lake = Lake::new();
    let first = as_of() - 3 * NANOS_PER_DAY; // a file write, before any launch
    let last = as_of() - hours(2); // a connection, after every launch
    lake.add(
        Table::Process,
        &[
            Row::launch(DEVICE, "rare.exe", "cmd.exe").at(as_of() - 2 * NANOS_PER_DAY),
            Row::launch(DEVICE, "rare.exe", "net.exe").at(as_of() - NANOS_PER_DAY),
            // Before the window: not one of the instance's events.
            Row::launch(DEVICE, "rare.exe", "old.exe").at(since() - NANOS_PER_DAY),
        ],
    );
    lake.add(
        Table::Network,
        &[
            Row::connection(DEVICE, "rare.exe", "10.0.0.1").at(last),
            // Another instance (pid 7): later, and not this alert's.
            Row::connection(DEVICE, "rare.exe", "10.0.0.2")
                .with(|r| r.pid = Some(7))
                .at(as_of() - hours(1)),
        ],
    );
    lake.add(
        Table::File,
        &[Row::file_write(DEVICE, "rare.exe", "drop.txt").at(first)],
    );
    lake.fill_empty_tables();
    (lake, first, last)
}

fn kusto_time(nanos: i64) -> String {
    huntlake::format_kusto_datetime(nanos)
}

#[test]
fn sentinel_alerts_are_security_alert_rows_with_the_rule_entities_and_details() {
    let (lake, first, last) = timed_lake();
    let rows = json_lines(&mut detect(lake.path(), "ndjson"));
    let alerts = json_lines(&mut detect(lake.path(), "sentinel"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(alerts.len(), 1);
    let (row, alert) = (&rows[0], &alerts[0]);
    assert_eq!(alert["AlertName"], "Rare Process as a Service");
    assert_eq!(alert["DisplayName"], "Rare Process as a Service");
    assert_eq!(alert["AlertSeverity"], "Medium");
    assert!(
        alert["Description"]
            .as_str()
            .unwrap()
            .starts_with("Looks for rarely seen processes which are launched as a service.")
    );
    for column in ["ProviderName", "ProductName", "VendorName"] {
        assert_eq!(alert[column], "huntlake", "{column}");
    }
    assert_eq!(alert["AlertType"], RULE_ID);
    assert_eq!(alert["SystemAlertId"], row["AlertId"]);
    assert_eq!(alert["Status"], "New");
    assert_eq!(alert["CompromisedEntity"], DEVICE);
    assert_eq!(alert["Tactics"], "Persistence");
    assert_eq!(alert["Techniques"], r#"["T1543","T1543.003"]"#);
    assert_eq!(alert["TimeGenerated"], kusto_time(as_of()));
    // The first and last events of this instance: the file write and the connection (not the
    // launch before the window, not the other instance's later connection).
    assert_eq!(alert["StartTime"], kusto_time(first));
    assert_eq!(alert["EndTime"], kusto_time(last));

    let entities: Value = serde_json::from_str(alert["Entities"].as_str().unwrap()).unwrap();
    assert_eq!(
        entities,
        json!([
            {"$id": "2", "FullName": DEVICE, "HostName": "ws1", "DnsDomain": "corp.example",
             "Type": "host"},
            {"$id": "3", "ProcessId": "4242", "CommandLine": cmdline_of("rare.exe"),
             "Type": "process"}
        ])
    );
    let properties: Value =
        serde_json::from_str(alert["ExtendedProperties"].as_str().unwrap()).unwrap();
    assert_eq!(properties["Query Period"], "14.00:00:00");
    assert_eq!(properties["Query Start Time UTC"], "2026-11-05 12:00:00Z");
    assert_eq!(properties["Query End Time UTC"], "2026-11-19 12:00:00Z");
    assert_eq!(properties["Analytic Rule Ids"], format!(r#"["{RULE_ID}"]"#));
    assert_eq!(properties["Event Grouping"], "AlertPerResult");
    assert!(properties.get("Cut Custom Details").is_none());
    let custom: Value =
        serde_json::from_str(properties["Custom Details"].as_str().unwrap()).unwrap();
    // The seven keys and the nine sets, as Sentinel's custom details: lists of strings.
    assert_eq!(custom.as_object().unwrap().len(), 16);
    assert_eq!(custom["ServiceProcessID"], json!(["4242"]));
    assert_eq!(custom["ChildProcesses"], json!(["cmd.exe", "net.exe"]));
    assert_eq!(custom["ConnectedAddresses"], json!(["10.0.0.1"]));
    assert_eq!(custom["FilesModified"], json!(["drop.txt"]));
    assert_eq!(custom["DLLsLoaded"], json!([""]));
}

#[test]
fn custom_details_past_64_kb_are_cut_and_the_alert_says_so() {
    let lake = Lake::new();
    // 2,000 children with 200-byte command lines: about 400 KB of custom details.
    let launches: Vec<Row> = (0..2000)
        .map(|i| {
            Row::launch(DEVICE, "rare.exe", &format!("child{i}.exe"))
                .with(|r| r.command_line = Some(format!("child{i}.exe {}", "x".repeat(190))))
        })
        .collect();
    // One service process launching 2,000 children is not rare: raise the threshold.
    lake.add(Table::Process, &launches);
    lake.fill_empty_tables();
    let alerts = json_lines(detect(lake.path(), "sentinel").args(["--threshold", "5000"]));
    assert_eq!(alerts.len(), 1);
    let properties = alerts[0]["ExtendedProperties"].as_str().unwrap();
    assert!(properties.len() <= 64 * 1024, "{}", properties.len());
    let properties: Value = serde_json::from_str(properties).unwrap();
    let cut: Value =
        serde_json::from_str(properties["Cut Custom Details"].as_str().unwrap()).unwrap();
    // The largest set is cut, only as much as needed.
    assert_eq!(cut, json!({"ChildCommandlines": 2000}));
    assert!(properties_len_close_to_cap(&alerts[0]));
    let custom: Value =
        serde_json::from_str(properties["Custom Details"].as_str().unwrap()).unwrap();
    let kept = custom["ChildCommandlines"].as_array().unwrap().len();
    assert!(kept > 0 && kept < 2000, "{kept}");
    assert_eq!(custom["ChildProcesses"].as_array().unwrap().len(), 2000);
}

fn properties_len_close_to_cap(alert: &Value) -> bool {
    let len = alert["ExtendedProperties"].as_str().unwrap().len();
    len > 64 * 1024 - 512 && len <= 64 * 1024
}

/// The OCSF 1.8.0 Detection Finding schema, compiled for validation.
fn ocsf_validator() -> (boon::Schemas, boon::SchemaIndex) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ocsf/detection_finding-1.8.0.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.add_resource("huntlake:ocsf", schema).unwrap();
    let index = compiler.compile("huntlake:ocsf", &mut schemas).unwrap();
    (schemas, index)
}

fn assert_valid(validator: &(boon::Schemas, boon::SchemaIndex), finding: &Value) {
    if let Err(e) = validator.0.validate(finding, validator.1) {
        panic!("not a valid OCSF 1.8.0 detection_finding: {e:#}\n{finding:#}");
    }
}

#[test]
fn ocsf_findings_validate_against_the_official_schema() {
    let validator = ocsf_validator();
    let sample = sample_lake_path();
    let rows = json_lines(&mut detect(&sample, "ndjson"));
    let findings = json_lines(&mut detect(&sample, "ocsf"));
    assert_eq!(findings.len(), rows.len());
    assert!(!findings.is_empty());
    for (finding, row) in findings.iter().zip(&rows) {
        assert_valid(&validator, finding);
        assert_eq!(finding["class_uid"], 2004);
        assert_eq!(finding["category_uid"], 2);
        assert_eq!(finding["type_uid"], 200401);
        assert_eq!(finding["activity_id"], 1);
        assert_eq!(finding["severity_id"], 3);
        assert_eq!(finding["status_id"], 1);
        assert_eq!(finding["metadata"]["version"], "1.8.0");
        assert_eq!(finding["metadata"]["product"]["name"], "huntlake");
        let info = &finding["finding_info"];
        assert_eq!(info["uid"], row["AlertId"]);
        assert_eq!(info["analytic"]["uid"], RULE_ID);
        assert_eq!(info["analytic"]["type_id"], 1);
        assert_eq!(info["attacks"][0]["tactic"]["uid"], "TA0003");
        assert_eq!(info["attacks"][0]["technique"]["uid"], "T1543");
        assert_eq!(info["attacks"][0]["sub_technique"]["uid"], "T1543.003");
        assert!(info["first_seen_time"].as_i64() <= info["last_seen_time"].as_i64());
        // The evidence: the device and the service process with its hash and pid.
        let evidences = finding["evidences"].as_array().unwrap();
        let device = evidences.iter().find_map(|e| e.get("device")).unwrap();
        assert_eq!(device["name"], row["DeviceName"]);
        assert_eq!(device["hostname"], row["HostName"]);
        let service = &evidences[1]["process"];
        assert_eq!(service["name"], row["ServiceProcess"]);
        assert_eq!(service["pid"], row["ServiceProcessID"]);
        assert_eq!(service["cmd_line"], row["ServiceProcessCmdline"]);
        assert_eq!(
            service["file"]["hashes"][0]["value"],
            row["ServiceProcessSHA1"]
        );
        // Every child the rule found is an evidence.
        for child in row["ChildProcesses"].as_array().unwrap() {
            if child != "" {
                assert!(
                    evidences.iter().any(|e| e["process"]["name"] == *child),
                    "{child} is not in the evidences"
                );
            }
        }
        // The rule's row, whole, in unmapped.
        assert_eq!(
            finding["unmapped"]["ChildCommandlines"],
            row["ChildCommandlines"]
        );
    }

    // The schema is not a formality: a finding without a required field fails it.
    let mut broken = findings[0].clone();
    broken["finding_info"]
        .as_object_mut()
        .unwrap()
        .remove("uid");
    assert!(validator.0.validate(&broken, validator.1).is_err());
    let mut broken = findings[0].clone();
    broken.as_object_mut().unwrap().remove("metadata");
    assert!(validator.0.validate(&broken, validator.1).is_err());
    let mut broken = findings[0].clone();
    broken["severity_id"] = json!(42);
    assert!(validator.0.validate(&broken, validator.1).is_err());
}

#[test]
fn ocsf_evidence_holds_endpoints_files_and_modules_and_stays_valid_on_odd_values() {
    let validator = ocsf_validator();
    let lake = Lake::new();
    lake.add(
        Table::Process,
        &[Row::launch(DEVICE, "rare.exe", "cmd.exe").with(|r| r.pid = None)],
    );
    lake.add(
        Table::Network,
        &[
            Row::connection(DEVICE, "rare.exe", "10.0.0.1").with(|r| r.pid = None),
            // Not an IP address: kept in unmapped only.
            Row::connection(DEVICE, "rare.exe", "not-an-ip").with(|r| r.pid = None),
        ],
    );
    lake.add(
        Table::Image,
        &[Row::image_load(DEVICE, "rare.exe", "evil.dll").with(|r| r.pid = None)],
    );
    lake.fill_empty_tables();
    let findings = json_lines(detect(lake.path(), "ocsf").arg("--null-keys-match"));
    assert_eq!(findings.len(), 1);
    let finding = &findings[0];
    assert_valid(&validator, finding);
    let evidences = finding["evidences"].as_array().unwrap();
    let ips: Vec<&Value> = evidences
        .iter()
        .filter_map(|e| e.get("dst_endpoint"))
        .collect();
    assert_eq!(ips, [&json!({"ip": "10.0.0.1"})]);
    let module = evidences
        .iter()
        .find(|e| e["name"] == "Module loaded")
        .unwrap();
    assert_eq!(module["file"]["name"], "evil.dll");
    assert_eq!(module["file"]["hashes"][0]["value"], "sha1-of-evil.dll");
    // No process id: the service process is identified by the alert id.
    assert!(evidences[1]["process"].get("pid").is_none());
    assert_eq!(
        evidences[1]["process"]["uid"],
        finding["finding_info"]["uid"]
    );
    assert_eq!(
        finding["unmapped"]["ConnectedAddresses"],
        json!(["10.0.0.1", "not-an-ip"])
    );
}

#[test]
fn the_alert_id_is_the_same_in_every_format_and_every_run() {
    let sample = sample_lake_path();
    let ids = |format: &str, key: &dyn Fn(&Value) -> Value| -> Vec<Value> {
        json_lines(&mut detect(&sample, format))
            .iter()
            .map(key)
            .collect()
    };
    let ndjson = ids("ndjson", &|row| row["AlertId"].clone());
    assert!(!ndjson.is_empty());
    assert_eq!(ids("ndjson", &|row| row["AlertId"].clone()), ndjson);
    assert_eq!(ids("sentinel", &|a| a["SystemAlertId"].clone()), ndjson);
    assert_eq!(ids("ocsf", &|f| f["finding_info"]["uid"].clone()), ndjson);
    let json: Value =
        serde_json::from_slice(&detect(&sample, "json").output().unwrap().stdout).unwrap();
    let from_json: Vec<Value> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["AlertId"].clone())
        .collect();
    assert_eq!(from_json, ndjson);
    // The rule's 18 columns come first, in order, then AlertId.
    let first = &json[0];
    let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 19);
}

#[test]
fn alerts_go_to_a_file_and_to_the_shells_detect() {
    let sample = sample_lake_path();
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("alerts.ndjson");
    let stdout = detect(&sample, "ocsf").output().unwrap().stdout;
    detect(&sample, "ocsf")
        .arg("--output")
        .arg(&path)
        .assert()
        .success()
        .stdout("");
    assert_eq!(std::fs::read(&path).unwrap(), stdout);

    let shell = Command::cargo_bin("huntlake")
        .unwrap()
        .env("HUNTLAKE_HISTORY", "")
        .args(["sql", "--format", "ndjson", "--lake"])
        .arg(&sample)
        .args([
            "-c",
            "\\detect --format sentinel",
            "-c",
            "SELECT count(DISTINCT AlertId) AS ids FROM Detections",
        ])
        .output()
        .unwrap();
    assert!(
        shell.status.success(),
        "{}",
        String::from_utf8_lossy(&shell.stderr)
    );
    let text = String::from_utf8(shell.stdout).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let alerts = lines
        .iter()
        .filter(|l| l.get("SystemAlertId").is_some())
        .count();
    assert_eq!(alerts, stdout.iter().filter(|b| **b == b'\n').count());
    assert_eq!(lines.last().unwrap(), &json!({"ids": alerts}));
}

#[test]
fn alert_formats_are_for_detections_only() {
    Command::cargo_bin("huntlake")
        .unwrap()
        .env("HUNTLAKE_HISTORY", "")
        .args(["sql", "--format", "ocsf", "-c", "SELECT 1"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("alerts are made from detections"));
}
