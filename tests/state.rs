//! Daily runs with `--state`: each instance reported once, updates when a set grows, the
//! ledger readable with `huntlake sql`, refusal of other rule parameters, a state left as it
//! was by a failed or overlapping run, pruning, and the exit codes a scheduler reads.

mod common;

use std::path::Path;

use assert_cmd::Command;
use common::*;
use predicates::prelude::*;
use serde_json::{Value, json};

const DAY_1: &str = AS_OF;
const DAY_2: &str = "2026-11-20T12:00:00Z";

/// `huntlake detect --lake LAKE --as-of AS_OF --state STATE`.
fn detect(lake: &Path, as_of: &str, state: &Path) -> Command {
    let mut command = Command::cargo_bin("huntlake").unwrap();
    command
        .arg("detect")
        .arg("--lake")
        .arg(lake)
        .args(["--as-of", as_of, "--state"])
        .arg(state);
    command
}

fn json_lines(output: &std::process::Output) -> Vec<Value> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Day 1: two rare services, alpha.exe on ws1 and beta.exe on db2.
fn day_one_lake() -> Lake {
    let lake = Lake::new();
    lake.add(
        Table::Process,
        &[
            Row::launch(DEVICE, "alpha.exe", "cmd.exe").at(as_of() - 2 * NANOS_PER_DAY),
            Row::launch("db2", "beta.exe", "x.exe").at(as_of() - 3 * NANOS_PER_DAY),
        ],
    );
    lake.fill_empty_tables();
    lake
}

/// Day 2's new events: a new rare service (gamma.exe) and a new child of alpha's instance.
fn add_day_two(lake: &Lake) {
    let day_two = as_of() + NANOS_PER_DAY / 2;
    lake.add(
        Table::Process,
        &[
            Row::launch(DEVICE, "gamma.exe", "powershell.exe").at(day_two),
            Row::launch(DEVICE, "alpha.exe", "evil.exe").at(day_two),
        ],
    );
}

fn services(lines: &[Value], key: &dyn Fn(&Value) -> &Value) -> Vec<String> {
    let mut names: Vec<String> = lines
        .iter()
        .map(|l| key(l).as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn sql_lines(state: &Path, query: &str) -> Vec<Value> {
    let output = Command::cargo_bin("huntlake")
        .unwrap()
        .env("HUNTLAKE_HISTORY", "")
        .args(["sql", "--format", "ndjson", "--state"])
        .arg(state)
        .args(["-c", query])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    json_lines(&output)
}

#[test]
fn daily_runs_report_each_instance_once_and_updates_when_a_set_grows() {
    let lake = day_one_lake();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");

    // Day 1: both instances are new; --fail-on-detection exits 3.
    let first = detect(lake.path(), DAY_1, &state)
        .args(["--new-only", "--format", "ndjson", "--fail-on-detection"])
        .output()
        .unwrap();
    assert_eq!(
        first.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let first_rows = json_lines(&first);
    assert_eq!(
        services(&first_rows, &|r| &r["ServiceProcess"]),
        ["alpha.exe", "beta.exe"]
    );
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(
        stderr.contains("2 new, 0 updated, 0 reported before; 2 reported"),
        "{stderr}"
    );
    let alpha_id = first_rows
        .iter()
        .find(|r| r["ServiceProcess"] == "alpha.exe")
        .unwrap()["AlertId"]
        .clone();

    // Day 2, the same state copied, in Sentinel's shape: gamma is new, alpha is updated.
    add_day_two(&lake);
    let sentinel_state = dir.path().join("sentinel-state");
    copy_dir(&state, &sentinel_state);
    let alerts = detect(lake.path(), DAY_2, &sentinel_state)
        .args(["--new-only", "--format", "sentinel"])
        .output()
        .unwrap();
    assert!(alerts.status.success());
    let alerts = json_lines(&alerts);
    let status: Vec<(String, String)> = {
        let mut s: Vec<(String, String)> = alerts
            .iter()
            .map(|a| {
                let custom: Value = serde_json::from_str(
                    serde_json::from_str::<Value>(a["ExtendedProperties"].as_str().unwrap())
                        .unwrap()["Custom Details"]
                        .as_str()
                        .unwrap(),
                )
                .unwrap();
                (
                    custom["ServiceProcess"][0].as_str().unwrap().to_string(),
                    a["Status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        s.sort();
        s
    };
    assert_eq!(
        status,
        [
            ("alpha.exe".to_string(), "Updated".to_string()),
            ("gamma.exe".to_string(), "New".to_string())
        ]
    );

    // Day 2 as OCSF: exactly the new instance (Create) and the update (Update, same uid).
    let second = detect(lake.path(), DAY_2, &state)
        .args(["--new-only", "--format", "ocsf", "--fail-on-detection"])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(3));
    let findings = json_lines(&second);
    assert_eq!(findings.len(), 2, "{findings:?}");
    let alpha = findings
        .iter()
        .find(|f| f["finding_info"]["uid"] == alpha_id)
        .expect("alpha's update keeps its id");
    assert_eq!(alpha["activity_id"], 2);
    assert_eq!(alpha["type_uid"], 200402);
    assert_eq!(
        alpha["unmapped"]["ChildProcesses"],
        json!(["cmd.exe", "evil.exe"])
    );
    let gamma = findings.iter().find(|f| f != &alpha).unwrap();
    assert_eq!(gamma["activity_id"], 1);
    assert_eq!(gamma["unmapped"]["ServiceProcess"], "gamma.exe");

    // The same day again: nothing new, exit 0 even with --fail-on-detection.
    let third = detect(lake.path(), DAY_2, &state)
        .args(["--new-only", "--format", "ndjson", "--fail-on-detection"])
        .output()
        .unwrap();
    assert_eq!(third.status.code(), Some(0));
    assert_eq!(third.stdout, b"");
    // Without --new-only every detection is reported, and the state still moves on.
    let all = detect(lake.path(), DAY_2, &state)
        .args(["--format", "ndjson"])
        .output()
        .unwrap();
    assert_eq!(json_lines(&all).len(), 3);

    // The ledger and the alerts, with huntlake sql.
    let runs = sql_lines(
        &state,
        "SELECT \"Rows\", \"New\", \"Updated\", \"Unchanged\", \"ExitCode\", \"NewOnly\" \
         FROM StateRuns ORDER BY \"Started\"",
    );
    assert_eq!(
        runs,
        [
            json!({"Rows": 2, "New": 2, "Updated": 0, "Unchanged": 0, "ExitCode": 3, "NewOnly": true}),
            json!({"Rows": 3, "New": 1, "Updated": 1, "Unchanged": 1, "ExitCode": 3, "NewOnly": true}),
            json!({"Rows": 3, "New": 0, "Updated": 0, "Unchanged": 3, "ExitCode": 0, "NewOnly": true}),
            json!({"Rows": 3, "New": 0, "Updated": 0, "Unchanged": 3, "ExitCode": 0, "NewOnly": false}),
        ]
    );
    let alerts = sql_lines(
        &state,
        "SELECT \"ServiceProcess\", \"Reports\", \"FirstRunAsOf\", \"LastRunAsOf\" \
         FROM StateAlerts ORDER BY \"ServiceProcess\"",
    );
    assert_eq!(
        alerts,
        [
            json!({"ServiceProcess": "alpha.exe", "Reports": 3,
                   "FirstRunAsOf": "2026-11-19T12:00:00.0000000Z", "LastRunAsOf": "2026-11-20T12:00:00.0000000Z"}),
            json!({"ServiceProcess": "beta.exe", "Reports": 2,
                   "FirstRunAsOf": "2026-11-19T12:00:00.0000000Z", "LastRunAsOf": "2026-11-20T12:00:00.0000000Z"}),
            json!({"ServiceProcess": "gamma.exe", "Reports": 2,
                   "FirstRunAsOf": "2026-11-20T12:00:00.0000000Z", "LastRunAsOf": "2026-11-20T12:00:00.0000000Z"}),
        ]
    );
    // One generation on disk: the previous ones were removed after each commit.
    let mut files: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            ".lock",
            "alerts-000004.parquet",
            "runs-000004.parquet",
            "state.json"
        ]
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Every file of the state folder with its bytes.
fn snapshot(state: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(state)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn other_rule_parameters_are_refused_unless_the_state_is_reset() {
    let lake = day_one_lake();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    detect(lake.path(), DAY_1, &state)
        .args(["--new-only", "--format", "ndjson"])
        .assert()
        .success();
    let before = snapshot(&state);
    detect(lake.path(), DAY_1, &state)
        .args(["--new-only", "--threshold", "3", "--allow", "beta.exe"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            predicate::str::contains("made with other rule parameters")
                .and(predicate::str::contains("threshold 6 (this run: 3)"))
                .and(predicate::str::contains("--reset-state")),
        );
    assert_eq!(snapshot(&state), before);
    // Reset: alpha is new again; beta is allowlisted now.
    let reset = detect(lake.path(), DAY_1, &state)
        .args(["--new-only", "--format", "ndjson", "--threshold", "3"])
        .args(["--allow", "beta.exe", "--reset-state"])
        .output()
        .unwrap();
    assert!(reset.status.success());
    assert_eq!(
        services(&json_lines(&reset), &|r| &r["ServiceProcess"]),
        ["alpha.exe"]
    );
    // The ledger kept both runs.
    assert_eq!(
        sql_lines(&state, "SELECT count(*) AS n FROM StateRuns"),
        [json!({"n": 2})]
    );
}

#[test]
fn a_failed_or_overlapping_run_leaves_the_state_and_no_output() {
    let lake = day_one_lake();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    detect(lake.path(), DAY_1, &state)
        .args(["--format", "ndjson"])
        .assert()
        .success();
    add_day_two(&lake);
    let before = snapshot(&state);

    // The output cannot be written: the run fails before the state is touched.
    let missing = dir.path().join("no-such-folder").join("alerts.ndjson");
    detect(lake.path(), DAY_2, &state)
        .args(["--new-only", "--format", "ocsf", "--output"])
        .arg(&missing)
        .assert()
        .code(1);
    assert_eq!(snapshot(&state), before);

    // The lake is gone: the same.
    let output = dir.path().join("alerts.ndjson");
    detect(&dir.path().join("no-lake"), DAY_2, &state)
        .args(["--new-only", "--output"])
        .arg(&output)
        .assert()
        .code(1);
    assert_eq!(snapshot(&state), before);
    assert!(!output.exists());

    // Another run holds the state: this one stops at once, naming the state.
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(state.join(".lock"))
        .unwrap();
    use std::os::fd::AsRawFd;
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    detect(lake.path(), DAY_2, &state)
        .args(["--new-only", "--output"])
        .arg(&output)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "another huntlake run is using this state",
        ));
    assert_eq!(snapshot(&state), before);
    assert!(!output.exists());
    drop(lock);

    // Once free, the day-two run reports exactly what the failed runs would have.
    let second = detect(lake.path(), DAY_2, &state)
        .args(["--new-only", "--format", "ndjson", "--output"])
        .arg(&output)
        .output()
        .unwrap();
    assert!(second.status.success());
    let rows: Vec<Value> = std::fs::read_to_string(&output)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        services(&rows, &|r| &r["ServiceProcess"]),
        ["alpha.exe", "gamma.exe"]
    );
}

#[test]
fn instances_that_left_the_window_are_forgotten() {
    let lake = day_one_lake();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    detect(lake.path(), DAY_1, &state)
        .args(["--format", "ndjson"])
        .assert()
        .success();
    // Thirty days later: the events are out of the window; after the margin, pruned.
    let later = detect(lake.path(), "2026-12-19T12:00:00Z", &state)
        .args(["--new-only", "--format", "ndjson"])
        .output()
        .unwrap();
    assert!(later.status.success());
    assert_eq!(later.stdout, b"");
    assert!(
        String::from_utf8_lossy(&later.stderr).contains("(2 instances past the window forgotten)")
    );
    assert_eq!(
        sql_lines(&state, "SELECT count(*) AS n FROM StateAlerts"),
        [json!({"n": 0})]
    );
    // Reported again if they come back: they are new to the state.
    let again = detect(lake.path(), DAY_1, &state)
        .args(["--new-only", "--format", "ndjson"])
        .output()
        .unwrap();
    assert_eq!(json_lines(&again).len(), 2);
}

#[test]
fn exit_codes_tell_a_scheduler_what_happened() {
    let lake = day_one_lake();
    let mut plain = Command::cargo_bin("huntlake").unwrap();
    plain
        .args(["detect", "--format", "ndjson", "--as-of", DAY_1, "--lake"])
        .arg(lake.path());
    // Detections without --fail-on-detection: 0.
    plain.assert().code(0);
    // With it: 3.
    plain.arg("--fail-on-detection").assert().code(3);
    // Nothing found with it: 0.
    Command::cargo_bin("huntlake")
        .unwrap()
        .args([
            "detect",
            "--fail-on-detection",
            "--as-of",
            "2027-06-01T00:00:00Z",
            "--lake",
        ])
        .arg(lake.path())
        .assert()
        .code(0);
    // A usage error: 2 (--new-only needs --state).
    Command::cargo_bin("huntlake")
        .unwrap()
        .args(["detect", "--new-only", "--lake"])
        .arg(lake.path())
        .assert()
        .code(2);
    // A runtime error: 1.
    Command::cargo_bin("huntlake")
        .unwrap()
        .args(["detect", "--fail-on-detection", "--lake", "/no/such/lake"])
        .assert()
        .code(1);
}

#[test]
fn the_shells_detect_keeps_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let detect = format!(
        "\\detect --state '{}' --new-only --format ndjson",
        state.display()
    );
    let output = Command::cargo_bin("huntlake")
        .unwrap()
        .env("HUNTLAKE_HISTORY", "")
        .args(["sql", "--format", "ndjson", "-c", &detect, "-c", &detect])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The sample's four detections, once: the second \detect finds them all reported.
    let rows = json_lines(&output);
    assert_eq!(rows.len(), 4, "{rows:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("4 new, 0 updated, 0 reported before; 4 reported"),
        "{stderr}"
    );
    assert!(
        stderr.contains("0 new, 0 updated, 4 reported before; 0 reported"),
        "{stderr}"
    );
}
