//! The detection and the shell across `huntlake worker` processes on 127.0.0.1: the same bytes
//! as one process, the plan's pieces intact on the workers, and the faults a cluster meets
//! (a worker that does not answer, one killed mid-query, another version, a wrong token).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use common::WorkerProcess as Worker;
use serde_json::Value;

/// Three workers, and the `--workers` value naming them.
fn three_workers(env: &[(&str, &str)], args: &[&str]) -> (Vec<Worker>, String) {
    let workers: Vec<Worker> = (0..3).map(|_| Worker::start(env, args)).collect();
    let list = workers
        .iter()
        .map(|w| w.url.clone())
        .collect::<Vec<_>>()
        .join(",");
    (workers, list)
}

fn huntlake() -> Command {
    let mut command = Command::cargo_bin("huntlake").unwrap();
    command
        .env("HUNTLAKE_HISTORY", "")
        .env_remove("HUNTLAKE_WORKERS")
        .env_remove("HUNTLAKE_CLUSTER_TOKEN");
    command
}

/// `detect` on `lake` as of `as_of`, with `extra` flags: (stdout, stderr); it must succeed.
fn detect(lake: &Path, as_of: &str, extra: &[&str]) -> (String, String) {
    let output = huntlake()
        .args(["detect", "--format", "ndjson", "--as-of", as_of, "--lake"])
        .arg(lake)
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    (String::from_utf8(output.stdout).unwrap(), stderr)
}

/// A generated lake of about 2.7 million rows (40 devices, 5 days), written once per test run,
/// and held by one test at a time (each checks that its run left no scratch folder in it).
fn generated_lake() -> (std::sync::MutexGuard<'static, ()>, PathBuf) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let lake = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cluster-lake");
    if !lake.join("manifest.json").is_file() || !complete(&lake) {
        huntlake()
            .args(["generate", "--devices", "40", "--days", "5", "--seed", "11"])
            .args([
                "--as-of",
                "2026-11-19T00:00:00Z",
                "--rare-rate",
                "0.2",
                "--out",
            ])
            .arg(&lake)
            .assert()
            .success();
    }
    // The lake is kept between test runs; a run stopped halfway (a test killed, Ctrl-C) must
    // not fail every later run's check that no scratch folder is left.
    match std::fs::remove_dir_all(lake.join("_huntlake")) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("removing the last run's scratch folder: {e}"),
    }
    (guard, lake)
}

fn complete(lake: &Path) -> bool {
    std::fs::read_to_string(lake.join("manifest.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .is_some_and(|m| m["complete"] == true)
}

#[test]
fn detect_on_three_workers_writes_the_bytes_one_process_writes() {
    let (workers, list) = three_workers(&[], &[]);
    let sample = common::sample_lake_path();
    let as_of = "2026-11-19T12:00:00Z";
    let (alone, _) = detect(&sample, as_of, &[]);
    let (spread, stderr) = detect(&sample, as_of, &["--workers", &list]);
    assert_eq!(spread, alone);
    assert_eq!(spread.lines().count(), 4);
    assert!(
        stderr.contains("on 3 workers") && stderr.contains("moved between processes"),
        "{stderr}"
    );
    // Every worker ran tasks, and said so, one line each.
    for worker in &workers {
        let lines = worker.lines();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("huntlake worker: task ")),
            "{}: {lines:?}",
            worker.url
        );
    }

    // At least 2 million rows: the same bytes again.
    let (_held, lake) = generated_lake();
    let as_of = "2026-11-19T00:00:00Z";
    let (alone, _) = detect(&lake, as_of, &[]);
    let (spread, stderr) = detect(&lake, as_of, &["--workers", &list]);
    assert!(alone.lines().count() > 10, "{alone}");
    assert_eq!(spread, alone);
    assert!(stderr.contains("scanned DeviceProcessEvents"), "{stderr}");
    // No scratch folder is left behind.
    assert!(!lake.join("_huntlake").exists());
}

#[test]
fn sql_on_workers_agrees_with_one_process() {
    let (_workers, list) = three_workers(&[], &[]);
    let queries = [
        // A group-by.
        "SELECT DeviceName, count(*) AS n FROM DeviceProcessEvents GROUP BY DeviceName \
         ORDER BY DeviceName",
        // A join between two Defender tables.
        "SELECT p.DeviceName, count(*) AS n FROM DeviceProcessEvents p \
         JOIN DeviceNetworkEvents n ON p.DeviceName = n.DeviceName \
         AND p.InitiatingProcessId = n.InitiatingProcessId \
         GROUP BY p.DeviceName ORDER BY p.DeviceName",
        // make_set, with a cap that holds (which values a cap keeps is left open, as in
        // Kusto, but not how many), and a KQL function that needs the shell's now().
        "SELECT DeviceName, make_set(FileName, 1000) AS names, \
         cardinality(make_set(FileName, 3)) AS capped, \
         count(*) FILTER (WHERE Timestamp > ago('7d')) AS recent \
         FROM DeviceImageLoadEvents GROUP BY DeviceName ORDER BY DeviceName",
    ];
    for query in queries {
        let run = |extra: &[&str]| {
            let output = huntlake()
                .args(["sql", "-q", "--format", "ndjson", "--lake"])
                .arg(common::sample_lake_path())
                .args(extra)
                .args(["-c", query])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr).to_string();
            assert!(output.status.success(), "{query}: {stderr}");
            String::from_utf8(output.stdout).unwrap()
        };
        let alone = run(&[]);
        assert!(alone.lines().count() >= 8, "{query}: {alone}");
        assert_eq!(run(&["--workers", &list]), alone, "{query}");
    }
}

/// The plan a worker runs keeps huntlake's pieces: the Kusto view's normalisation, the
/// membership test first in each right-side scan, the window on the raw column, make_set's cap.
#[test]
fn the_plan_a_worker_runs_keeps_huntlakes_pieces() {
    let (workers, list) = three_workers(&[], &["--log-plans"]);
    detect(
        &common::sample_lake_path(),
        "2026-11-19T12:00:00Z",
        &["--workers", &list],
    );
    std::thread::sleep(Duration::from_millis(200));
    let plans: String = workers
        .iter()
        .flat_map(|w| w.lines())
        .collect::<Vec<_>>()
        .join("\n");
    // The Kusto view: strings never null, times as ticks.
    assert!(plans.contains("kusto_string(DeviceName@"), "{plans}");
    assert!(
        plans.contains("kusto_datetime(InitiatingProcessCreationTime@"),
        "{plans}"
    );
    // The scan-order rule: the membership test in the rare names leads the right-side scans.
    assert!(
        plans.contains("predicate=in_exact(InitiatingProcessFileName@"),
        "{plans}"
    );
    // The window tested on the raw time column, its bound the tick after the window's start
    // less a nanosecond (`TimeGenerated@57 > 1793880000000000099`), in every scan that has it.
    let raw_bound = plans.match_indices("TimeGenerated@").any(|(i, m)| {
        let rest = &plans[i + m.len()..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        let Some(bound) = rest[digits..].strip_prefix(" > ") else {
            return false;
        };
        let bound: String = bound.chars().take_while(char::is_ascii_digit).collect();
        digits > 0 && bound.len() > 2 && bound.ends_with("99")
    });
    assert!(raw_bound, "no raw-column window bound: {plans}");
    assert!(!plans.contains("kusto_datetime(TimeGenerated@"), "{plans}");
    // make_set with its cap.
    assert!(plans.contains("make_set(e.FileName, 100000)"), "{plans}");
    // The materialized steps are written to the scratch folder by the workers themselves.
    for step in ["GetServices", "RareServices"] {
        let sink = plans.lines().any(|line| {
            line.contains("ScratchSinkExec: folder=") && line.ends_with(&format!("/{step}"))
        });
        assert!(sink, "no worker writes {step}: {plans}");
    }
}

#[test]
fn a_worker_that_does_not_answer_fails_the_query_in_time_naming_it() {
    // A port nobody listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    // A port that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_address = silent.local_addr().unwrap();
    for address in [closed, silent_address] {
        let started = Instant::now();
        let output = huntlake()
            .args(["detect", "--workers", &address.to_string()])
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("worker http://{address}/")),
            "{stderr}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{:?}",
            started.elapsed()
        );
    }
    drop(silent);
}

#[test]
fn a_worker_killed_mid_query_fails_it_leaving_no_output_and_no_scratch() {
    let (_held, lake) = generated_lake();
    let (mut workers, list) = three_workers(&[], &[]);
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("detections.ndjson");
    let mut run = Process::new(assert_cmd::cargo::cargo_bin("huntlake"))
        .args([
            "detect",
            "--as-of",
            "2026-11-19T00:00:00Z",
            "--workers",
            &list,
            "--lake",
        ])
        .arg(&lake)
        .arg("--output")
        .arg(&output)
        .env_remove("HUNTLAKE_CLUSTER_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the second worker is running a task, it dies.
    workers[1].wait_for("huntlake worker: task", Duration::from_secs(60));
    let killed = workers[1].url.clone();
    workers[1].child.kill().unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = run.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the query hangs after a worker died"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(run.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("worker {killed}")), "{stderr}");
    assert!(!output.exists(), "a partial output file was left");
    assert!(
        !lake.join("_huntlake").exists(),
        "the scratch folder was left"
    );
    workers.clear();
}

#[test]
fn a_worker_refuses_another_version_and_a_wrong_token() {
    // Another huntlake: a worker in this process answering with another version.
    let (ready, address) = mpsc::channel();
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                let options = huntlake::WorkerOptions {
                    listen: "127.0.0.1:0".parse().unwrap(),
                    token: None,
                    session: huntlake::SessionOptions::default(),
                    log: std::sync::Arc::new(|_: &str| {}),
                    log_plans: false,
                    version: "0.0.1 (functions 0000000000000000)".into(),
                };
                let _ = huntlake::serve_worker(options, move |a| ready.send(a).unwrap()).await;
            })
    });
    let other = address.recv().unwrap();
    let output = huntlake()
        .args(["detect", "--workers", &other.to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("0.0.1 (functions 0000000000000000)")
            && stderr.contains(huntlake::cluster_version()),
        "both versions named: {stderr}"
    );

    // A worker with a token: a planner without it, or with another, is refused and logged,
    // and the token is never printed.
    let secret = "s3cret-for-the-test";
    let worker = Worker::start(&[("HUNTLAKE_CLUSTER_TOKEN", secret)], &[]);
    for token in [None, Some("not-the-secret")] {
        let mut command = huntlake();
        command.args(["detect", "--workers", &worker.url]);
        if let Some(token) = token {
            command.env("HUNTLAKE_CLUSTER_TOKEN", token);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(&worker.url), "{stderr}");
        assert!(stderr.contains("Unauthenticated"), "{stderr}");
        let refused = worker.wait_for("refused a request", Duration::from_secs(10));
        assert!(!refused.contains(secret) && !refused.contains("not-the-secret"));
    }
    let (_, stderr) = {
        let output = huntlake()
            .env("HUNTLAKE_CLUSTER_TOKEN", secret)
            .args(["detect", "--format", "ndjson", "--workers", &worker.url])
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(output.status.success(), "{stderr}");
        (output.stdout, stderr)
    };
    assert!(!stderr.contains(secret));
    assert!(worker.lines().iter().all(|l| !l.contains(secret)));
}

#[test]
fn off_loopback_a_worker_needs_a_token() {
    let output = huntlake()
        .args(["worker", "--listen", "0.0.0.0:0"])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("HUNTLAKE_CLUSTER_TOKEN"), "{stderr}");
}

#[test]
fn a_worker_stops_cleanly_on_sigterm() {
    let mut worker = Worker::start(&[], &[]);
    let pid = worker.child.id() as i32;
    // SAFETY: kill(2) with a child's pid and SIGTERM only sends a signal.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = worker.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    worker.wait_for("huntlake worker: stopped", Duration::from_secs(5));
}
