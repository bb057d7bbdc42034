//! The embedded sample lake (`data/sample-lake/`): three weeks of synthetic Defender XDR events
//! (2026-10-30 00:00 to 2026-11-19 12:00 UTC) from the eight devices of a small company,
//! `contoso.local`, laid out as a Sentinel export: one folder per table, one zstd Parquet file
//! per table and day in hive folders (`date=2026-11-05/part-00000.parquet`), every Sentinel
//! column with its Kusto type, and the `_SUCCESS` litter export jobs leave behind.
//!
//! Background, every day: users log on and run browsers, Office, Teams and shells; the
//! allowlisted services svchost.exe, MsMpEng.exe and SearchIndexer.exe (launched by
//! services.exe) start their helpers; the SCCM client CcmExec.exe, a service the rule does not
//! allowlist, runs a compliance script on every device every day, so it is common and never
//! rare. Every device reboots after Patch Tuesday (about 2026-11-11 03:00), which gives each
//! service a new process id and creation time.
//!
//! Planted stories, each with coherent rows in all four tables (`data/README.md` lists the
//! detections they give):
//! 1. [`psexec_lateral_movement`]: `PSEXESVC.exe` on ws-fin-07 runs reconnaissance through
//!    cmd.exe, connects to the DC, back to the attacker's workstation and to a public address.
//! 2. [`installer_service`]: a one-off, randomly named setup service on srv-app-02 writes 24
//!    files under `C:\Program Files\Fabrikam\Agent` and makes no connection.
//! 3. [`outside_window_service`]: `svchosts.exe` (not `svchost.exe`) dumps LSASS on srv-file-01
//!    on 2026-11-01: outside the default 14-day window, inside a 30-day one.
//! 4. [`remote_support_two_instances`]: a remote-support service on the kiosk (a device name
//!    without a dot), started twice (before and after the reboot): two service instances.
//!
//! Deterministic: a fixed seed, fixed ids for the planted processes, and rows sorted, so every
//! run writes the same bytes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Weekday};
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampNanosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use crate::error::{HuntError, Result};
use crate::lake::schema::Column;
use crate::lake::{DefenderTable, KustoType, LAKE_INFO_FILE};

/// The lake's reference time, written to `huntlake-lake.json`: the default `--as-of`.
pub const REFERENCE_TIME: &str = "2026-11-19T12:00:00Z";
/// The first instant of data; the last is just before [`REFERENCE_TIME`].
pub const DATA_START: &str = "2026-10-30T00:00:00Z";
/// Every device boots here (before the data) and again after Patch Tuesday.
const FIRST_BOOT: &str = "2026-10-26T06:00:00Z";
const PATCH_REBOOT: &str = "2026-11-11T03:00:00Z";

const SEED: u64 = 0x4855_4E54_4C41_4B45;
const TENANT_ID: &str = "3f8e2a71-5c4d-4b9e-a1f0-7d6c5b4a3e21";
const DC_IP: &str = "10.20.0.10";
const SCCM_IP: &str = "10.20.0.15";

const MS: i64 = 1_000_000;
const SECOND: i64 = 1_000 * MS;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const TICK: i64 = 100;

const PROCESS: DefenderTable = DefenderTable::DeviceProcessEvents;
const NETWORK: DefenderTable = DefenderTable::DeviceNetworkEvents;
const FILE: DefenderTable = DefenderTable::DeviceFileEvents;
const IMAGE: DefenderTable = DefenderTable::DeviceImageLoadEvents;

const SVCHOST: &str = r"C:\Windows\System32\svchost.exe";
const CMD: &str = r"C:\Windows\System32\cmd.exe";
const POWERSHELL: &str = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";
const CHROME: &str = r"C:\Program Files\Google\Chrome\Application\chrome.exe";
const EDGE: &str = r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe";
const OUTLOOK: &str = r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE";
const WORD: &str = r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE";
const EXCEL: &str = r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE";
const TEAMS: &str =
    r"C:\Program Files\WindowsApps\MSTeams_24295.605.3225.8804_x64__8wekyb3d8bbwe\ms-teams.exe";
const NOTEPAD: &str = r"C:\Windows\System32\notepad.exe";
const CODE: &str = r"C:\Users\bkumar\AppData\Local\Programs\Microsoft VS Code\Code.exe";
const GIT: &str = r"C:\Program Files\Git\cmd\git.exe";
const PYTHON: &str = r"C:\Program Files\Python312\python.exe";
const OFFICE_APPS: [&str; 9] = [CHROME, CHROME, EDGE, OUTLOOK, WORD, EXCEL, TEAMS, NOTEPAD, CMD];
const DEV_APPS: [&str; 9] = [CHROME, EDGE, OUTLOOK, TEAMS, CODE, GIT, GIT, PYTHON, CMD];

/// Web sites the browsers visit: (RemoteUrl, RemoteIP).
const SITES: [(&str, &str); 8] = [
    ("www.bing.com", "13.107.21.200"),
    ("outlook.office365.com", "52.96.165.18"),
    ("contoso.sharepoint.com", "13.107.136.10"),
    ("www.google.com", "142.250.185.68"),
    ("login.microsoftonline.com", "20.190.151.68"),
    ("intranet.contoso.local", "10.20.0.30"),
    ("www.wikipedia.org", "185.15.59.224"),
    ("github.com", "140.82.121.4"),
];

/// Version information by file name (lower case): company, product, version.
const WINDOWS_INFO: (&str, &str, &str) = (
    "Microsoft Corporation",
    "Microsoft® Windows® Operating System",
    "10.0.22621.4317",
);
const VERSION_INFO: [(&str, &str, &str, &str); 16] = [
    ("chrome.exe", "Google LLC", "Google Chrome", "130.0.6723.117"),
    ("msedge.exe", "Microsoft Corporation", "Microsoft Edge", "130.0.2849.80"),
    ("outlook.exe", "Microsoft Corporation", "Microsoft Outlook", "16.0.18129.20158"),
    ("winword.exe", "Microsoft Corporation", "Microsoft Word", "16.0.18129.20158"),
    ("excel.exe", "Microsoft Corporation", "Microsoft Excel", "16.0.18129.20158"),
    ("ms-teams.exe", "Microsoft Corporation", "Microsoft Teams", "24295.605.3225.8804"),
    ("code.exe", "Microsoft Corporation", "Visual Studio Code", "1.95.3"),
    ("git.exe", "The Git Development Community", "Git", "2.47.0.2"),
    ("python.exe", "Python Software Foundation", "Python", "3.12.7"),
    ("msmpeng.exe", "Microsoft Corporation", "Microsoft Malware Protection", "4.18.25090.3009"),
    ("mpcmdrun.exe", "Microsoft Corporation", "Microsoft Malware Protection", "4.18.25090.3009"),
    ("ccmexec.exe", "Microsoft Corporation", "System Center Configuration Manager", "5.00.9128.1000"),
    ("psexesvc.exe", "Sysinternals - www.sysinternals.com", "Sysinternals PsExec", "2.43"),
    ("fabrikamsetupsvc_7f3c.exe", "Fabrikam, Inc.", "Fabrikam Agent Setup", "7.2.1.0"),
    ("helpdeskremote.exe", "HelpDeskRemote Software Ltd", "HelpDeskRemote", "8.1.4.0"),
    ("svchosts.exe", "", "", ""),
];

/// What [`write_sample_lake`] wrote.
#[derive(Debug, Clone, Default)]
pub struct SampleSummary {
    /// The Parquet files, relative to the lake's root, sorted.
    pub files: Vec<PathBuf>,
    /// Rows per table.
    pub rows: BTreeMap<String, usize>,
    /// Bytes of Parquet written.
    pub bytes: u64,
}

/// Writes the sample lake into `root` (created if absent; it should hold no table folders yet,
/// since stale files would stay part of the lake) and returns what it wrote.
pub fn write_sample_lake(root: &Path) -> Result<SampleSummary> {
    let io = |path: &Path| {
        let context = format!("writing the sample lake: {}", path.display());
        move |source| HuntError::Io { context, source }
    };
    let mut lake = generate();
    let mut summary = SampleSummary::default();
    for table in DefenderTable::ALL {
        let dir = root.join(table.name());
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        fs::write(dir.join("_SUCCESS"), b"").map_err(io(&dir))?;
    }
    for ((table, day), rows) in &mut lake.files {
        rows.sort_by_key(|r| (time(r, "Timestamp"), time(r, "ReportId")));
        let relative = Path::new(table.name())
            .join(format!("date={day}"))
            .join("part-00000.parquet");
        let path = root.join(&relative);
        let dir = path.parent().expect("a file in a folder");
        fs::create_dir_all(dir).map_err(io(dir))?;
        let bytes = write_parquet(&path, &to_batch(*table, rows))?;
        *summary.rows.entry(table.name().to_string()).or_default() += rows.len();
        summary.bytes += bytes;
        summary.files.push(relative);
    }
    summary.files.sort();
    let info = serde_json::json!({
        "reference_time": REFERENCE_TIME,
        "description": "huntlake's embedded sample: three weeks of synthetic Defender XDR events \
            from eight contoso.local devices, with planted 'Rare Process as a Service' stories \
            (see data/README.md). Regenerate with: cargo run --example make_sample_lake -- \
            data/sample-lake",
    });
    let info_path = root.join(LAKE_INFO_FILE);
    let text = serde_json::to_string_pretty(&info).expect("JSON") + "\n";
    fs::write(&info_path, text).map_err(io(&info_path))?;
    Ok(summary)
}

fn generate() -> Lake {
    let mut lake = Lake {
        rng: Rng(SEED),
        next_report: 1_000,
        start: at(DATA_START),
        end: at(REFERENCE_TIME),
        files: BTreeMap::new(),
    };
    let devices = devices(&mut lake);
    let device = |name: &str| devices.iter().find(|d| d.host.name == name).expect("device");
    psexec_lateral_movement(&mut lake, device("ws-fin-07.contoso.local"));
    installer_service(&mut lake, device("srv-app-02.contoso.local"));
    outside_window_service(&mut lake, device("srv-file-01.contoso.local"));
    remote_support_two_instances(&mut lake, device("kiosk-lobby-01"));
    let mut day = lake.start;
    while day < lake.end {
        for dev in &devices {
            services_day(&mut lake, dev, day);
            if let Some(user) = dev.host.user
                && (dev.host.role == Role::Kiosk || is_workday(day))
            {
                user_day(&mut lake, dev, user, day);
            }
        }
        day += DAY;
    }
    lake
}

// ---------------------------------------------------------------------------------------------
// The planted stories.

/// Story 1: an attacker on ws-dev-11 runs PsExec against ws-fin-07 on a Saturday night. The
/// PSEXESVC.exe service runs three reconnaissance commands through cmd.exe, writes PsExec's key
/// file and a output file, loads a few DLLs, and connects to the DC (LDAP), back to ws-dev-11
/// (SMB) and, after one failed try, to a public address.
pub fn psexec_lateral_movement_time() -> &'static str {
    "2026-11-14T02:13:07.4412345Z"
}

fn psexec_lateral_movement(lake: &mut Lake, dev: &Device) {
    let host = &dev.host;
    let start = at(psexec_lateral_movement_time());
    let path = r"C:\Windows\PSEXESVC.exe";
    let svc = lake.spawn_as(host, &dev.boot(start).services, path, path, SYSTEM, start, 7316);
    for (i, dll) in ["userenv.dll", "wtsapi32.dll", "netapi32.dll", "secur32.dll"].iter().enumerate() {
        lake.load(host, &svc, start + (20 + 15 * i as i64) * MS, &format!(r"C:\Windows\System32\{dll}"));
    }
    lake.file(host, &svc, start + 900 * MS, "FileCreated", r"C:\Windows\PSEXEC-WS-DEV-11-4B1D7C2E.key", &[]);
    lake.connect(host, &svc, start + SECOND, "ConnectionSuccess", DC_IP, 389, "");
    lake.connect(host, &svc, start + 1200 * MS, "ConnectionSuccess", "10.20.3.11", 445, "");
    let recon = [
        (2, "cmd.exe /c whoami /all", "whoami.exe", "whoami  /all"),
        (84, r#"cmd.exe /c net group "domain admins" /domain"#, "net.exe", r#"net  group "domain admins" /domain"#),
        (175, r"cmd.exe /c nltest /dclist:contoso.local > C:\Windows\Temp\dclist.txt", "nltest.exe", "nltest  /dclist:contoso.local"),
    ];
    for (secs, line, tool, tool_line) in recon {
        let when = start + secs * SECOND + 311 * TICK;
        let cmd = lake.spawn(host, &svc, CMD, line, SYSTEM, when);
        lake.spawn(host, &cmd, &format!(r"C:\Windows\System32\{tool}"), tool_line, SYSTEM, when + 35 * MS);
    }
    lake.file(host, &svc, start + 176 * SECOND, "FileCreated", r"C:\Windows\Temp\dclist.txt", &[]);
    let url = "sync.tele-metrics.example";
    lake.connect(host, &svc, start + 5 * MINUTE, "ConnectionFailed", "203.0.113.57", 443, url);
    lake.connect(host, &svc, start + 5 * MINUTE + 3 * SECOND, "ConnectionSuccess", "203.0.113.57", 443, url);
}

/// Story 2: a vendor's setup program installs itself as a one-off, randomly named service on
/// srv-app-02, runs msiexec and sc.exe, and writes the product's 24 files. No network events,
/// so Kusto's sets of addresses and URLs are `[""]`. A true positive an analyst closes as benign.
fn installer_service(lake: &mut Lake, dev: &Device) {
    let host = &dev.host;
    let start = at("2026-11-17T14:22:41.0736218Z");
    let temp = r"C:\Windows\Temp\{6F1C2A9E-3B4D-4C5E-8A7F-0D9E1B2C3A4D}";
    let path = format!(r"{temp}\FabrikamSetupSvc_7f3c.exe");
    let line = format!(r#""{path}" /service"#);
    let svc = lake.spawn_as(host, &dev.boot(start).services, &path, &line, SYSTEM, start, 5120);
    for (i, dll) in ["msi.dll", "cabinet.dll", "crypt32.dll", "wintrust.dll"].iter().enumerate() {
        lake.load(host, &svc, start + (30 + 10 * i as i64) * MS, &format!(r"C:\Windows\System32\{dll}"));
    }
    let msi = format!(r#"msiexec.exe /i "{temp}\FabrikamAgent-7.2.1.msi" /qn /norestart"#);
    lake.spawn(host, &svc, r"C:\Windows\System32\msiexec.exe", &msi, SYSTEM, start + 3 * SECOND);
    const FILES: [&str; 24] = [
        r"bin\FabrikamAgent.exe", r"bin\FabrikamAgentUpdater.exe", r"bin\fbk_core.dll",
        r"bin\fbk_net.dll", r"bin\fbk_crypto.dll", r"bin\libssl-3-x64.dll",
        r"bin\libcrypto-3-x64.dll", r"bin\zlib1.dll", r"bin\sqlite3.dll", r"bin\msvcp140.dll",
        r"bin\vcruntime140.dll", r"bin\vcruntime140_1.dll", r"config\agent.json",
        r"config\policy.json", r"config\certs\fabrikam-root.pem", r"locales\en-US.json",
        r"locales\de-DE.json", r"locales\fr-FR.json", r"locales\ja-JP.json",
        r"plugins\inventory.dll", r"plugins\patching.dll", r"plugins\remote.dll", "LICENSE.txt",
        "README.txt",
    ];
    for (i, file) in FILES.iter().enumerate() {
        let when = start + 5 * SECOND + i as i64 * 3 * SECOND + 17 * TICK;
        lake.file(host, &svc, when, "FileCreated", &format!(r"C:\Program Files\Fabrikam\Agent\{file}"), &[]);
    }
    let sc = "sc.exe start FabrikamAgent";
    lake.spawn(host, &svc, r"C:\Windows\System32\sc.exe", sc, SYSTEM, start + 2 * MINUTE);
}

/// Story 3: on Sunday 2026-11-01, `svchosts.exe` (a look-alike of the allowlisted svchost.exe:
/// the allowlist compares whole names) runs as a service on srv-file-01, dumps LSASS with
/// comsvcs.dll, zips the dump, sends it out and deletes the dump. Outside the 14-day window of
/// the reference time; a 30-day lookback finds it.
fn outside_window_service(lake: &mut Lake, dev: &Device) {
    let host = &dev.host;
    let start = at("2026-11-01T03:41:12.9081234Z");
    let dir = r"C:\ProgramData\Microsoft\Crypto";
    let path = format!(r"{dir}\svchosts.exe");
    let line = format!("{path} -k netsvc");
    let svc = lake.spawn_as(host, &dev.boot(start).services, &path, &line, SYSTEM, start, 9044);
    for (i, dll) in ["winhttp.dll", "bcrypt.dll", "dbghelp.dll"].iter().enumerate() {
        lake.load(host, &svc, start + (25 + 20 * i as i64) * MS, &format!(r"C:\Windows\System32\{dll}"));
    }
    let dump = format!(r"rundll32.exe C:\Windows\System32\comsvcs.dll, MiniDump 652 {dir}\lsass.dmp full");
    lake.spawn(host, &svc, r"C:\Windows\System32\rundll32.exe", &dump, SYSTEM, start + 20 * SECOND);
    lake.file(host, &svc, start + 2 * MINUTE, "FileCreated", &format!(r"{dir}\lsass.zip"), &[]);
    let url = "cdn.msft-telemetry.example";
    lake.connect(host, &svc, start + 150 * SECOND, "ConnectionSuccess", "198.51.100.23", 443, url);
    let del = format!(r"cmd.exe /c del {dir}\lsass.dmp {dir}\lsass.zip");
    lake.spawn(host, &svc, CMD, &del, SYSTEM, start + 3 * MINUTE);
}

/// Story 4: a remote-support tool installed as a service on the lobby kiosk, started by a
/// technician on Sunday 2026-11-08 and again at the Patch Tuesday reboot: two instances (two
/// process ids and creation times) of a service launched 4 times in all, so two detections.
fn remote_support_two_instances(lake: &mut Lake, dev: &Device) {
    let host = &dev.host;
    let path = r"C:\Program Files (x86)\HelpDeskRemote\HelpDeskRemote.exe";
    let line = format!(r#""{path}" --service"#);
    let backend = format!(r#""{path}" --backend"#);
    let relay = "relay.helpdeskremote.example";
    // First instance: started by hand; the technician opens a shell.
    let first = at("2026-11-08T09:02:15.5550123Z");
    let svc = lake.spawn_as(host, &dev.boot(first).services, path, &line, SYSTEM, first, 3348);
    lake.load(host, &svc, first + 40 * MS, r"C:\Windows\System32\winhttp.dll");
    lake.load(host, &svc, first + 55 * MS, r"C:\Windows\System32\dxgi.dll");
    lake.connect(host, &svc, first + 2 * SECOND, "ConnectionSuccess", "198.51.100.80", 443, relay);
    lake.spawn(host, &svc, path, &backend, SYSTEM, first + 3 * SECOND);
    lake.spawn(host, &svc, CMD, r#""C:\Windows\system32\cmd.exe""#, SYSTEM, first + 4 * MINUTE);
    // Second instance: started by services.exe at boot, used four days later.
    let second = at(PATCH_REBOOT) + 15 * MINUTE + 41 * SECOND + 2_290_087 * TICK;
    let svc = lake.spawn_as(host, &dev.boot(second).services, path, &line, SYSTEM, second, 2204);
    lake.load(host, &svc, second + 35 * MS, r"C:\Windows\System32\winhttp.dll");
    lake.load(host, &svc, second + 50 * MS, r"C:\Windows\System32\d3d11.dll");
    let used = at("2026-11-12T15:40:03.0000000Z");
    lake.connect(host, &svc, used, "ConnectionSuccess", "198.51.100.80", 443, relay);
    lake.spawn(host, &svc, path, &backend, SYSTEM, used + SECOND);
    let ps = "powershell.exe -NoProfile -Command Get-Service | Where-Object Status -eq Stopped";
    lake.spawn(host, &svc, POWERSHELL, ps, SYSTEM, used + 2 * MINUTE);
    let trace = r"C:\ProgramData\HelpDeskRemote\connection_trace.txt";
    lake.file(host, &svc, used + 9 * MINUTE, "FileModified", trace, &[]);
}

// ---------------------------------------------------------------------------------------------
// The background.

/// One day of services on `dev`: the allowlisted svchost.exe, MsMpEng.exe and SearchIndexer.exe,
/// and the SCCM client CcmExec.exe (common everywhere, so never rare).
fn services_day(lake: &mut Lake, dev: &Device, day: i64) {
    let host = &dev.host;
    for _ in 0..lake.rng.range(2, 5) {
        let when = lake.tick(day, day + DAY);
        let wmi = r"C:\Windows\System32\wbem\WmiPrvSE.exe";
        let line = r"C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding";
        lake.spawn(host, &dev.boot(when).dcom, wmi, line, NETWORK_SERVICE, when);
    }
    for _ in 0..lake.rng.range(1, 3) {
        let when = lake.tick(day, day + DAY);
        let task = r"C:\Windows\System32\taskhostw.exe";
        lake.spawn(host, &dev.boot(when).netsvcs, task, "taskhostw.exe", SYSTEM, when);
    }
    for _ in 0..lake.rng.range(3, 7) {
        let when = lake.tick(day, day + DAY);
        let (ip, port, action) = *lake.rng.pick(&[
            (DC_IP, 53, "ConnectionSuccess"),
            (DC_IP, 88, "ConnectionSuccess"),
            (DC_IP, 389, "ConnectionSuccess"),
            ("20.190.151.68", 443, "ConnectionSuccess"),
            ("13.107.4.50", 80, "ConnectionFailed"),
            ("10.20.0.11", 135, "ConnectionRequest"),
        ]);
        lake.connect(host, &dev.boot(when).netsvcs, when, action, ip, port, "");
    }
    for _ in 0..lake.rng.range(1, 3) {
        let when = lake.tick(day, day + DAY);
        let dll = *lake.rng.pick(&["dnsapi.dll", "winhttp.dll", "schannel.dll", "wldp.dll"]);
        lake.load(host, &dev.boot(when).netsvcs, when, &format!(r"C:\Windows\System32\{dll}"));
    }
    // Defender: a signature update a day.
    let when = lake.tick(day, day + DAY);
    let defender = &dev.boot(when).defender;
    let mp = r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.25090.3009-0\MpCmdRun.exe";
    let line = format!(r#""{mp}" SignatureUpdate -ScheduleJob -RestrictPrivileges"#);
    lake.spawn(host, defender, mp, &line, SYSTEM, when);
    lake.connect(host, defender, when + 2 * SECOND, "ConnectionSuccess", "20.10.31.115", 443, "");
    let log = r"C:\ProgramData\Microsoft\Windows Defender\Support\MPLog-20241015-101514.log";
    lake.file(host, defender, when + 40 * SECOND, "FileModified", log, &[]);
    if host.role != Role::Server {
        for _ in 0..lake.rng.range(1, 4) {
            let when = lake.tick(day + 7 * HOUR, day + 19 * HOUR);
            let helper = r"C:\Windows\System32\SearchProtocolHost.exe";
            let line = r#""C:\Windows\system32\SearchProtocolHost.exe" Global\UsGthrFltPipeMssGthrPipe4_ Global\UsGthrCtrlFltPipeMssGthrPipe4 1 -2147483646 "Software\Microsoft\Windows Search" "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT; MS Search 4.0 Robot)" "C:\ProgramData\Microsoft\Search\Data\Temp\usgthrsvc" "DownLevelDaemon""#;
            lake.spawn(host, &dev.boot(when).search, helper, line, SYSTEM, when);
        }
    }
    // The SCCM client: a compliance script every day, an install script on some workdays.
    let when = lake.tick(day + HOUR, day + 5 * HOUR);
    let ccm = &dev.boot(when).ccm;
    let script = format!(
        r#"powershell.exe -NoLogo -NonInteractive -ExecutionPolicy Bypass -File "C:\Windows\CCM\SystemTemp\{}.ps1""#,
        guid(&format!("{}{day}", host.name))
    );
    lake.spawn(host, ccm, POWERSHELL, &script, SYSTEM, when);
    lake.file(host, ccm, when + 5 * SECOND, "FileModified", r"C:\Windows\CCM\Logs\CcmExec.log", &[]);
    if is_workday(day) && lake.rng.chance(40) {
        let when = lake.tick(day + 10 * HOUR, day + 16 * HOUR);
        let ccm = &dev.boot(when).ccm;
        let line = r#"cmd.exe /c "C:\Windows\ccmcache\1f\install.cmd""#;
        lake.spawn(host, ccm, CMD, line, SYSTEM, when);
        let cached = r"C:\Windows\ccmcache\1f\Contoso.Fonts.msi";
        lake.file(host, ccm, when - 30 * SECOND, "FileCreated", cached, &[]);
    }
    for _ in 0..lake.rng.range(2, 5) {
        let when = lake.tick(day, day + DAY);
        let port = *lake.rng.pick(&[80, 443]);
        lake.connect(host, &dev.boot(when).ccm, when, "ConnectionSuccess", SCCM_IP, port, "sccm01.contoso.local");
    }
    let when = lake.tick(day, day + DAY);
    let dll = *lake.rng.pick(&[r"C:\Windows\CCM\CcmUtilLib.dll", r"C:\Windows\System32\wbem\fastprox.dll"]);
    lake.load(host, &dev.boot(when).ccm, when, dll);
}

/// One working day of `user` on `dev`: a logon, then applications started from explorer.exe.
fn user_day(lake: &mut Lake, dev: &Device, user: Account, day: i64) {
    let host = &dev.host;
    let logon = lake.tick(day + 7 * HOUR + 30 * MINUTE, day + 9 * HOUR + 30 * MINUTE);
    let winlogon = &dev.boot(logon).winlogon;
    let init = r"C:\Windows\System32\userinit.exe";
    let userinit = lake.spawn(host, winlogon, init, r"C:\Windows\system32\userinit.exe", user, logon);
    let explorer = r"C:\Windows\explorer.exe";
    let explorer = lake.spawn(host, &userinit, explorer, r"C:\Windows\Explorer.EXE", user, logon + 2 * SECOND);
    let (apps, count): (&[&str], i64) = match host.role {
        Role::Kiosk => (&[EDGE], 1),
        Role::Developer => (&DEV_APPS, lake.rng.range(7, 12)),
        _ => (&OFFICE_APPS, lake.rng.range(6, 11)),
    };
    for _ in 0..count {
        let when = lake.tick(logon + 5 * MINUTE, day + 17 * HOUR + 30 * MINUTE);
        let app = *lake.rng.pick(apps);
        run_app(lake, host, &explorer, app, user, when);
    }
}

/// `explorer` starts `path` at `when`; the application does what it does.
fn run_app(lake: &mut Lake, host: &Host, explorer: &Proc, path: &str, user: Account, when: i64) {
    let line = if host.role == Role::Kiosk {
        format!(r#""{path}" --kiosk https://visit.contoso.com --edge-kiosk-type=fullscreen"#)
    } else {
        format!(r#""{path}""#)
    };
    let app = lake.spawn(host, explorer, path, &line, user, when);
    let name = app.img.name().to_ascii_lowercase();
    let home = format!(r"C:\Users\{}", user.name);
    match name.as_str() {
        "chrome.exe" | "msedge.exe" => {
            for _ in 0..lake.rng.range(1, 4) {
                let t = lake.tick(when + SECOND, when + 30 * MINUTE);
                let renderer = format!(
                    r#""{path}" --type=renderer --lang=en-US --renderer-client-id={} --launch-time-ticks={}"#,
                    lake.rng.range(5, 90),
                    lake.rng.range(1_000_000, 9_000_000_000)
                );
                lake.spawn(host, &app, path, &renderer, user, t);
            }
            for _ in 0..lake.rng.range(2, 6) {
                let t = lake.tick(when + SECOND, when + 2 * HOUR);
                let (url, ip) = *lake.rng.pick(&SITES);
                lake.connect(host, &app, t, "ConnectionSuccess", ip, 443, url);
            }
            lake.load(host, &app, when + 80 * MS, r"C:\Windows\System32\dwrite.dll");
            if lake.rng.chance(20) && host.role != Role::Kiosk {
                let file = *lake.rng.pick(&["invoice_2026-11.pdf", "agenda.docx", "report-q3.xlsx"]);
                let origin = format!("https://contoso.sharepoint.com/sites/finance/Shared%20Documents/{file}");
                let t = lake.tick(when + MINUTE, when + HOUR);
                let extra = [("FileOriginUrl", origin.as_str()), ("FileOriginIP", "13.107.136.10")];
                lake.file(host, &app, t, "FileCreated", &format!(r"{home}\Downloads\{file}"), &extra);
            }
        }
        "winword.exe" | "excel.exe" => {
            let ext = if name == "winword.exe" { "docx" } else { "xlsx" };
            let doc = format!(r"{home}\Documents\{}.{ext}", lake.rng.pick(&["budget", "notes", "plan-2027", "minutes"]));
            let t = lake.tick(when + MINUTE, when + HOUR);
            if lake.rng.chance(30) {
                let tmp = format!(r"{home}\Documents\~WRL{:04}.tmp", lake.rng.range(1, 9999));
                let extra = [("PreviousFileName", &tmp[tmp.rfind('\\').unwrap() + 1..]), ("PreviousFolderPath", tmp.as_str())];
                lake.file(host, &app, t, "FileRenamed", &doc, &extra);
            } else {
                lake.file(host, &app, t, "FileModified", &doc, &[]);
            }
            lake.load(host, &app, when + 120 * MS, r"C:\Program Files\Common Files\Microsoft Shared\Office16\mso20win32client.dll");
        }
        "outlook.exe" | "ms-teams.exe" => {
            for _ in 0..lake.rng.range(1, 4) {
                let t = lake.tick(when + SECOND, when + 3 * HOUR);
                let (url, ip) = *lake.rng.pick(&SITES[..3]);
                lake.connect(host, &app, t, "ConnectionSuccess", ip, 443, url);
            }
            let ost = format!(r"{home}\AppData\Local\Microsoft\Outlook\{}@contoso.com.ost", user.name);
            if name == "outlook.exe" {
                lake.file(host, &app, when + 30 * SECOND, "FileModified", &ost, &[]);
            }
        }
        "git.exe" => {
            let t = when + 400 * MS;
            lake.connect(host, &app, t, "ConnectionSuccess", "140.82.121.4", 443, "github.com");
        }
        "code.exe" | "python.exe" => {
            let t = lake.tick(when + MINUTE, when + HOUR);
            let file = format!(r"{home}\source\repos\billing\{}", lake.rng.pick(&["main.py", "report.csv", "README.md"]));
            lake.file(host, &app, t, "FileModified", &file, &[]);
            if lake.rng.chance(50) {
                lake.file(host, &app, t + SECOND, "FileDeleted", &format!("{file}.tmp"), &[]);
            }
        }
        "cmd.exe" => {
            let (tool, args) = *lake.rng.pick(&[("ipconfig.exe", "ipconfig /all"), ("ping.exe", "ping intranet.contoso.local")]);
            lake.spawn(host, &app, &format!(r"C:\Windows\System32\{tool}"), args, user, when + 9 * SECOND);
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Devices, accounts, images, processes.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Office,
    Developer,
    Kiosk,
    Server,
}

#[derive(Debug, Clone, Copy)]
struct Account {
    domain: &'static str,
    name: &'static str,
    sid: &'static str,
}

const SYSTEM: Account = Account { domain: "nt authority", name: "system", sid: "S-1-5-18" };
const NETWORK_SERVICE: Account =
    Account { domain: "nt authority", name: "network service", sid: "S-1-5-20" };

const fn user(name: &'static str, sid: &'static str) -> Option<Account> {
    Some(Account { domain: "contoso", name, sid })
}

impl Account {
    fn is_user(&self) -> bool {
        self.domain != "nt authority"
    }
    fn upn(&self) -> String {
        if self.domain == "contoso" { format!("{}@contoso.com", self.name) } else { String::new() }
    }
    fn object_id(&self) -> String {
        if self.domain == "contoso" { guid(self.sid) } else { String::new() }
    }
    fn logon_id(&self) -> i64 {
        match self.name {
            "system" => 999,
            "network service" => 996,
            name => 0x3_0000 + (u64::from_str_radix(&hex(name, 6), 16).unwrap_or(0) as i64),
        }
    }
}

/// The eight devices: name, IP address, role, the user who works on it.
const HOSTS: [(&str, &str, Role, Option<Account>); 8] = [
    ("ws-fin-07.contoso.local", "10.20.1.107", Role::Office, user("jdoe", "S-1-5-21-2044561178-3102618745-1350817742-1108")),
    ("ws-hr-02.contoso.local", "10.20.1.102", Role::Office, user("asmith", "S-1-5-21-2044561178-3102618745-1350817742-1114")),
    ("ws-dev-11.contoso.local", "10.20.3.11", Role::Developer, user("bkumar", "S-1-5-21-2044561178-3102618745-1350817742-1121")),
    ("ws-ops-03.contoso.local", "10.20.1.103", Role::Office, user("mlopez", "S-1-5-21-2044561178-3102618745-1350817742-1133")),
    ("laptop-8qk2m1", "10.20.5.41", Role::Office, user("tnguyen", "S-1-5-21-2044561178-3102618745-1350817742-1147")),
    ("kiosk-lobby-01", "10.20.6.10", Role::Kiosk, Some(Account { domain: "kiosk-lobby-01", name: "kioskuser0", sid: "S-1-5-21-3623811015-3361044348-30300820-1001" })),
    ("srv-file-01.contoso.local", "10.20.10.11", Role::Server, None),
    ("srv-app-02.contoso.local", "10.20.10.12", Role::Server, None),
];

struct Host {
    name: &'static str,
    ip: &'static str,
    role: Role,
    user: Option<Account>,
}

/// The long-lived processes of one boot of a device.
struct Boot {
    at: i64,
    winlogon: Proc,
    services: Proc,
    dcom: Proc,
    netsvcs: Proc,
    defender: Proc,
    search: Proc,
    ccm: Proc,
}

struct Device {
    host: Host,
    boots: Vec<Boot>,
}

impl Device {
    /// The boot running at `when`.
    fn boot(&self, when: i64) -> &Boot {
        self.boots.iter().rev().find(|b| b.at <= when).unwrap_or(&self.boots[0])
    }
}

fn devices(lake: &mut Lake) -> Vec<Device> {
    let mut devices = Vec::new();
    for (i, &(name, ip, role, user)) in HOSTS.iter().enumerate() {
        let host = Host { name, ip, role, user };
        let first = boot(lake, &host, at(FIRST_BOOT) + i as i64 * 7 * MINUTE, false);
        let patched = boot(lake, &host, at(PATCH_REBOOT) + i as i64 * 3 * MINUTE, true);
        devices.push(Device { host, boots: vec![first, patched] });
    }
    devices
}

/// The processes a boot starts; their creation events are written when `logged`.
fn boot(lake: &mut Lake, host: &Host, at: i64, logged: bool) -> Boot {
    let start = |lake: &mut Lake, parent: &Proc, path: &str, line: &str, secs: i64| {
        let when = at + secs * SECOND + lake.tick(0, SECOND);
        if logged {
            lake.spawn(host, parent, path, line, SYSTEM, when)
        } else {
            lake.process(parent, path, line, SYSTEM, when, lake.rng.range(100, 600) * 4)
        }
    };
    let smss = Proc {
        img: image(r"C:\Windows\System32\smss.exe"),
        line: r"\SystemRoot\System32\smss.exe".into(),
        pid: 372,
        created: at,
        acct: SYSTEM,
        parent: ("System".into(), 4, at),
    };
    let wininit = start(lake, &smss, r"C:\Windows\System32\wininit.exe", "wininit.exe", 2);
    let winlogon = start(lake, &smss, r"C:\Windows\System32\winlogon.exe", "winlogon.exe", 2);
    let services = r"C:\Windows\System32\services.exe";
    let services = start(lake, &wininit, services, r"C:\Windows\system32\services.exe", 3);
    let dcom = start(lake, &services, SVCHOST, r"C:\Windows\system32\svchost.exe -k DcomLaunch -p", 4);
    let netsvcs = start(lake, &services, SVCHOST, r"C:\Windows\system32\svchost.exe -k netsvcs -p", 6);
    let mpeng = r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.25090.3009-0\MsMpEng.exe";
    let defender = start(lake, &services, mpeng, &format!(r#""{mpeng}""#), 9);
    let indexer = r"C:\Windows\System32\SearchIndexer.exe";
    let search = start(lake, &services, indexer, r"C:\Windows\system32\SearchIndexer.exe /Embedding", 20);
    let ccm = start(lake, &services, r"C:\Windows\CCM\CcmExec.exe", r#""C:\Windows\CCM\CcmExec.exe""#, 30);
    Boot { at, winlogon, services, dcom, netsvcs, defender, search, ccm }
}

/// An executable or DLL on disk.
#[derive(Debug, Clone)]
struct Image {
    path: String,
    company: &'static str,
    product: &'static str,
    version: &'static str,
}

fn image(path: &str) -> Image {
    let name = path.rsplit('\\').next().unwrap_or(path).to_ascii_lowercase();
    let (company, product, version) = match VERSION_INFO.iter().find(|v| v.0 == name) {
        Some(&(_, company, product, version)) => (company, product, version),
        None if path.starts_with(r"C:\Windows") => WINDOWS_INFO,
        None => ("", "", ""),
    };
    Image { path: path.into(), company, product, version }
}

impl Image {
    fn name(&self) -> &str {
        self.path.rsplit('\\').next().unwrap_or(&self.path)
    }
    /// A content hash of `len` hex digits (MD5 32, SHA1 40, SHA256 64).
    fn hash(&self, len: usize) -> String {
        hex(&format!("{}|{}|{len}", self.path.to_ascii_lowercase(), self.version), len)
    }
    fn size(&self) -> i64 {
        10_000 + (u64::from_str_radix(&self.hash(6), 16).unwrap_or(0) % 3_000_000) as i64
    }
    fn original_name(&self) -> &str {
        if self.company.is_empty() { "" } else { self.name() }
    }
    fn signature(&self) -> (&'static str, &'static str) {
        match self.company {
            "" => ("Unknown", "Unsigned"),
            "Microsoft Corporation" => ("OsVendor", "Valid"),
            _ => ("ThirdParty", "Valid"),
        }
    }
}

/// A running process, with what its children's events say of their parent.
#[derive(Debug, Clone)]
struct Proc {
    img: Image,
    line: String,
    pid: i64,
    created: i64,
    acct: Account,
    /// The parent's file name, process id and creation time.
    parent: (String, i64, i64),
}

// ---------------------------------------------------------------------------------------------
// Rows and files.

/// A cell value; a column a row does not set is "" (strings), else null.
#[derive(Debug, Clone)]
enum V {
    S(String),
    L(i64),
    T(i64),
    B(bool),
}

fn s(text: impl Into<String>) -> V {
    V::S(text.into())
}

type Row = BTreeMap<&'static str, V>;

fn time(row: &Row, column: &str) -> i64 {
    match row.get(column) {
        Some(V::T(v) | V::L(v)) => *v,
        _ => 0,
    }
}

struct Lake {
    rng: Rng,
    next_report: i64,
    start: i64,
    end: i64,
    /// Rows per (table, day of TimeGenerated).
    files: BTreeMap<(DefenderTable, String), Vec<Row>>,
}

impl Lake {
    /// A random instant in `[from, to)`, whole ticks.
    fn tick(&mut self, from: i64, to: i64) -> i64 {
        let t = self.rng.range(from, to);
        t - t.rem_euclid(TICK)
    }

    fn process(&mut self, parent: &Proc, path: &str, line: &str, acct: Account, when: i64, pid: i64) -> Proc {
        let parent = (parent.img.name().to_string(), parent.pid, parent.created);
        Proc { img: image(path), line: line.into(), pid, created: when, acct, parent }
    }

    /// `parent` starts `path` at `when`: a DeviceProcessEvents row. Returns the new process.
    fn spawn(&mut self, host: &Host, parent: &Proc, path: &str, line: &str, acct: Account, when: i64) -> Proc {
        let pid = self.rng.range(250, 6000) * 4;
        self.spawn_as(host, parent, path, line, acct, when, pid)
    }

    #[allow(clippy::too_many_arguments)]
    fn spawn_as(&mut self, host: &Host, parent: &Proc, path: &str, line: &str, acct: Account, when: i64, pid: i64) -> Proc {
        let child = self.process(parent, path, line, acct, when, pid);
        let mut row = self.row(PROCESS, host, when, "ProcessCreated", parent);
        let (c, img) = (&child, &child.img);
        row.extend([
            ("AccountDomain", s(c.acct.domain)),
            ("AccountName", s(c.acct.name)),
            ("AccountObjectId", s(c.acct.object_id())),
            ("AccountSid", s(c.acct.sid)),
            ("AccountUpn", s(c.acct.upn())),
            ("FileName", s(img.name())),
            ("FolderPath", s(&img.path)),
            ("FileSize", V::L(img.size())),
            ("LogonId", V::L(c.acct.logon_id())),
            ("MD5", s(img.hash(32))),
            ("SHA1", s(img.hash(40))),
            ("SHA256", s(img.hash(64))),
            ("ProcessCommandLine", s(&c.line)),
            ("ProcessCreationTime", V::T(c.created)),
            ("ProcessId", V::L(c.pid)),
            ("ProcessIntegrityLevel", s(if c.acct.is_user() { "Medium" } else { "System" })),
            ("ProcessTokenElevation", s(elevation(c.acct))),
            ("ProcessVersionInfoCompanyName", s(img.company)),
            ("ProcessVersionInfoProductName", s(img.product)),
            ("ProcessVersionInfoProductVersion", s(img.version)),
            ("ProcessVersionInfoInternalFileName", s(img.original_name().trim_end_matches(".exe"))),
            ("ProcessVersionInfoOriginalFileName", s(img.original_name())),
            ("ProcessVersionInfoFileDescription", s(img.product)),
            ("CreatedProcessSessionId", V::L(i64::from(c.acct.is_user()))),
            ("IsProcessRemoteSession", V::B(false)),
        ]);
        self.push(PROCESS, row);
        child
    }

    #[allow(clippy::too_many_arguments)]
    fn connect(&mut self, host: &Host, p: &Proc, when: i64, action: &str, ip: &str, port: i64, url: &str) {
        let mut row = self.row(NETWORK, host, when, action, p);
        let private = ip.starts_with("10.");
        row.extend([
            ("LocalIP", s(host.ip)),
            ("LocalIPType", s("Private")),
            ("LocalPort", V::L(self.rng.range(49_152, 65_535))),
            ("Protocol", s(if port == 53 { "Udp" } else { "Tcp" })),
            ("RemoteIP", s(ip)),
            ("RemoteIPType", s(if private { "Private" } else { "Public" })),
            ("RemotePort", V::L(port)),
            ("RemoteUrl", s(url)),
        ]);
        self.push(NETWORK, row);
    }

    #[allow(clippy::too_many_arguments)]
    fn file(&mut self, host: &Host, p: &Proc, when: i64, action: &str, path: &str, extra: &[(&'static str, &str)]) {
        let mut row = self.row(FILE, host, when, action, p);
        let lower = path.to_ascii_lowercase();
        let executable = lower.ends_with(".exe") || lower.ends_with(".dll");
        // Binaries have fixed contents; other files change with every write.
        let img = Image { version: "", ..image(path) };
        let content = |len| if executable { img.hash(len) } else { hex(&format!("{path}|{when}"), len) };
        row.extend([
            ("FileName", s(img.name())),
            ("FolderPath", s(path)),
            ("FileSize", V::L(img.size())),
            ("MD5", s(content(32))),
            ("SHA1", s(content(40))),
            ("SHA256", s(content(64))),
            ("IsAzureInfoProtectionApplied", V::B(false)),
            ("RequestAccountDomain", s(p.acct.domain)),
            ("RequestAccountName", s(p.acct.name)),
            ("RequestAccountSid", s(p.acct.sid)),
            ("RequestProtocol", s("Local")),
        ]);
        if executable {
            row.insert("AdditionalFields", s(r#"{"FileType":"PortableExecutable"}"#));
        }
        row.extend(extra.iter().map(|&(k, v)| (k, s(v))));
        self.push(FILE, row);
    }

    fn load(&mut self, host: &Host, p: &Proc, when: i64, dll: &str) {
        let mut row = self.row(IMAGE, host, when, "ImageLoaded", p);
        let img = image(dll);
        row.extend([
            ("FileName", s(img.name())),
            ("FolderPath", s(dll)),
            ("FileSize", V::L(img.size())),
            ("MD5", s(img.hash(32))),
            ("SHA1", s(img.hash(40))),
            ("SHA256", s(img.hash(64))),
        ]);
        self.push(IMAGE, row);
    }

    /// The columns every table shares: the device, the times, and the initiating process `p`.
    fn row(&mut self, table: DefenderTable, host: &Host, when: i64, action: &str, p: &Proc) -> Row {
        let ingested = when + self.tick(300 * MS, 2_500 * MS);
        self.next_report += 1;
        let img = &p.img;
        let (signer, status) = img.signature();
        let group = match host.role {
            Role::Server => "Servers",
            Role::Kiosk => "Kiosks",
            _ => "Workstations",
        };
        Row::from([
            ("TenantId", s(TENANT_ID)),
            ("ActionType", s(action)),
            ("DeviceId", s(hex(host.name, 40))),
            ("DeviceName", s(host.name)),
            ("MachineGroup", s(group)),
            ("ReportId", V::L(self.next_report)),
            ("Timestamp", V::T(when)),
            ("TimeGenerated", V::T(ingested)),
            ("SourceSystem", s("")),
            ("Type", s(table.name())),
            ("InitiatingProcessAccountDomain", s(p.acct.domain)),
            ("InitiatingProcessAccountName", s(p.acct.name)),
            ("InitiatingProcessAccountObjectId", s(p.acct.object_id())),
            ("InitiatingProcessAccountSid", s(p.acct.sid)),
            ("InitiatingProcessAccountUpn", s(p.acct.upn())),
            ("InitiatingProcessCommandLine", s(&p.line)),
            ("InitiatingProcessFileName", s(img.name())),
            ("InitiatingProcessFolderPath", s(&img.path)),
            ("InitiatingProcessId", V::L(p.pid)),
            ("InitiatingProcessIntegrityLevel", s(if p.acct.is_user() { "Medium" } else { "System" })),
            ("InitiatingProcessLogonId", V::L(p.acct.logon_id())),
            ("InitiatingProcessMD5", s(img.hash(32))),
            ("InitiatingProcessSHA1", s(img.hash(40))),
            ("InitiatingProcessSHA256", s(img.hash(64))),
            ("InitiatingProcessTokenElevation", s(elevation(p.acct))),
            ("InitiatingProcessFileSize", V::L(img.size())),
            ("InitiatingProcessVersionInfoCompanyName", s(img.company)),
            ("InitiatingProcessVersionInfoProductName", s(img.product)),
            ("InitiatingProcessVersionInfoProductVersion", s(img.version)),
            ("InitiatingProcessVersionInfoInternalFileName", s(img.original_name().trim_end_matches(".exe"))),
            ("InitiatingProcessVersionInfoOriginalFileName", s(img.original_name())),
            ("InitiatingProcessVersionInfoFileDescription", s(img.product)),
            ("InitiatingProcessSignerType", s(signer)),
            ("InitiatingProcessSignatureStatus", s(status)),
            ("InitiatingProcessParentFileName", s(&p.parent.0)),
            ("InitiatingProcessParentId", V::L(p.parent.1)),
            ("InitiatingProcessParentCreationTime", V::T(p.parent.2)),
            ("InitiatingProcessCreationTime", V::T(p.created)),
            ("InitiatingProcessSessionId", V::L(i64::from(p.acct.is_user()))),
            ("IsInitiatingProcessRemoteSession", V::B(false)),
        ])
    }

    /// Files the row under its table and day, if it falls inside the data's time range.
    fn push(&mut self, table: DefenderTable, row: Row) {
        let (when, ingested) = (time(&row, "Timestamp"), time(&row, "TimeGenerated"));
        if when < self.start || ingested >= self.end {
            return;
        }
        let day = DateTime::from_timestamp_nanos(ingested).format("%Y-%m-%d").to_string();
        self.files.entry((table, day)).or_default().push(row);
    }
}

fn elevation(acct: Account) -> &'static str {
    if acct.is_user() { "TokenElevationTypeLimited" } else { "TokenElevationTypeDefault" }
}

/// The rows as one batch with every column of the table in Sentinel order. Strings a row does
/// not set are "", except that one row in four leaves the columns the rule does not read null
/// (exports differ in how they write missing values); AdditionalFields is JSON or null.
fn to_batch(table: DefenderTable, rows: &[Row]) -> RecordBatch {
    let columns: Vec<ArrayRef> = table.columns().iter().map(|c| column(table, c, rows)).collect();
    let fields: Vec<Field> =
        table.columns().iter().map(|c| Field::new(&c.name, file_type(c.kusto_type), true)).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("columns match the schema")
}

fn file_type(kusto: KustoType) -> DataType {
    match kusto {
        KustoType::String | KustoType::Dynamic | KustoType::Guid => DataType::Utf8,
        KustoType::Long => DataType::Int64,
        KustoType::Int => DataType::Int32,
        KustoType::Datetime => DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        KustoType::Bool => DataType::Boolean,
        KustoType::Real => DataType::Float64,
    }
}

fn column(table: DefenderTable, c: &Column, rows: &[Row]) -> ArrayRef {
    let name = c.name.as_str();
    let cells = rows.iter().map(|r| r.get(name));
    let bad = |v: &V| -> ! { panic!("{table}.{name}: {v:?} is not {:?}", c.kusto_type) };
    match c.kusto_type {
        KustoType::String | KustoType::Dynamic | KustoType::Guid => {
            let may_be_null = !table.rule_columns().contains(&name);
            let mut b = StringBuilder::new();
            for (row, cell) in rows.iter().zip(cells) {
                match cell {
                    Some(V::S(v)) => b.append_value(v),
                    Some(v) => bad(v),
                    None if c.kusto_type == KustoType::Dynamic => b.append_null(),
                    None if may_be_null && time(row, "ReportId") % 4 == 0 => b.append_null(),
                    None => b.append_value(""),
                }
            }
            Arc::new(b.finish())
        }
        KustoType::Long | KustoType::Int | KustoType::Datetime => {
            let values: Vec<Option<i64>> = cells
                .map(|cell| match cell {
                    Some(V::L(v) | V::T(v)) => Some(*v),
                    Some(v) => bad(v),
                    None => None,
                })
                .collect();
            match c.kusto_type {
                KustoType::Long => Arc::new(Int64Builder::new().extend_from(values)),
                KustoType::Int => {
                    let mut b = Int32Builder::new();
                    b.extend(values.into_iter().map(|v| v.map(|v| v as i32)));
                    Arc::new(b.finish())
                }
                _ => {
                    let mut b = TimestampNanosecondBuilder::new().with_timezone("UTC");
                    b.extend(values);
                    Arc::new(b.finish())
                }
            }
        }
        KustoType::Bool => {
            let mut b = BooleanBuilder::new();
            b.extend(cells.map(|cell| match cell {
                Some(V::B(v)) => Some(*v),
                Some(v) => bad(v),
                None => None,
            }));
            Arc::new(b.finish())
        }
        KustoType::Real => {
            let mut b = Float64Builder::new();
            b.extend(cells.map(|_| None::<f64>));
            Arc::new(b.finish())
        }
    }
}

trait ExtendFrom {
    fn extend_from(self, values: Vec<Option<i64>>) -> datafusion::arrow::array::Int64Array;
}

impl ExtendFrom for Int64Builder {
    fn extend_from(mut self, values: Vec<Option<i64>>) -> datafusion::arrow::array::Int64Array {
        self.extend(values);
        self.finish()
    }
}

fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<u64> {
    let fail = |message: String| HuntError::Output { path: path.to_path_buf(), message };
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(9).expect("valid level")))
        .build();
    let file = fs::File::create(path).map_err(|e| fail(e.to_string()))?;
    let mut writer =
        ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(|e| fail(e.to_string()))?;
    writer.write(batch).map_err(|e| fail(e.to_string()))?;
    writer.close().map_err(|e| fail(e.to_string()))?;
    Ok(fs::metadata(path).map_err(|e| fail(e.to_string()))?.len())
}

// ---------------------------------------------------------------------------------------------
// Time and randomness.

fn at(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .expect("a valid constant datetime")
}

fn is_workday(day: i64) -> bool {
    !matches!(DateTime::from_timestamp_nanos(day).weekday(), Weekday::Sat | Weekday::Sun)
}

/// splitmix64: a tiny deterministic generator, plenty for sample data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `[lo, hi)`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo).max(1) as u64) as i64
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as i64) as usize]
    }
    fn chance(&mut self, percent: i64) -> bool {
        self.range(0, 100) < percent
    }
}

/// `len` hex digits derived from `seed` (FNV-1a, then splitmix64): a stable fake hash or id.
fn hex(seed: &str, len: usize) -> String {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in seed.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
    }
    let mut rng = Rng(h);
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        out.push_str(&format!("{:016x}", rng.next()));
    }
    out.truncate(len);
    out
}

fn guid(seed: &str) -> String {
    let h = hex(seed, 32);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}
