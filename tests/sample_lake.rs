//! The embedded sample lake (`data/sample-lake/`, made by `src/sample.rs`): the detection finds
//! exactly the planted stories that data/README.md promises, with the set contents Kusto would
//! give; the common and allowlisted services never alert; a 30-day lookback adds the story from
//! outside the 14-day window; both plans agree; and the committed files are what the generator
//! writes today.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use huntlake::Plan;
use huntlake::json_object;
use huntlake::synth::write_sample_lake;
use huntlake::{DetectRequest, LakeSource, detect};

/// The sample lake as committed in the repository.
fn sample_lake_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample-lake")
}
use serde_json::{Value, json};

const DAY: i64 = 86_400 * 1_000_000_000;

/// The detections on `lake` as NDJSON lines with every set sorted (make_set's order is
/// undefined), as of the lake's reference time.
fn detections(lake: &Path, lookback_days: i64, plan: Plan) -> Vec<String> {
    detections_in(lake.into(), lookback_days, plan)
}

fn detections_in(lake: LakeSource, lookback_days: i64, plan: Plan) -> Vec<String> {
    let mut request = DetectRequest::new(lake.clone());
    request.rule.lookback = lookback_days * DAY;
    request.plan = plan;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let detection = runtime
        .block_on(detect(&request, &mut |_| {}))
        .unwrap_or_else(|e| panic!("detect on {lake}: {e}"));
    let mut lines = Vec::new();
    for batch in &detection.batches {
        for row in 0..batch.num_rows() {
            lines.push(sorted(serde_json::from_str(&json_object(batch, row)).unwrap()).to_string());
        }
    }
    lines
}

/// `row` with its sets sorted.
fn sorted(mut row: Value) -> Value {
    for value in row.as_object_mut().unwrap().values_mut() {
        if let Value::Array(set) = value {
            set.sort_by_key(|v| v.to_string());
        }
    }
    row
}

fn rows(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// (DeviceName, ServiceProcess, ServiceProcessID) of each detection, in output order.
fn keys(rows: &[Value]) -> Vec<(String, String, i64)> {
    rows.iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap().to_string();
            (
                text("DeviceName"),
                text("ServiceProcess"),
                r["ServiceProcessID"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn find<'a>(rows: &'a [Value], service: &str, pid: i64) -> &'a Value {
    rows.iter()
        .find(|r| r["ServiceProcess"] == service && r["ServiceProcessID"] == pid)
        .unwrap_or_else(|| panic!("no detection for {service} ({pid})"))
}

fn key(device: &str, service: &str, pid: i64) -> (String, String, i64) {
    (device.to_string(), service.to_string(), pid)
}

fn psexesvc() -> Value {
    json!({
        "DeviceName": "ws-fin-07.contoso.local",
        "ServiceProcess": "PSEXESVC.exe",
        "ServiceProcessCmdline": r"C:\Windows\PSEXESVC.exe",
        "ServiceProcessCreationTime": "2026-11-14T02:13:07.4412345Z",
        "ServiceProcessID": 7316,
        "ServiceProcessUser": "system",
        "ServiceProcessSHA1": "57ae06ebd376578431ff460f424fd79c80e0e015",
        "ConnectedAddresses": ["10.20.0.10", "10.20.3.11", "203.0.113.57"],
        "ConnectedUrls": ["", "sync.tele-metrics.example"],
        "FilesModified": ["PSEXEC-WS-DEV-11-4B1D7C2E.key", "dclist.txt"],
        "FileModFolderPath": [r"C:\Windows\PSEXEC-WS-DEV-11-4B1D7C2E.key", r"C:\Windows\Temp\dclist.txt"],
        "FileModHA1s": ["993abbc38cd0d90573733ed8a1b13082824f9f18", "d800854790d77c774f2e17488b28f728633a6663"],
        "ChildProcesses": ["cmd.exe"],
        "ChildCommandlines": [
            r#"cmd.exe /c net group "domain admins" /domain"#,
            r"cmd.exe /c nltest /dclist:contoso.local > C:\Windows\Temp\dclist.txt",
            "cmd.exe /c whoami /all",
        ],
        "DLLsLoaded": ["netapi32.dll", "secur32.dll", "userenv.dll", "wtsapi32.dll"],
        "DLLSHA1": [
            "149e629f3772da38055e7c37607c5080926915bb", "b844962ae75c5d50e0754f861be4ae307cee2797",
            "f11adb5883d376f8c99b31baa03cf575b2de242b", "f30995d4c8ad64c57599787abfad7a10d28c45b7",
        ],
        "HostName": "ws-fin-07",
        "DnsDomain": "contoso.local",
    })
}

fn remote_support(pid: i64) -> Value {
    let path = r"C:\Program Files (x86)\HelpDeskRemote\HelpDeskRemote.exe";
    let first = pid == 3348;
    json!({
        "DeviceName": "kiosk-lobby-01",
        "ServiceProcess": "HelpDeskRemote.exe",
        "ServiceProcessCmdline": format!(r#""{path}" --service"#),
        "ServiceProcessCreationTime": if first { "2026-11-08T09:02:15.5550123Z" } else { "2026-11-11T03:15:41.2290087Z" },
        "ServiceProcessID": pid,
        "ServiceProcessUser": "system",
        "ServiceProcessSHA1": "eaffc2a558d5100851eab6006a37b21016aee990",
        "ConnectedAddresses": ["198.51.100.80"],
        "ConnectedUrls": ["relay.helpdeskremote.example"],
        // The first instance wrote no file: the left join's unmatched "" (Kusto's make_set
        // keeps it).
        "FilesModified": [if first { "" } else { "connection_trace.txt" }],
        "FileModFolderPath": [if first { "" } else { r"C:\ProgramData\HelpDeskRemote\connection_trace.txt" }],
        "FileModHA1s": [if first { "" } else { "0f141bb2911168431fc3c4b66cbba2e2731c7e3b" }],
        "ChildProcesses": ["HelpDeskRemote.exe", if first { "cmd.exe" } else { "powershell.exe" }],
        "ChildCommandlines": [
            format!(r#""{path}" --backend"#),
            if first {
                r#""C:\Windows\system32\cmd.exe""#
            } else {
                "powershell.exe -NoProfile -Command Get-Service | Where-Object Status -eq Stopped"
            },
        ],
        "DLLsLoaded": [if first { "dxgi.dll" } else { "d3d11.dll" }, "winhttp.dll"],
        "DLLSHA1": if first {
            ["477490e19e7b492e227cc1c4c4748d858f5250ee", "587d2d7981c53a8ffac08c42464546a5733e2678"]
        } else {
            ["34975bf7cc91b2f2c193368f47cc2ecdf37d3366", "477490e19e7b492e227cc1c4c4748d858f5250ee"]
        },
        "HostName": "kiosk-lobby-01",
        "DnsDomain": "",
    })
}

fn svchosts() -> Value {
    let dir = r"C:\ProgramData\Microsoft\Crypto";
    json!({
        "DeviceName": "srv-file-01.contoso.local",
        "ServiceProcess": "svchosts.exe",
        "ServiceProcessCmdline": format!(r"{dir}\svchosts.exe -k netsvc"),
        "ServiceProcessCreationTime": "2026-11-01T03:41:12.9081234Z",
        "ServiceProcessID": 9044,
        "ServiceProcessUser": "system",
        "ServiceProcessSHA1": "f9c858b32bd7e7ae63e8608b1cb7725ca6b490ce",
        "ConnectedAddresses": ["198.51.100.23"],
        "ConnectedUrls": ["cdn.msft-telemetry.example"],
        "FilesModified": ["lsass.zip"],
        "FileModFolderPath": [format!(r"{dir}\lsass.zip")],
        "FileModHA1s": ["1236f186b5857c6954f789ab6ce6a0ad04161380"],
        "ChildProcesses": ["cmd.exe", "rundll32.exe"],
        "ChildCommandlines": [
            format!(r"cmd.exe /c del {dir}\lsass.dmp {dir}\lsass.zip"),
            format!(r"rundll32.exe C:\Windows\System32\comsvcs.dll, MiniDump 652 {dir}\lsass.dmp full"),
        ],
        "DLLsLoaded": ["bcrypt.dll", "dbghelp.dll", "winhttp.dll"],
        "DLLSHA1": [
            "3dd46156a15ce6ffea5c7f9930d86b9dd3861ee5", "477490e19e7b492e227cc1c4c4748d858f5250ee",
            "66f195e7795264b9e068ebf212c21d91dc78e09e",
        ],
        "HostName": "srv-file-01",
        "DnsDomain": "contoso.local",
    })
}

/// The installer's row, checked field by field (24 files are too many to spell out).
fn check_installer(row: &Value) {
    let temp = r"C:\Windows\Temp\{6F1C2A9E-3B4D-4C5E-8A7F-0D9E1B2C3A4D}";
    assert_eq!(row["DeviceName"], "srv-app-02.contoso.local");
    assert_eq!(
        row["ServiceProcessCmdline"],
        format!(r#""{temp}\FabrikamSetupSvc_7f3c.exe" /service"#)
    );
    assert_eq!(
        row["ServiceProcessCreationTime"],
        "2026-11-17T14:22:41.0736218Z"
    );
    assert_eq!(row["ServiceProcessUser"], "system");
    // No network event at all: the left join's unmatched row gives [""] (Kusto semantics).
    assert_eq!(row["ConnectedAddresses"], json!([""]));
    assert_eq!(row["ConnectedUrls"], json!([""]));
    assert_eq!(row["ChildProcesses"], json!(["msiexec.exe", "sc.exe"]));
    assert_eq!(
        row["ChildCommandlines"],
        json!([
            format!(r#"msiexec.exe /i "{temp}\FabrikamAgent-7.2.1.msi" /qn /norestart"#),
            "sc.exe start FabrikamAgent",
        ])
    );
    assert_eq!(
        row["DLLsLoaded"],
        json!(["cabinet.dll", "crypt32.dll", "msi.dll", "wintrust.dll"])
    );
    assert_eq!(row["DLLSHA1"].as_array().unwrap().len(), 4);
    let files = row["FilesModified"].as_array().unwrap();
    let paths = row["FileModFolderPath"].as_array().unwrap();
    assert_eq!((files.len(), paths.len()), (24, 24), "{row}");
    assert!(files.contains(&json!("FabrikamAgent.exe")) && files.contains(&json!("ja-JP.json")));
    for path in paths {
        assert!(
            path.as_str()
                .unwrap()
                .starts_with(r"C:\Program Files\Fabrikam\Agent\"),
            "{path}"
        );
    }
    assert_eq!(row["FileModHA1s"].as_array().unwrap().len(), 24);
    assert_eq!(
        (row["HostName"].as_str(), row["DnsDomain"].as_str()),
        (Some("srv-app-02"), Some("contoso.local"))
    );
}

#[test]
fn default_run_finds_exactly_the_planted_stories() {
    let rows = rows(&detections(&sample_lake_path(), 14, Plan::Keyed));
    assert_eq!(
        keys(&rows),
        [
            key("kiosk-lobby-01", "HelpDeskRemote.exe", 3348),
            key("kiosk-lobby-01", "HelpDeskRemote.exe", 2204),
            key(
                "srv-app-02.contoso.local",
                "FabrikamSetupSvc_7f3c.exe",
                5120
            ),
            key("ws-fin-07.contoso.local", "PSEXESVC.exe", 7316),
        ]
    );
    assert_eq!(find(&rows, "PSEXESVC.exe", 7316), &sorted(psexesvc()));
    assert_eq!(
        find(&rows, "HelpDeskRemote.exe", 3348),
        &sorted(remote_support(3348))
    );
    assert_eq!(
        find(&rows, "HelpDeskRemote.exe", 2204),
        &sorted(remote_support(2204))
    );
    check_installer(find(&rows, "FabrikamSetupSvc_7f3c.exe", 5120));
}

#[test]
fn common_allowlisted_and_out_of_window_services_do_not_alert() {
    let rows = rows(&detections(&sample_lake_path(), 14, Plan::Keyed));
    let services: BTreeSet<String> = rows
        .iter()
        .map(|r| r["ServiceProcess"].as_str().unwrap().to_ascii_lowercase())
        .collect();
    // The run finds the planted stories (an empty answer would pass the test below).
    assert_eq!(
        services,
        BTreeSet::from([
            "fabrikamsetupsvc_7f3c.exe".to_string(),
            "helpdeskremote.exe".to_string(),
            "psexesvc.exe".to_string(),
        ])
    );
    // CcmExec.exe launches children every day on every device; svchost.exe, MsMpEng.exe and
    // SearchIndexer.exe are allowlisted (whole name, any case); svchosts.exe ran on 2026-11-01.
    for quiet in [
        "ccmexec.exe",
        "svchost.exe",
        "msmpeng.exe",
        "searchindexer.exe",
        "svchosts.exe",
    ] {
        assert!(
            !services.contains(quiet),
            "{quiet} should not alert: {services:?}"
        );
    }
}

#[test]
fn lookback_30d_adds_the_outside_window_service() {
    let rows = rows(&detections(&sample_lake_path(), 30, Plan::Keyed));
    assert_eq!(
        keys(&rows),
        [
            key("kiosk-lobby-01", "HelpDeskRemote.exe", 3348),
            key("kiosk-lobby-01", "HelpDeskRemote.exe", 2204),
            key(
                "srv-app-02.contoso.local",
                "FabrikamSetupSvc_7f3c.exe",
                5120
            ),
            key("srv-file-01.contoso.local", "svchosts.exe", 9044),
            key("ws-fin-07.contoso.local", "PSEXESVC.exe", 7316),
        ]
    );
    assert_eq!(find(&rows, "svchosts.exe", 9044), &sorted(svchosts()));
    // The 14-day stories are unchanged: all their events are inside both windows.
    assert_eq!(find(&rows, "PSEXESVC.exe", 7316), &sorted(psexesvc()));
    check_installer(find(&rows, "FabrikamSetupSvc_7f3c.exe", 5120));
}

/// The sample lake built into the binary is the committed one: an installed huntlake's demo
/// gives the answer the repository's does.
#[test]
fn the_embedded_sample_is_the_committed_one() {
    for days in [14, 30] {
        let committed = detections(&sample_lake_path(), days, Plan::Keyed);
        assert!(!committed.is_empty());
        assert_eq!(
            detections_in(LakeSource::EmbeddedSample, days, Plan::Keyed),
            committed,
            "lookback {days}d"
        );
    }
}

#[test]
fn literal_plan_agrees_on_the_sample() {
    for (days, instances) in [(14, 4), (30, 5)] {
        let keyed = detections(&sample_lake_path(), days, Plan::Keyed);
        assert_eq!(rows(&keyed).len(), instances, "lookback {days}d");
        assert_eq!(
            detections(&sample_lake_path(), days, Plan::Literal),
            keyed,
            "lookback {days}d"
        );
    }
}

/// Every file below `root`, relative to it, sorted.
fn files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn read_parquet(path: &Path) -> Vec<datafusion::arrow::record_batch::RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    reader.map(|batch| batch.unwrap()).collect()
}

#[test]
fn committed_lake_is_what_the_generator_writes() {
    let committed = sample_lake_path();
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("sample-lake");
    let summary = write_sample_lake(&fresh, false).unwrap();
    assert_eq!(summary.files.len(), 4 * 21, "one file per table and day");

    let listed = files(&committed);
    assert_eq!(
        listed,
        files(&fresh),
        "the same files (regenerate: see data/README.md)"
    );
    for relative in &listed {
        let (old, new) = (committed.join(relative), fresh.join(relative));
        if relative.extension().is_some_and(|e| e == "parquet") {
            assert!(
                read_parquet(&old) == read_parquet(&new),
                "{} differs",
                relative.display()
            );
        } else {
            assert_eq!(
                std::fs::read(&old).unwrap(),
                std::fs::read(&new).unwrap(),
                "{}",
                relative.display()
            );
        }
    }
    for (days, instances) in [(14, 4), (30, 5)] {
        let committed_rows = detections(&committed, days, Plan::Keyed);
        assert_eq!(rows(&committed_rows).len(), instances, "lookback {days}d");
        assert_eq!(
            detections(&fresh, days, Plan::Keyed),
            committed_rows,
            "lookback {days}d"
        );
    }
}

#[test]
fn the_generator_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let (sa, sb) = (
        write_sample_lake(&a, false).unwrap(),
        write_sample_lake(&b, false).unwrap(),
    );
    assert_eq!(
        (&sa.files, &sa.rows, sa.bytes),
        (&sb.files, &sb.rows, sb.bytes)
    );
    for relative in files(&a) {
        assert!(
            std::fs::read(a.join(&relative)).unwrap() == std::fs::read(b.join(&relative)).unwrap(),
            "{} differs between two runs",
            relative.display()
        );
    }
}
