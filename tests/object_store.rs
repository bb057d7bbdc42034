//! Lakes in an object store, for real: the sample lake uploaded to Azurite (the Azure Storage
//! emulator) gives the same detections and SQL answers through `az://` as from local disk; an
//! emulator that is down, a missing prefix and a rejected key each give one clear error that
//! names the URL and shows no secret.
//!
//! Azurite is an npm package. The tests use `$HUNTLAKE_AZURITE` (the `azurite-blob` program) if
//! set, else `~/.cache/huntlake-azurite`, installing it there with npm on first use.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::StreamExt;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use predicates::prelude::*;

const ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development key (public, documented by Microsoft).
const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const AZURITE_VERSION: &str = "3.37.0";

fn sample_lake() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample-lake")
}

/// A running Azurite blob service on a free loopback port, stopped when dropped.
struct Azurite {
    child: Child,
    port: u16,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn azurite_program() -> PathBuf {
    if let Some(program) = std::env::var_os("HUNTLAKE_AZURITE") {
        return PathBuf::from(program);
    }
    let home = std::env::var_os("HOME").expect("HOME is set");
    let dir = Path::new(&home).join(".cache/huntlake-azurite");
    let program = dir.join("node_modules/.bin/azurite-blob");
    if !program.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let status = std::process::Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(format!("azurite@{AZURITE_VERSION}"))
            .stdout(Stdio::null())
            .status()
            .expect("npm is needed to install Azurite for the object-store tests");
        assert!(status.success(), "npm install azurite failed");
    }
    program
}

impl Azurite {
    fn start() -> Azurite {
        let port = free_port();
        let child = std::process::Command::new(azurite_program())
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args(["--inMemoryPersistence", "--silent", "--skipApiVersionCheck"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start azurite-blob");
        let azurite = Azurite { child, port };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "Azurite did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        azurite
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a container: the one request object_store has no call for, signed with the
    /// account's shared key.
    fn create_container(&self, container: &str) {
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let version = "2021-08-06";
        let to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n\
             /{ACCOUNT}/{ACCOUNT}/{container}\nrestype:container"
        );
        let key = ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            &BASE64.decode(ACCOUNT_KEY).unwrap(),
        );
        let signature = BASE64.encode(ring::hmac::sign(&key, to_sign.as_bytes()).as_ref());
        let request = format!(
            "PUT /{ACCOUNT}/{container}?restype=container HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
             x-ms-date: {date}\r\nx-ms-version: {version}\r\nContent-Length: 0\r\n\
             Authorization: SharedKey {ACCOUNT}:{signature}\r\nConnection: close\r\n\r\n",
            self.port
        );
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    }

    fn store(&self, container: &str) -> Arc<dyn ObjectStore> {
        Arc::new(
            MicrosoftAzureBuilder::new()
                .with_account(ACCOUNT)
                .with_access_key(ACCOUNT_KEY)
                .with_container_name(container)
                .with_endpoint(format!("{}/{ACCOUNT}", self.url()))
                .with_allow_http(true)
                .build()
                .unwrap(),
        )
    }

    /// Uploads every file below `dir` to `container` under `prefix`.
    fn upload(&self, container: &str, dir: &Path, prefix: &str) {
        let store = self.store(container);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        for path in common::walk(dir) {
            let relative = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let location = ObjectPath::from(format!("{prefix}/{relative}"));
            let bytes = std::fs::read(&path).unwrap();
            runtime
                .block_on(store.put(&location, bytes.into()))
                .unwrap();
        }
    }

    /// `huntlake` with the emulator's settings in its environment, as a user would set them.
    fn huntlake(&self) -> Command {
        let mut command = Command::cargo_bin("huntlake").unwrap();
        command
            .env("AZURE_STORAGE_USE_EMULATOR", "true")
            .env("AZURITE_BLOB_STORAGE_URL", self.url())
            .env("HUNTLAKE_HISTORY", "");
        command
    }
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn stdout_of(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn detect_and_sql_from_azurite_equal_the_local_run() {
    let azurite = Azurite::start();
    azurite.create_container("lake");
    azurite.upload("lake", &sample_lake(), "exports/sample");

    let local = stdout_of(
        Command::cargo_bin("huntlake")
            .unwrap()
            .args(["detect", "--format", "ndjson", "--lake"])
            .arg(sample_lake()),
    );
    assert_eq!(local.lines().count(), 4);
    let remote = stdout_of(azurite.huntlake().args([
        "detect",
        "--format",
        "ndjson",
        "--lake",
        "az://lake/exports/sample",
    ]));
    assert_eq!(remote, local);

    let query = "SELECT DeviceName, count(*) AS n, max(TimeGenerated) AS last \
                 FROM DeviceNetworkEvents GROUP BY DeviceName ORDER BY DeviceName";
    let local = stdout_of(
        Command::cargo_bin("huntlake")
            .unwrap()
            .env("HUNTLAKE_HISTORY", "")
            .args(["sql", "--format", "csv", "-c", query, "--lake"])
            .arg(sample_lake()),
    );
    assert_eq!(local.lines().count(), 9);
    let remote = stdout_of(azurite.huntlake().args([
        "sql",
        "--format",
        "csv",
        "--lake",
        "az://lake/exports/sample/",
        "-c",
        query,
    ]));
    assert_eq!(remote, local);

    // The rule's steps read the store too, and files are named by their URL.
    azurite
        .huntlake()
        .args([
            "sql",
            "--lake",
            "az://lake/exports/sample",
            "--format",
            "ndjson",
        ])
        .args(["-c", "SELECT count(*) AS n FROM RareServices", "-c", "\\d"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("{\"n\":")
                .and(predicate::str::contains("DeviceProcessEvents")),
        );
}

#[test]
fn a_missing_prefix_a_stopped_emulator_and_a_wrong_key_are_clear_errors() {
    let azurite = Azurite::start();
    azurite.create_container("lake");
    azurite.upload("lake", &sample_lake(), "sample");

    azurite
        .huntlake()
        .args(["detect", "--lake", "az://lake/nothing-here"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(
            "lake az://lake/nothing-here: does not exist",
        ));

    // A wrong key is refused; the key is not shown.
    let wrong_key = BASE64.encode(b"not-the-account-key-0123456789");
    azurite
        .huntlake()
        .env("AZURE_STORAGE_ACCOUNT_KEY", &wrong_key)
        .args(["detect", "--lake", "az://lake/sample"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("lake az://lake/sample: cannot list")
                .and(predicate::str::contains(&wrong_key).not())
                .and(predicate::str::contains(ACCOUNT_KEY).not()),
        );

    // The emulator stops: one error, quickly, naming the lake.
    let url = azurite.url();
    drop(azurite);
    let started = Instant::now();
    Command::cargo_bin("huntlake")
        .unwrap()
        .env("AZURE_STORAGE_USE_EMULATOR", "true")
        .env("AZURITE_BLOB_STORAGE_URL", &url)
        .args(["detect", "--lake", "az://lake/sample"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            predicate::str::contains("lake az://lake/sample: cannot list")
                .and(predicate::str::contains("panicked").not()),
        );
    assert!(started.elapsed() < Duration::from_secs(90));
}

/// A cluster reads a lake in an object store: workers with the store's credentials in their
/// environment give the single-process answer (and the run's scratch folder, in the same
/// store, is gone after); a worker without them fails the query with an error naming the
/// worker and the file it could not read.
#[test]
fn workers_read_the_lake_from_the_store_or_name_the_file_they_cannot_read() {
    let azurite = Azurite::start();
    azurite.create_container("lake");
    azurite.upload("lake", &sample_lake(), "exports/sample");
    let lake = "az://lake/exports/sample";
    let local = stdout_of(
        azurite
            .huntlake()
            .args(["detect", "--format", "ndjson", "--lake", lake]),
    );
    assert_eq!(local.lines().count(), 4);

    let url = azurite.url();
    let emulator = [
        ("AZURE_STORAGE_USE_EMULATOR", "true"),
        ("AZURITE_BLOB_STORAGE_URL", url.as_str()),
    ];
    let with: Vec<common::WorkerProcess> = (0..2)
        .map(|_| common::WorkerProcess::start(&emulator, &[]))
        .collect();
    let list = |workers: &[common::WorkerProcess]| {
        workers
            .iter()
            .map(|w| w.url.clone())
            .collect::<Vec<_>>()
            .join(",")
    };
    let spread = stdout_of(azurite.huntlake().args([
        "detect",
        "--format",
        "ndjson",
        "--lake",
        lake,
        "--workers",
        &list(&with),
    ]));
    assert_eq!(spread, local);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let left: Vec<_> = runtime
        .block_on(
            azurite
                .store("lake")
                .list(Some(&ObjectPath::from("exports/sample/_huntlake")))
                .collect::<Vec<_>>(),
        )
        .into_iter()
        .collect();
    assert!(left.is_empty(), "scratch left in the store: {left:?}");

    let without: Vec<common::WorkerProcess> = (0..2)
        .map(|_| common::WorkerProcess::start(&[], &[]))
        .collect();
    let output = azurite
        .huntlake()
        .args(["detect", "--lake", lake, "--workers", &list(&without)])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        without
            .iter()
            .any(|w| stderr.contains(&format!("worker {}", w.url))),
        "the worker is named: {stderr}"
    );
    assert!(
        stderr.contains("az://lake/exports/sample/Device") && stderr.contains(".parquet"),
        "the file is named: {stderr}"
    );
}

/// The state of daily runs in the store: the second run reports nothing new; a commit that
/// finds another run's generation fails cleanly, leaving the manifest, the other run's file and
/// no output.
#[test]
fn the_state_lives_in_the_store_and_a_run_that_loses_the_race_changes_nothing() {
    let azurite = Azurite::start();
    azurite.create_container("lake");
    azurite.upload("lake", &sample_lake(), "exports/sample");
    let run = |output: Option<&Path>| {
        let mut command = azurite.huntlake();
        command.args([
            "detect",
            "--lake",
            "az://lake/exports/sample",
            "--state",
            "az://lake/state",
            "--new-only",
            "--format",
            "ocsf",
        ]);
        if let Some(path) = output {
            command.arg("--output").arg(path);
        }
        command.output().unwrap()
    };
    let first = run(None);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&first.stdout).lines().count(), 4);
    let second = run(None);
    assert!(second.status.success());
    assert_eq!(second.stdout, b"", "nothing new on the second run");

    let store = azurite.store("lake");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let read = |path: &str| {
        runtime.block_on(async {
            store
                .get(&ObjectPath::from(path))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        })
    };
    let manifest = read("state/state.json");
    let text = String::from_utf8(manifest.to_vec()).unwrap();
    assert!(text.contains("\"generation\": 2"), "{text}");
    // Another run already wrote generation 3's alerts table.
    runtime
        .block_on(store.put(
            &ObjectPath::from("state/alerts-000003.parquet"),
            b"another run's".to_vec().into(),
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("findings.ndjson");
    let third = run(Some(&output));
    let stderr = String::from_utf8_lossy(&third.stderr);
    assert_eq!(third.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("another huntlake run updated this state"),
        "{stderr}"
    );
    assert!(!output.exists());
    assert_eq!(read("state/state.json"), manifest);
    assert_eq!(&read("state/alerts-000003.parquet")[..], b"another run's");
}
