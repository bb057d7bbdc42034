//! The triage report (`huntlake report`), checked in a real browser: headless Chromium loads
//! the page with no console error or refused script, every detection's section is in the DOM
//! with its values, the launch chart has one mark per day of the window, a timeline opens from
//! the address, a long report draws a section only when it opens, values from the lake that
//! look like markup stay text, and a screenshot is
//! written under target/report-screenshots/ for a person to look at. Also: fleet prevalence
//! (`detect --with-prevalence`) on data where the window and the whole lake differ, and
//! `report --from` an earlier run's output.
//!
//! Chromium: `/usr/bin/chromium` (Debian's `chromium` package: `apt-get install chromium`), or
//! the program named by `HUNTLAKE_CHROMIUM`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use assert_cmd::Command;
use common::*;
use serde_json::Value;

fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("HUNTLAKE_CHROMIUM") {
        return PathBuf::from(path);
    }
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "the report tests need Chromium: install Debian's package with \
         `sudo apt-get install chromium` (.ci/run does), or set HUNTLAKE_CHROMIUM to a \
         Chromium or Chrome program"
    );
}

/// Chromium, headless, with nothing it would fetch on its own, and a profile of its own.
fn headless(profile: &Path) -> Process {
    let mut command = Process::new(chromium());
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=5000",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command
}

fn file_url(path: &Path, fragment: Option<&str>) -> String {
    let mut url = url::Url::from_file_path(path).unwrap();
    url.set_fragment(fragment);
    url.to_string()
}

/// The DOM after the page's scripts ran, and what the page logged (console messages, refused
/// scripts, uncaught errors).
fn browse(page: &Path, fragment: Option<&str>) -> (String, Vec<String>) {
    let profile = tempfile::tempdir().unwrap();
    let output = headless(profile.path())
        .arg("--dump-dom")
        .arg(file_url(page, fragment))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "chromium failed: {stderr}");
    let logged = stderr
        .lines()
        .filter(|l| {
            l.contains(":CONSOLE")
                || l.contains("Uncaught")
                || l.contains("Content Security Policy")
                || l.contains("Refused to")
        })
        .map(str::to_string)
        .collect();
    (String::from_utf8(output.stdout).unwrap(), logged)
}

fn screenshot(page: &Path, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/report-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join(name);
    let profile = tempfile::tempdir().unwrap();
    let status = headless(profile.path())
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1280,1600")
        .arg(file_url(page, None))
        .output()
        .unwrap();
    assert!(status.status.success());
    png
}

fn huntlake() -> Command {
    let mut command = Command::cargo_bin("huntlake").unwrap();
    command.env("HUNTLAKE_HISTORY", "");
    command
}

fn ndjson(command: &mut Command) -> Vec<Value> {
    let output = command.output().unwrap();
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

/// `<section class="detection" id="ID">...</section>` of the DOM.
fn section<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id}"));
    let start = dom[..start].rfind("<section").unwrap();
    let end = dom[start..].find("</section>").unwrap();
    &dom[start..start + end]
}

#[test]
fn the_console_check_sees_errors_and_refused_scripts() {
    // The checks below mean something only if this one can fail.
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" \
         content=\"default-src 'none'; script-src 'sha256-AAAA'\"></head><body>\
         <script>document.title = 'ran';</script></body></html>",
    )
    .unwrap();
    let (dom, logged) = browse(&page, None);
    assert!(
        !dom.contains("<title>ran"),
        "the policy did not stop the script"
    );
    assert!(!logged.is_empty(), "a refused script is logged");
    let page = dir.path().join("error.html");
    std::fs::write(
        &page,
        "<html><body><script>console.error('boom')</script></body></html>",
    )
    .unwrap();
    let (_, logged) = browse(&page, None);
    assert!(logged.iter().any(|l| l.contains("boom")), "{logged:?}");
}

#[test]
fn the_sample_lake_report_loads_clean_with_every_detection_and_its_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("sample.html");
    huntlake()
        .args(["report", "--out"])
        .arg(&page)
        .assert()
        .success();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("http-equiv=\"Content-Security-Policy\""));
    assert!(html.contains("default-src 'none'"));
    assert!(
        !html.contains(" src=") && !html.contains("href=\"http"),
        "nothing is fetched"
    );

    let rows = ndjson(huntlake().args(["detect", "--format", "ndjson"]));
    assert_eq!(rows.len(), 4);
    let (dom, logged) = browse(&page, None);
    assert!(logged.is_empty(), "the page logged: {logged:?}");
    for row in &rows {
        let id = row["AlertId"].as_str().unwrap();
        let text = section(&dom, id);
        assert!(
            text.contains(row["ServiceProcess"].as_str().unwrap()),
            "{id}"
        );
        assert!(text.contains(row["DeviceName"].as_str().unwrap()), "{id}");
        assert!(
            text.contains(row["ServiceProcessSHA1"].as_str().unwrap()),
            "{id}"
        );
        assert!(text.contains(&format!("<dd>{}</dd>", row["ServiceProcessID"])));
    }
    // One bar per UTC day the 14-day window touches (it starts and ends at noon: 15 days).
    let chart_start = dom.find("<svg class=\"chart launches\"").unwrap();
    let chart = &dom[chart_start..chart_start + dom[chart_start..].find("</svg>").unwrap()];
    assert_eq!(chart.matches("<rect class=\"day").count(), 15);
    assert!(chart.contains("data-day=\"2026-11-05\"") && chart.contains("data-day=\"2026-11-19\""));
    assert!(
        chart.contains("class=\"day marked\""),
        "detection days are marked"
    );

    // The PsExec detection, opened from the address: its timeline is drawn.
    let psexec = rows
        .iter()
        .find(|r| r["ServiceProcess"] == "PSEXESVC.exe")
        .unwrap();
    let id = psexec["AlertId"].as_str().unwrap();
    let (dom, logged) = browse(&page, Some(id));
    assert!(logged.is_empty(), "{logged:?}");
    let text = section(&dom, id);
    assert!(
        text.contains("<section class=\"detection open\" id=")
            && text.contains("aria-expanded=\"true\""),
        "opened from the address"
    );
    assert!(
        text.contains("<ol class=\"events\">"),
        "the timeline is drawn"
    );
    for child in psexec["ChildCommandlines"].as_array().unwrap() {
        // Text in the DOM escapes &, < and > (not quotes).
        let child = child
            .as_str()
            .unwrap()
            .replace('&', "&amp;")
            .replace('>', "&gt;");
        assert!(text.contains(&child), "the timeline lists {child}");
    }
    assert!(
        text.contains("10.20.0.10") && text.contains("dclist.txt") && text.contains("netapi32.dll")
    );
    // Its prevalence: the service on as many devices as SQL counts.
    let counted = ndjson(huntlake().args([
        "sql",
        "--format",
        "ndjson",
        "-c",
        "SELECT count(DISTINCT DeviceName) AS n FROM DeviceProcessEvents \
         WHERE InitiatingProcessFileName = 'PSEXESVC.exe' \
         AND InitiatingProcessParentFileName LIKE '%services.exe%' AND TimeGenerated > ago('14d')",
    ]));
    let devices = counted[0]["n"].as_i64().unwrap();
    assert!(devices >= 1);
    assert!(
        text.contains(&format!("on {devices} device(s) as a service")),
        "{devices}"
    );

    let png = screenshot(&page, "sample-lake-report.png");
    assert!(
        std::fs::metadata(&png).unwrap().len() > 10_000,
        "{}",
        png.display()
    );
}

const PAYLOADS: [&str; 4] = [
    "\"><img src=x onerror=document.body.setAttribute('data-pwned','1')>",
    "</script><script>document.body.setAttribute('data-pwned','2')</script>",
    "{{ 7*7 }} ${7*7} <b>bold</b>",
    "\u{fffd}\u{1b}[31m Ã¤Ã¶ \u{202e}exe.txt",
];

#[test]
fn values_that_look_like_markup_stay_text_in_the_browser() {
    let lake = Lake::new();
    let device = format!("ws{}", PAYLOADS[0]);
    let service = "<script>document.body.setAttribute('data-pwned','3')</script>.exe";
    let launch = |child: &str, line: &str| {
        Row::launch(&device, service, child).with(|r| {
            r.cmdline = Some(format!("{} {}", PAYLOADS[1], PAYLOADS[2]));
            r.command_line = Some(line.to_string());
        })
    };
    lake.add(
        Table::Process,
        &[
            launch(PAYLOADS[0], PAYLOADS[1]),
            launch(PAYLOADS[3], PAYLOADS[2]),
        ],
    );
    let event = Row::service_event(&device, service).with(|r| {
        r.cmdline = Some(format!("{} {}", PAYLOADS[1], PAYLOADS[2]));
    });
    lake.add(
        Table::File,
        &[event.clone().with(|r| {
            r.action = Some("FileCreated".into());
            r.file_name = Some(PAYLOADS[3].into());
            r.folder_path = Some(format!("C:\\{}", PAYLOADS[1]));
            r.file_sha1 = Some(PAYLOADS[0].into());
        })],
    );
    lake.fill_empty_tables();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("escaping.html");
    huntlake()
        .args(["report", "--as-of", AS_OF, "--lake"])
        .arg(lake.path())
        .arg("--out")
        .arg(&page)
        .assert()
        .success();
    let rows = ndjson(
        huntlake()
            .args(["detect", "--format", "ndjson", "--as-of", AS_OF, "--lake"])
            .arg(lake.path()),
    );
    assert_eq!(rows.len(), 1);
    let id = rows[0]["AlertId"].as_str().unwrap();
    for fragment in [None, Some(id)] {
        let (dom, logged) = browse(&page, fragment);
        assert!(logged.is_empty(), "the page logged: {logged:?}");
        // The payloads' own text names the attribute; set, it would be an attribute.
        assert!(!dom.contains("data-pwned=\""), "a value ran as script");
        assert!(!dom.contains("<img"), "a value became an element");
        assert!(!dom.contains("<b>bold"), "a value became markup");
        assert!(
            dom.contains("&lt;img src=x onerror="),
            "the value is shown as text"
        );
        assert!(
            dom.contains("{{ 7*7 }} ${7*7}"),
            "template syntax is shown as text"
        );
        assert!(dom.contains("Ã¤Ã¶"));
        if fragment.is_some() {
            // The timeline, drawn by the script from the embedded data, shows them as text.
            let text = section(&dom, id);
            assert!(text.contains("<ol class=\"events\">"));
            assert!(text.contains("&lt;/script&gt;&lt;script&gt;document.body.setAttribute"));
        }
    }
    screenshot(&page, "escaping-report.png");
}

#[test]
fn prevalence_counts_the_fleet_and_the_whole_lake() {
    let lake = Lake::new();
    let mut process = vec![Row::launch(DEVICE, "rare.exe", "cmd.exe")];
    // The same service on three other devices, common there (6 launches: not rare).
    for device in ["db1", "db2", "db3"] {
        for i in 0..6 {
            process.push(Row::launch(device, "rare.exe", &format!("c{i}.exe")));
        }
    }
    // Its binary on a fifth device, not as a service (launched by explorer.exe).
    process.push(
        Row::launch("laptop9", "explorer.exe", "rare-copy.exe")
            .parent(Some("userinit.exe"))
            .with(|r| {
                r.file_sha1 = Some(SHA1.into());
                r.sha1 = Some("sha1-of-explorer".into());
            }),
    );
    // First seen 60 days ago, outside the window, on a sixth device.
    let long_ago = as_of() - 60 * NANOS_PER_DAY;
    process.push(Row::launch("old-host", "rare.exe", "x.exe").at(long_ago));
    lake.add(Table::Process, &process);
    lake.fill_empty_tables();

    let output = huntlake()
        .args([
            "detect",
            "--format",
            "ndjson",
            "--with-prevalence",
            "--as-of",
            AS_OF,
        ])
        .arg("--lake")
        .arg(lake.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row.as_object().unwrap().len(), 22);
    // huntlake's columns come after the rule's 18, in this order.
    let at = |key: &str| text.find(&format!("\"{key}\":")).unwrap();
    assert!(at("DnsDomain") < at("AlertId"));
    assert!(at("AlertId") < at("ServiceDevices"));
    assert!(at("ServiceDevices") < at("SHA1Devices") && at("SHA1Devices") < at("FirstSeen"));
    // ws1 and db1-db3 run it as a service in the window (old-host only before it).
    assert_eq!(row["ServiceDevices"], 4);
    // The same SHA-1 on those four and on laptop9 (as a child process).
    assert_eq!(row["SHA1Devices"], 5);
    assert_eq!(
        row["FirstSeen"],
        huntlake::format_kusto_datetime(long_ago).as_str()
    );
}

#[test]
fn a_report_from_an_earlier_run_has_the_same_sections_and_refuses_a_changed_row() {
    let dir = tempfile::tempdir().unwrap();
    let detections = dir.path().join("detections.ndjson");
    huntlake()
        .args(["detect", "--format", "ndjson", "--output"])
        .arg(&detections)
        .assert()
        .success();
    let page = dir.path().join("from.html");
    huntlake()
        .args(["report", "--from"])
        .arg(&detections)
        .arg("--out")
        .arg(&page)
        .assert()
        .success();
    let html = std::fs::read_to_string(&page).unwrap();
    for line in std::fs::read_to_string(&detections).unwrap().lines() {
        let row: Value = serde_json::from_str(line).unwrap();
        let id = row["AlertId"].as_str().unwrap();
        assert!(html.contains(&format!("<section class=\"detection\" id=\"{id}\"")));
    }
    // A row whose keys were edited no longer matches its AlertId.
    let text = std::fs::read_to_string(&detections).unwrap();
    let changed = text.replacen("\"ServiceProcessID\":", "\"ServiceProcessID\":1", 1);
    std::fs::write(&detections, changed).unwrap();
    huntlake()
        .args(["report", "--from"])
        .arg(&detections)
        .arg("--out")
        .arg(dir.path().join("changed.html"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("line 1: AlertId"));
    assert!(!dir.path().join("changed.html").exists());
}

/// A long report (past 200 detections) holds each section's line only, and draws a section
/// when it opens: the page stays light, and an opened section has everything a short one has.
#[test]
fn a_long_report_draws_a_section_when_it_opens() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    huntlake()
        .args([
            "generate",
            "--devices",
            "25",
            "--days",
            "15",
            "--seed",
            "7",
            "--rare-rate",
            "0.8",
            "--as-of",
            "2026-11-19T00:00:00Z",
            "--process-per-day",
            "10",
            "--network-per-day",
            "10",
            "--file-per-day",
            "10",
            "--image-per-day",
            "10",
            "--out",
        ])
        .arg(&lake)
        .assert()
        .success();
    let as_of = [
        "--lake",
        lake.to_str().unwrap(),
        "--as-of",
        "2026-11-19T00:00:00Z",
    ];
    let rows = ndjson(
        huntlake()
            .arg("detect")
            .args(as_of)
            .args(["--format", "ndjson"]),
    );
    assert!(rows.len() > 200, "{} detections", rows.len());
    let page = dir.path().join("long.html");
    huntlake()
        .arg("report")
        .args(as_of)
        .arg("--out")
        .arg(&page)
        .assert()
        .success();

    let (dom, logged) = browse(&page, None);
    assert!(logged.is_empty(), "{logged:?}");
    assert_eq!(
        dom.matches("<section class=\"detection").count(),
        rows.len()
    );
    assert!(
        !dom.contains("<dl class=\"facts mono\">"),
        "no section drawn yet"
    );

    let last = rows.last().unwrap();
    let id = last["AlertId"].as_str().unwrap();
    let (dom, logged) = browse(&page, Some(id));
    assert!(logged.is_empty(), "{logged:?}");
    assert_eq!(
        dom.matches("<dl class=\"facts mono\">").count(),
        1,
        "only the opened one"
    );
    let text = section(&dom, id);
    assert!(text.contains(&format!("<dd>{}</dd>", last["ServiceProcessID"])));
    assert!(text.contains(last["ServiceProcessSHA1"].as_str().unwrap()));
    assert!(text.contains("<ol class=\"events\">") && text.contains("FROM DeviceFileEvents"));
}
