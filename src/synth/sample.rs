//! The embedded sample lake (`data/sample-lake/`): three weeks of synthetic Defender XDR events
//! (2026-10-30 00:00 to 2026-11-19 12:00 UTC) from the eight devices of a small company,
//! `contoso.local`, laid out as a Sentinel export: one folder per table, one zstd Parquet file
//! per table and day in hive folders (`date=2026-11-05/part-00000.parquet`), every Sentinel
//! column with its Kusto type, and the `_SUCCESS` litter export jobs leave behind.
//!
//! Background, every day: users log on and run browsers, Office, Teams and shells; the
//! allowlisted services svchost.exe, MsMpEng.exe and SearchIndexer.exe (launched by
//! services.exe) start their helpers; the SCCM client CcmExec.exe, a service the rule does not
//! allowlist, runs scripts on every device every day, so it is common and never rare. Every
//! device reboots after Patch Tuesday (about 2026-11-11 03:00), which gives each service a new
//! process id and creation time.
//!
//! Planted stories, each with coherent rows in all four tables, numbered as in
//! `data/README.md` (which lists the detections they give; stories 3 and 4 are the common agent
//! and the allowlisted services of the background):
//! - story 1, `psexec_lateral_movement`: `PSEXESVC.exe` on ws-fin-07 runs reconnaissance
//!   through cmd.exe and connects to the DC, back to the attacker's workstation and outside;
//! - story 2, `installer_service`: a one-off, randomly named setup service on srv-app-02 writes
//!   24 files under `C:\Program Files\Fabrikam\Agent` and makes no connection;
//! - story 5, `outside_window_service`: `svchosts.exe` (not `svchost.exe`) dumps LSASS on
//!   srv-file-01 on 2026-11-01: outside the default 14-day window, inside a 30-day one;
//! - story 6, `remote_support_two_instances`: a remote-support service on the lobby kiosk (a
//!   device name without a dot), started twice, before and after the reboot: two instances.
//!
//! Deterministic: a fixed seed, fixed ids and times for the planted processes, rows sorted, so
//! every run writes the same bytes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc, Weekday};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::json::ReaderBuilder;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_writer::ArrowWriterOptions;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use serde_json::{Map, Value, json};

use super::folder::{OutputFolder, write_json};
use crate::error::{HuntError, Result};
use crate::lake::DefenderTable::{
    self, DeviceFileEvents, DeviceImageLoadEvents, DeviceNetworkEvents, DeviceProcessEvents,
};
use crate::lake::schema::Column;
use crate::lake::{KustoType, LAKE_INFO_FILE};
use crate::time::{DAY, HOUR, SECOND, TICK_NANOS};

/// The lake's reference time, written to `huntlake-lake.json`: the default `--as-of`.
pub const REFERENCE_TIME: &str = "2026-11-19T12:00:00Z";
/// The first instant of data; the last is just before [`REFERENCE_TIME`].
pub const DATA_START: &str = "2026-10-30T00:00:00Z";
/// Every device boots before the data, and again after Patch Tuesday.
const BOOTS: [&str; 2] = ["2026-10-26T06:00:00Z", "2026-11-11T03:00:00Z"];

const SEED: u64 = 0x4855_4E54_4C41_4B45;
const TENANT_ID: &str = "3f8e2a71-5c4d-4b9e-a1f0-7d6c5b4a3e21";
const MS: i64 = 1_000_000;
const MINUTE: i64 = 60 * SECOND;
const TICK: i64 = TICK_NANOS;

const SYS32: &str = r"C:\Windows\System32";
const CMD: &str = r"C:\Windows\System32\cmd.exe";
const POWERSHELL: &str = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";
const OK: &str = "ConnectionSuccess";

#[rustfmt::skip]
static HOSTS: [Host; 8] = [
    Host { name: "ws-fin-07.contoso.local", ip: "10.20.1.107", role: Role::Office, user: user("jdoe", 1108) },
    Host { name: "ws-hr-02.contoso.local", ip: "10.20.1.102", role: Role::Office, user: user("asmith", 1114) },
    Host { name: "ws-dev-11.contoso.local", ip: "10.20.3.11", role: Role::Developer, user: user("bkumar", 1121) },
    Host { name: "ws-ops-03.contoso.local", ip: "10.20.1.103", role: Role::Office, user: user("mlopez", 1133) },
    Host { name: "laptop-8qk2m1", ip: "10.20.5.41", role: Role::Office, user: user("tnguyen", 1147) },
    Host { name: "kiosk-lobby-01", ip: "10.20.6.10", role: Role::Kiosk, user: Some(KIOSK_USER) },
    Host { name: "srv-file-01.contoso.local", ip: "10.20.10.11", role: Role::Server, user: None },
    Host { name: "srv-app-02.contoso.local", ip: "10.20.10.12", role: Role::Server, user: None },
];

/// The services every boot starts: path, command line, account, on servers too, their habit.
#[rustfmt::skip]
const SERVICES: [(&str, &str, Account, bool, &Habit); 7] = [
    (r"C:\Windows\System32\svchost.exe", r"C:\Windows\system32\svchost.exe -k DcomLaunch -p", SYSTEM, true, &DCOM_LAUNCH),
    (r"C:\Windows\System32\svchost.exe", r"C:\Windows\system32\svchost.exe -k netsvcs -p", SYSTEM, true, &NETSVCS),
    (r"C:\Windows\System32\svchost.exe", r"C:\Windows\System32\svchost.exe -k NetworkService -p", NETWORK_SERVICE, true, &DNS_CLIENT),
    (r"C:\Windows\System32\svchost.exe", r"C:\Windows\system32\svchost.exe -k LocalServiceNetworkRestricted -p", LOCAL_SERVICE, true, &LOCAL_SVC),
    (r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.25090.3009-0\MsMpEng.exe", r#""C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.25090.3009-0\MsMpEng.exe""#, SYSTEM, true, &DEFENDER),
    (r"C:\Windows\System32\SearchIndexer.exe", r"C:\Windows\system32\SearchIndexer.exe /Embedding", SYSTEM, false, &INDEXER),
    (r"C:\Windows\CCM\CcmExec.exe", r#""C:\Windows\CCM\CcmExec.exe""#, SYSTEM, true, &SCCM_CLIENT),
];

/// What a process does in a day (a service) or a session (an application): up to n draws (at
/// least n/2) from each list: children it starts (path, command line), connections (remote IP,
/// port, URL), files it writes (action, path; `{user}` is its account), DLLs it loads.
struct Habit {
    runs: (i64, &'static [(&'static str, &'static str)]),
    nets: (i64, &'static [(&'static str, i64, &'static str)]),
    files: (i64, &'static [(&'static str, &'static str)]),
    dlls: (i64, &'static [&'static str]),
}

#[rustfmt::skip]
mod habits {
    use super::{Habit, CMD, POWERSHELL};
    const NOTHING: Habit = Habit { runs: (0, &[]), nets: (0, &[]), files: (0, &[]), dlls: (0, &[]) };
    pub const DCOM_LAUNCH: Habit = Habit {
        runs: (4, &[(r"C:\Windows\System32\wbem\WmiPrvSE.exe", r"C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding")]),
        dlls: (2, &[r"C:\Windows\System32\combase.dll", r"C:\Windows\System32\wbem\wbemcomn.dll"]), ..NOTHING };
    pub const NETSVCS: Habit = Habit {
        runs: (2, &[(r"C:\Windows\System32\taskhostw.exe", "taskhostw.exe"), (r"C:\Windows\System32\sihclient.exe", "sihclient.exe /cv 2Xk4Vm0qP0u5mB7n.0")]),
        nets: (3, &[("20.190.151.68", 443, ""), ("13.107.4.50", 80, ""), ("10.20.0.11", 135, "")]),
        dlls: (2, &[r"C:\Windows\System32\winhttp.dll", r"C:\Windows\System32\schannel.dll", r"C:\Windows\System32\wldp.dll"]), ..NOTHING };
    pub const DNS_CLIENT: Habit = Habit {
        nets: (6, &[("10.20.0.10", 53, ""), ("10.20.0.10", 88, ""), ("10.20.0.10", 389, "")]),
        dlls: (1, &[r"C:\Windows\System32\dnsapi.dll"]), ..NOTHING };
    pub const LOCAL_SVC: Habit = Habit {
        files: (1, &[("FileModified", r"C:\Windows\ServiceProfiles\LocalService\AppData\Local\lastalive0.dat")]), ..NOTHING };
    pub const DEFENDER: Habit = Habit {
        runs: (2, &[(r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.25090.3009-0\MpCmdRun.exe", r#""C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.25090.3009-0\MpCmdRun.exe" SignatureUpdate -ScheduleJob -RestrictPrivileges"#)]),
        nets: (1, &[("20.10.31.115", 443, "")]),
        files: (2, &[("FileModified", r"C:\ProgramData\Microsoft\Windows Defender\Support\MPLog-20241015-101514.log"), ("FileCreated", r"C:\ProgramData\Microsoft\Windows Defender\Definition Updates\Updates\mpasdlta.vdm")]), ..NOTHING };
    pub const INDEXER: Habit = Habit {
        runs: (4, &[(r"C:\Windows\System32\SearchProtocolHost.exe", r#""C:\Windows\system32\SearchProtocolHost.exe" Global\UsGthrFltPipeMssGthrPipe4_ Global\UsGthrCtrlFltPipeMssGthrPipe4 1 -2147483646 "Software\Microsoft\Windows Search""#), (r"C:\Windows\System32\SearchFilterHost.exe", r#""C:\Windows\system32\SearchFilterHost.exe" 0 812 816 824 8192 820 796"#)]),
        files: (1, &[("FileModified", r"C:\ProgramData\Microsoft\Search\Data\Applications\Windows\Windows.db")]), ..NOTHING };
    pub const SCCM_CLIENT: Habit = Habit {
        runs: (2, &[(POWERSHELL, r#"powershell.exe -NoLogo -NonInteractive -ExecutionPolicy Bypass -File "C:\Windows\CCM\SystemTemp\0d6f3b5e-2a41-4c8e-9b7d-5f1e3a2c4d6b.ps1""#), (CMD, r#"cmd.exe /c "C:\Windows\ccmcache\1f\install.cmd""#)]),
        nets: (4, &[("10.20.0.15", 443, "sccm01.contoso.local"), ("10.20.0.15", 80, "sccm01.contoso.local")]),
        files: (2, &[("FileModified", r"C:\Windows\CCM\Logs\CcmExec.log"), ("FileCreated", r"C:\Windows\ccmcache\1f\Contoso.Fonts.msi")]),
        dlls: (1, &[r"C:\Windows\CCM\CcmUtilLib.dll", r"C:\Windows\System32\wbem\fastprox.dll"]) };

    /// Web sites: (RemoteIP, port, RemoteUrl).
    const WEB: [(&str, i64, &str); 7] = [
        ("13.107.21.200", 443, "www.bing.com"), ("142.250.185.68", 443, "www.google.com"),
        ("13.107.136.10", 443, "contoso.sharepoint.com"), ("10.20.0.30", 443, "intranet.contoso.local"),
        ("185.15.59.224", 443, "www.wikipedia.org"), ("52.96.165.18", 443, "outlook.office365.com"),
        ("20.190.151.68", 443, "login.microsoftonline.com"),
    ];
    const OFFICE_WEB: [(&str, i64, &str); 3] = [WEB[5], WEB[6], WEB[2]];
    const MSO: &[&str] = &[r"C:\Program Files\Common Files\Microsoft Shared\Office16\mso20win32client.dll"];

    /// The applications users start from explorer.exe, and what they do in a session.
    pub static APPS: [(&str, Habit); 10] = [
        (r"C:\Program Files\Google\Chrome\Application\chrome.exe", Habit {
            runs: (3, &[(r"C:\Program Files\Google\Chrome\Application\chrome.exe", r#""C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --lang=en-US --renderer-client-id=7"#)]),
            nets: (5, &WEB), dlls: (1, &[r"C:\Windows\System32\dwrite.dll"]),
            files: (1, &[("FileCreated", r"C:\Users\{user}\Downloads\invoice_2026-11.pdf"), ("FileCreated", r"C:\Users\{user}\Downloads\agenda.docx")]) }),
        (r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe", Habit {
            runs: (3, &[(r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe", r#""C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe" --type=renderer --lang=en-US"#)]),
            nets: (4, &WEB), dlls: (1, &[r"C:\Windows\System32\d3d11.dll"]), ..NOTHING }),
        (r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE", Habit { nets: (3, &OFFICE_WEB), dlls: (1, MSO),
            files: (1, &[("FileModified", r"C:\Users\{user}\AppData\Local\Microsoft\Outlook\{user}@contoso.com.ost")]), ..NOTHING }),
        (r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE", Habit { dlls: (1, MSO),
            files: (2, &[("FileModified", r"C:\Users\{user}\Documents\minutes.docx"), ("FileRenamed", r"C:\Users\{user}\Documents\plan-2027.docx")]), ..NOTHING }),
        (r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE", Habit { dlls: (1, MSO),
            files: (2, &[("FileModified", r"C:\Users\{user}\Documents\budget.xlsx"), ("FileRenamed", r"C:\Users\{user}\Documents\report-q3.xlsx")]), ..NOTHING }),
        (r"C:\Program Files\WindowsApps\MSTeams_24295.605.3225.8804_x64__8wekyb3d8bbwe\ms-teams.exe", Habit { nets: (3, &OFFICE_WEB), ..NOTHING }),
        (r"C:\Windows\System32\notepad.exe", Habit { files: (1, &[("FileModified", r"C:\Users\{user}\Documents\todo.txt")]), ..NOTHING }),
        (r"C:\Windows\System32\cmd.exe", Habit { runs: (1, &[(r"C:\Windows\System32\ipconfig.exe", "ipconfig /all"), (r"C:\Windows\System32\PING.EXE", "ping intranet.contoso.local")]), ..NOTHING }),
        (r"C:\Users\bkumar\AppData\Local\Programs\Microsoft VS Code\Code.exe", Habit {
            files: (3, &[("FileModified", r"C:\Users\{user}\source\repos\billing\main.py"), ("FileDeleted", r"C:\Users\{user}\source\repos\billing\main.py.tmp"), ("FileModified", r"C:\Users\{user}\source\repos\billing\README.md")]), ..NOTHING }),
        (r"C:\Program Files\Git\cmd\git.exe", Habit { nets: (1, &[("140.82.121.4", 443, "github.com")]), ..NOTHING }),
    ];
}
use habits::*;

/// Version information by file name (lower case): company, product, version.
#[rustfmt::skip]
const VERSION_INFO: [(&str, &str, &str, &str); 12] = [
    ("chrome.exe", "Google LLC", "Google Chrome", "130.0.6723.117"),
    ("msedge.exe", "Microsoft Corporation", "Microsoft Edge", "130.0.2849.80"),
    ("outlook.exe", "Microsoft Corporation", "Microsoft Outlook", "16.0.18129.20158"),
    ("winword.exe", "Microsoft Corporation", "Microsoft Word", "16.0.18129.20158"),
    ("excel.exe", "Microsoft Corporation", "Microsoft Excel", "16.0.18129.20158"),
    ("msmpeng.exe", "Microsoft Corporation", "Microsoft Malware Protection", "4.18.25090.3009"),
    ("ccmexec.exe", "Microsoft Corporation", "System Center Configuration Manager", "5.00.9128.1000"),
    ("git.exe", "The Git Development Community", "Git", "2.47.0.2"),
    ("psexesvc.exe", "Sysinternals - www.sysinternals.com", "Sysinternals PsExec", "2.43"),
    ("fabrikamsetupsvc_7f3c.exe", "Fabrikam, Inc.", "Fabrikam Agent Setup", "7.2.1.0"),
    ("helpdeskremote.exe", "HelpDeskRemote Software Ltd", "HelpDeskRemote", "8.1.4.0"),
    ("svchosts.exe", "", "", ""),
];
const WINDOWS_INFO: (&str, &str, &str) = (
    "Microsoft Corporation",
    "Microsoft® Windows® Operating System",
    "10.0.22621.4317",
);

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

/// Writes the sample lake into `root` (created if absent) and returns what it wrote. `root`
/// should hold no table folders yet: stale files there would stay part of the lake.
pub fn write_sample_lake(root: &Path, force: bool) -> Result<SampleSummary> {
    let io = |path: &Path| {
        let context = format!("writing the sample lake: {}", path.display());
        move |source: std::io::Error| HuntError::Io { context, source }
    };
    let folder = OutputFolder::open(root, force)?;
    let files = generate().files;
    let success: Vec<PathBuf> = DefenderTable::ALL
        .iter()
        .map(|t| Path::new(t.name()).join("_SUCCESS"))
        .collect();
    let parquet: Vec<PathBuf> = files
        .keys()
        .map(|(table, day)| {
            Path::new(table.name())
                .join(format!("date={day}"))
                .join("part-00000.parquet")
        })
        .collect();
    let planned: Vec<PathBuf> = success.iter().chain(&parquet).cloned().collect();
    folder.begin(&planned)?;
    let mut summary = SampleSummary::default();
    for marker in &success {
        let path = root.join(marker);
        fs::create_dir_all(path.parent().expect("a table folder")).map_err(io(&path))?;
        fs::write(&path, b"").map_err(io(&path))?;
    }
    for (((table, _), mut rows), relative) in files.into_iter().zip(parquet) {
        rows.sort_by_key(|r| (r["Timestamp"].as_i64(), r["ReportId"].as_i64()));
        let path = root.join(&relative);
        fs::create_dir_all(path.parent().expect("a day folder")).map_err(io(&path))?;
        *summary.rows.entry(table.name().to_string()).or_default() += rows.len();
        summary.bytes += write_parquet(&path, &to_batch(table, rows))?;
        summary.files.push(relative);
    }
    summary.files.sort();
    folder.finish(&planned, json!({"complete": true, "sample": true}))?;
    let info = json!({
        "reference_time": REFERENCE_TIME,
        "description": "huntlake's embedded sample: three weeks of synthetic Defender XDR events \
            from eight contoso.local devices, with planted 'Rare Process as a Service' stories \
            (see data/README.md). Regenerate with: huntlake generate --sample --out \
            data/sample-lake",
    });
    write_json(&root.join(LAKE_INFO_FILE), &info)?;
    Ok(summary)
}

fn generate() -> Lake {
    let (start, end) = (at(DATA_START), at(REFERENCE_TIME));
    let mut lake = Lake {
        rng: Rng::new(SEED),
        report: 1_000,
        start,
        end,
        files: BTreeMap::new(),
    };
    let devices: Vec<Device> = HOSTS.iter().map(|host| device(&mut lake, host)).collect();
    let device = |name: &str| {
        devices
            .iter()
            .find(|d| d.host.name == name)
            .expect("a device")
    };
    psexec_lateral_movement(&mut lake, device("ws-fin-07.contoso.local"));
    installer_service(&mut lake, device("srv-app-02.contoso.local"));
    outside_window_service(&mut lake, device("srv-file-01.contoso.local"));
    remote_support_two_instances(&mut lake, device("kiosk-lobby-01"));
    for day in (start..end).step_by(DAY as usize) {
        for dev in &devices {
            services_day(&mut lake, dev, day);
            if let Some(user) = dev.host.user
                && (dev.host.role == Role::Kiosk || is_workday(day))
            {
                user_day(&mut lake, dev, user, day);
            }
        }
    }
    lake
}

// ---------------------------------------------------------------------------------------------
// The planted stories.

/// One step of a planted story, some milliseconds after the service started.
enum Act<'a> {
    /// Start a child (path, command line), which starts a System32 tool (name, command line).
    Run(&'a str, &'a str, Option<(&'a str, &'a str)>),
    /// A connection: ActionType, remote IP, port, URL.
    Net(&'a str, &'a str, i64, &'a str),
    /// A file event: ActionType, path.
    File(&'a str, &'a str),
    /// An image load: the DLL's file name in System32.
    Dll(&'a str),
}
use Act::{Dll, File, Net, Run};

/// Story 1: from ws-dev-11, an attacker runs PsExec against ws-fin-07 on a Saturday night. The
/// PSEXESVC.exe service runs three reconnaissance commands through cmd.exe (each starting a
/// tool: grandchildren, which the rule does not count), writes PsExec's key file and an output
/// file, loads four DLLs, and connects to the DC (LDAP), back to ws-dev-11 (SMB) and, after a
/// failed try, to a public address.
fn psexec_lateral_movement(lake: &mut Lake, dev: &Device) {
    let start = at("2026-11-14T02:13:07.4412345Z");
    let path = r"C:\Windows\PSEXESVC.exe";
    let svc = lake.service(dev, path, path, start, 7316);
    let (ip, url) = ("203.0.113.57", "sync.tele-metrics.example");
    #[rustfmt::skip]
    let acts = [
        (20, Dll("userenv.dll")), (35, Dll("wtsapi32.dll")), (50, Dll("netapi32.dll")), (65, Dll("secur32.dll")),
        (900, File("FileCreated", r"C:\Windows\PSEXEC-WS-DEV-11-4B1D7C2E.key")),
        (1_000, Net(OK, "10.20.0.10", 389, "")),
        (1_200, Net(OK, "10.20.3.11", 445, "")),
        (2_031, Run(CMD, "cmd.exe /c whoami /all", Some(("whoami.exe", "whoami  /all")))),
        (84_031, Run(CMD, r#"cmd.exe /c net group "domain admins" /domain"#, Some(("net.exe", r#"net  group "domain admins" /domain"#)))),
        (175_031, Run(CMD, r"cmd.exe /c nltest /dclist:contoso.local > C:\Windows\Temp\dclist.txt", Some(("nltest.exe", "nltest  /dclist:contoso.local")))),
        (176_000, File("FileCreated", r"C:\Windows\Temp\dclist.txt")),
        (300_000, Net("ConnectionFailed", ip, 443, url)),
        (303_000, Net(OK, ip, 443, url)),
    ];
    lake.play(&svc, &acts);
}

/// Story 2: a vendor's setup program installs itself as a one-off, randomly named service on
/// srv-app-02, runs msiexec and sc.exe, and writes the product's 24 files. No network events,
/// so Kusto's sets of addresses and URLs are `[""]`. A true positive an analyst closes as benign.
fn installer_service(lake: &mut Lake, dev: &Device) {
    let start = at("2026-11-17T14:22:41.0736218Z");
    let temp = r"C:\Windows\Temp\{6F1C2A9E-3B4D-4C5E-8A7F-0D9E1B2C3A4D}";
    let path = format!(r"{temp}\FabrikamSetupSvc_7f3c.exe");
    let line = format!(r#""{path}" /service"#);
    let svc = lake.service(dev, &path, &line, start, 5120);
    let msi = format!(r#"msiexec.exe /i "{temp}\FabrikamAgent-7.2.1.msi" /qn /norestart"#);
    let (msiexec, sc) = (sys32("msiexec.exe"), sys32("sc.exe"));
    #[rustfmt::skip]
    let files = [
        r"bin\FabrikamAgent.exe", r"bin\FabrikamAgentUpdater.exe", r"bin\fbk_core.dll",
        r"bin\fbk_net.dll", r"bin\fbk_crypto.dll", r"bin\libssl-3-x64.dll", r"bin\zlib1.dll",
        r"bin\libcrypto-3-x64.dll", r"bin\sqlite3.dll", r"bin\msvcp140.dll", r"bin\vcruntime140.dll",
        r"bin\vcruntime140_1.dll", r"config\agent.json", r"config\policy.json",
        r"config\certs\fabrikam-root.pem", r"locales\en-US.json", r"locales\de-DE.json",
        r"locales\fr-FR.json", r"locales\ja-JP.json", r"plugins\inventory.dll",
        r"plugins\patching.dll", r"plugins\remote.dll", "LICENSE.txt", "README.txt",
    ]
    .map(|file| format!(r"C:\Program Files\Fabrikam\Agent\{file}"));
    #[rustfmt::skip]
    let mut acts = vec![
        (30, Dll("msi.dll")), (40, Dll("cabinet.dll")), (50, Dll("crypt32.dll")), (60, Dll("wintrust.dll")),
        (3_000, Run(&msiexec, &msi, None)),
        (120_000, Run(&sc, "sc.exe start FabrikamAgent", None)),
    ];
    for (i, file) in files.iter().enumerate() {
        acts.push((5_000 + 3_000 * i as i64, File("FileCreated", file)));
    }
    lake.play(&svc, &acts);
}

/// Story 5: on Sunday 2026-11-01, `svchosts.exe` (a look-alike of the allowlisted svchost.exe:
/// the allowlist compares whole names) runs as a service on srv-file-01, dumps LSASS with
/// comsvcs.dll, zips the dump, sends it out and deletes both files. Outside the 14-day window of
/// the reference time; a 30-day lookback finds it.
fn outside_window_service(lake: &mut Lake, dev: &Device) {
    let start = at("2026-11-01T03:41:12.9081234Z");
    let path = r"C:\ProgramData\Microsoft\Crypto\svchosts.exe";
    let line = format!("{path} -k netsvc");
    let svc = lake.service(dev, path, &line, start, 9044);
    let rundll32 = sys32("rundll32.exe");
    #[rustfmt::skip]
    let acts = [
        (25, Dll("winhttp.dll")), (45, Dll("bcrypt.dll")), (65, Dll("dbghelp.dll")),
        (20_000, Run(&rundll32, r"rundll32.exe C:\Windows\System32\comsvcs.dll, MiniDump 652 C:\ProgramData\Microsoft\Crypto\lsass.dmp full", None)),
        (120_000, File("FileCreated", r"C:\ProgramData\Microsoft\Crypto\lsass.zip")),
        (150_000, Net(OK, "198.51.100.23", 443, "cdn.msft-telemetry.example")),
        (180_000, Run(CMD, r"cmd.exe /c del C:\ProgramData\Microsoft\Crypto\lsass.dmp C:\ProgramData\Microsoft\Crypto\lsass.zip", None)),
    ];
    lake.play(&svc, &acts);
}

/// Story 6: a remote-support tool installed as a service on the lobby kiosk, started by a
/// technician on Sunday 2026-11-08 and again at the Patch Tuesday reboot: two instances (two
/// process ids and creation times) of a service launched 4 times in all, so two detections.
/// The first instance writes no file (its `FilesModified` is `[""]`).
fn remote_support_two_instances(lake: &mut Lake, dev: &Device) {
    let path = r"C:\Program Files (x86)\HelpDeskRemote\HelpDeskRemote.exe";
    let line = format!(r#""{path}" --service"#);
    let backend = format!(r#""{path}" --backend"#);
    let (ip, url) = ("198.51.100.80", "relay.helpdeskremote.example");
    // First instance: started by hand; the technician opens a shell.
    let first = at("2026-11-08T09:02:15.5550123Z");
    let svc = lake.service(dev, path, &line, first, 3348);
    #[rustfmt::skip]
    let acts = [
        (40, Dll("winhttp.dll")), (55, Dll("dxgi.dll")), (2_000, Net(OK, ip, 443, url)),
        (3_000, Run(path, &backend, None)),
        (240_000, Run(CMD, r#""C:\Windows\system32\cmd.exe""#, None)),
    ];
    lake.play(&svc, &acts);
    // Second instance: started by services.exe at boot, used the next afternoon.
    let second = at("2026-11-11T03:15:41.2290087Z");
    let svc = lake.service(dev, path, &line, second, 2204);
    let ps = "powershell.exe -NoProfile -Command Get-Service | Where-Object Status -eq Stopped";
    let used = (36 * HOUR + 25 * MINUTE) / MS;
    #[rustfmt::skip]
    let acts = [
        (35, Dll("winhttp.dll")), (50, Dll("d3d11.dll")), (used, Net(OK, ip, 443, url)),
        (used + 1_000, Run(path, &backend, None)),
        (used + 120_000, Run(POWERSHELL, ps, None)),
        (used + 540_000, File("FileModified", r"C:\ProgramData\HelpDeskRemote\connection_trace.txt")),
    ];
    lake.play(&svc, &acts);
}

// ---------------------------------------------------------------------------------------------
// The background.

/// One day of the services of `dev` (of each boot running that day), by their habits.
fn services_day(lake: &mut Lake, dev: &Device, day: i64) {
    for (i, boot) in dev.boots.iter().enumerate() {
        let next_boot = dev.boots.get(i + 1).map_or(i64::MAX, |b| b.at);
        let (from, to) = (day.max(boot.at + MINUTE), (day + DAY).min(next_boot));
        for (service, habit) in boot.running.iter().filter(|_| from < to) {
            lake.act(service, habit, from, to);
        }
    }
}

/// One day of `user` on `dev`: a logon, then applications started from explorer.exe.
fn user_day(lake: &mut Lake, dev: &Device, user: Account, day: i64) {
    let logon = lake.tick(day + 7 * HOUR + 30 * MINUTE, day + 9 * HOUR + 30 * MINUTE);
    let (init, pid) = (sys32("userinit.exe"), lake.rng.range(250, 6000) * 4);
    let winlogon = &dev.boot(logon).winlogon;
    let userinit = lake.start(winlogon, process(winlogon, &init, &init, user, logon, pid));
    let (path, line) = (r"C:\Windows\explorer.exe", r"C:\Windows\Explorer.EXE");
    let explorer = lake.spawn(&userinit, path, line, logon + 2 * SECOND);
    let (apps, sessions): (&[usize], i64) = match dev.host.role {
        Role::Kiosk => (&[1], 2),
        Role::Developer => (&[0, 1, 2, 5, 7, 8, 8, 9, 9], 9),
        _ => (&[0, 0, 1, 2, 3, 4, 5, 6, 7], 8),
    };
    for _ in 0..lake.rng.range(sessions - 2, sessions + 3) {
        let (path, habit) = &APPS[*lake.rng.pick(apps)];
        let when = lake.tick(logon + 5 * MINUTE, day + 17 * HOUR + 30 * MINUTE);
        let app = lake.spawn(&explorer, path, &format!(r#""{path}""#), when);
        lake.act(&app, habit, when + SECOND, when + 2 * HOUR);
    }
}

// ---------------------------------------------------------------------------------------------
// Devices, accounts, processes.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Office,
    Developer,
    Kiosk,
    Server,
}

#[derive(Debug)]
struct Host {
    name: &'static str,
    ip: &'static str,
    role: Role,
    user: Option<Account>,
}

#[derive(Debug, Clone, Copy)]
struct Account {
    domain: &'static str,
    name: &'static str,
    /// The SID's last part.
    rid: u32,
}

const fn account(domain: &'static str, name: &'static str, rid: u32) -> Account {
    Account { domain, name, rid }
}
const fn user(name: &'static str, rid: u32) -> Option<Account> {
    Some(account("contoso", name, rid))
}
const SYSTEM: Account = account("nt authority", "system", 18);
const LOCAL_SERVICE: Account = account("nt authority", "local service", 19);
const NETWORK_SERVICE: Account = account("nt authority", "network service", 20);
const KIOSK_USER: Account = account("kiosk-lobby-01", "kioskuser0", 1001);

impl Account {
    fn is_user(&self) -> bool {
        self.domain != "nt authority"
    }
    fn sid(&self) -> String {
        match self.domain {
            "nt authority" => format!("S-1-5-{}", self.rid),
            "contoso" => format!("S-1-5-21-2044561178-3102618745-1350817742-{}", self.rid),
            _ => format!("S-1-5-21-3623811015-3361044348-30300820-{}", self.rid),
        }
    }
    /// `value` for a domain account, else "" (local accounts have no UPN or object id).
    fn in_domain(&self, value: String) -> String {
        if self.domain == "contoso" {
            value
        } else {
            String::new()
        }
    }
}

/// A device and its boots.
struct Device {
    host: &'static Host,
    boots: Vec<Boot>,
}

/// One boot of a device: its time and long-lived processes.
struct Boot {
    at: i64,
    winlogon: Proc,
    services: Proc,
    running: Vec<(Proc, &'static Habit)>,
}

impl Device {
    /// The boot running at `when`.
    fn boot(&self, when: i64) -> &Boot {
        self.boots
            .iter()
            .rev()
            .find(|b| b.at <= when)
            .unwrap_or(&self.boots[0])
    }
}

/// A device with its two boots, staggered by a few minutes per device. The processes a boot
/// starts have creation events only for the second boot, which is inside the data.
fn device(lake: &mut Lake, host: &'static Host) -> Device {
    let stagger = HOSTS.iter().position(|h| h.name == host.name).unwrap_or(0) as i64 * 3 * MINUTE;
    let mut boots = Vec::new();
    for (n, base) in BOOTS.iter().enumerate() {
        let at = at(base) + stagger;
        let smss = Proc {
            host,
            path: sys32("smss.exe"),
            line: r"\SystemRoot\System32\smss.exe".into(),
            pid: 372,
            created: at,
            acct: SYSTEM,
            parent: ("System".into(), 4, at),
        };
        let mut start = |parent: &Proc, path: &str, line: &str, acct: Account, secs: i64| {
            let when = at + secs * SECOND + lake.tick(0, SECOND);
            let child = process(parent, path, line, acct, when, lake.rng.range(100, 600) * 4);
            match n {
                0 => child,
                _ => lake.start(parent, child),
            }
        };
        let wininit = start(&smss, &sys32("wininit.exe"), "wininit.exe", SYSTEM, 2);
        let winlogon = start(&smss, &sys32("winlogon.exe"), "winlogon.exe", SYSTEM, 2);
        let line = r"C:\Windows\system32\services.exe";
        let services = start(&wininit, &sys32("services.exe"), line, SYSTEM, 3);
        let mut running = Vec::new();
        for (secs, &(path, line, acct, on_servers, habit)) in (4..).zip(SERVICES.iter()) {
            if on_servers || host.role != Role::Server {
                running.push((start(&services, path, line, acct, secs), habit));
            }
        }
        boots.push(Boot {
            at,
            winlogon,
            services,
            running,
        });
    }
    Device { host, boots }
}

/// A running process on a device.
#[derive(Debug, Clone)]
struct Proc {
    host: &'static Host,
    path: String,
    line: String,
    pid: i64,
    created: i64,
    acct: Account,
    /// The parent's file name, process id and creation time.
    parent: (String, i64, i64),
}

/// A process `parent` starts (the event is [`Lake::start`]'s).
fn process(parent: &Proc, path: &str, line: &str, acct: Account, when: i64, pid: i64) -> Proc {
    let host = parent.host;
    let (path, line, created) = (path.to_string(), line.to_string(), when);
    let parent = (
        file_name(&parent.path).to_string(),
        parent.pid,
        parent.created,
    );
    Proc {
        host,
        path,
        line,
        pid,
        created,
        acct,
        parent,
    }
}

fn sys32(name: &str) -> String {
    format!(r"{SYS32}\{name}")
}

fn file_name(path: &str) -> &str {
    path.rsplit('\\').next().unwrap_or(path)
}

/// A binary's version information: company, product, version ("" when it has none).
fn version_info(path: &str) -> (&'static str, &'static str, &'static str) {
    let name = file_name(path).to_ascii_lowercase();
    match VERSION_INFO.iter().find(|v| v.0 == name) {
        Some(&(_, company, product, version)) => (company, product, version),
        None if path.starts_with(r"C:\Windows") => WINDOWS_INFO,
        None => ("", "", ""),
    }
}

/// What names a binary's contents: its path and version.
fn contents(path: &str) -> String {
    format!("{}|{}", path.to_ascii_lowercase(), version_info(path).2)
}

/// The MD5, SHA1 and SHA256 of `contents`.
fn hashes(contents: &str) -> (String, String, String) {
    let md5 = hex(&format!("{contents}|md5"), 32);
    (
        md5,
        hex(contents, 40),
        hex(&format!("{contents}|sha256"), 64),
    )
}

/// The size in bytes of `contents`.
fn size(contents: &str) -> i64 {
    10_000 + i64::from_str_radix(&hex(contents, 5), 16).unwrap_or(0)
}

/// A process's columns, named as an event's initiating process or as the process it created.
#[rustfmt::skip]
fn process_columns(p: &Proc, created: bool) -> Row {
    let (a, user, name) = (p.acct, p.acct.is_user(), file_name(&p.path));
    let (company, product, version) = version_info(&p.path);
    let original = if company.is_empty() { "" } else { name };
    let ((md5, sha1, sha256), contents) = (hashes(&contents(&p.path)), contents(&p.path));
    let elevation = if user { "TokenElevationTypeLimited" } else { "TokenElevationTypeDefault" };
    let columns: [(&str, &str, Value); 25] = [
        ("InitiatingProcessAccountDomain", "AccountDomain", a.domain.into()),
        ("InitiatingProcessAccountName", "AccountName", a.name.into()),
        ("InitiatingProcessAccountObjectId", "AccountObjectId", a.in_domain(guid(&a.sid())).into()),
        ("InitiatingProcessAccountSid", "AccountSid", a.sid().into()),
        ("InitiatingProcessAccountUpn", "AccountUpn", a.in_domain(format!("{}@contoso.com", a.name)).into()),
        ("InitiatingProcessLogonId", "LogonId", (if user { 0x3_0000 + i64::from(a.rid) } else { 999 }).into()),
        ("InitiatingProcessCommandLine", "ProcessCommandLine", p.line.clone().into()),
        ("InitiatingProcessFileName", "FileName", name.into()),
        ("InitiatingProcessFolderPath", "FolderPath", p.path.clone().into()),
        ("InitiatingProcessFileSize", "FileSize", size(&contents).into()),
        ("InitiatingProcessId", "ProcessId", p.pid.into()),
        ("InitiatingProcessCreationTime", "ProcessCreationTime", p.created.into()),
        ("InitiatingProcessIntegrityLevel", "ProcessIntegrityLevel", (if user { "Medium" } else { "System" }).into()),
        ("InitiatingProcessTokenElevation", "ProcessTokenElevation", elevation.into()),
        ("InitiatingProcessSessionId", "CreatedProcessSessionId", i64::from(user).into()),
        ("IsInitiatingProcessRemoteSession", "IsProcessRemoteSession", false.into()),
        ("InitiatingProcessMD5", "MD5", md5.into()),
        ("InitiatingProcessSHA1", "SHA1", sha1.into()),
        ("InitiatingProcessSHA256", "SHA256", sha256.into()),
        ("InitiatingProcessVersionInfoCompanyName", "ProcessVersionInfoCompanyName", company.into()),
        ("InitiatingProcessVersionInfoProductName", "ProcessVersionInfoProductName", product.into()),
        ("InitiatingProcessVersionInfoProductVersion", "ProcessVersionInfoProductVersion", version.into()),
        ("InitiatingProcessVersionInfoInternalFileName", "ProcessVersionInfoInternalFileName", original.trim_end_matches(".exe").into()),
        ("InitiatingProcessVersionInfoOriginalFileName", "ProcessVersionInfoOriginalFileName", original.into()),
        ("InitiatingProcessVersionInfoFileDescription", "ProcessVersionInfoFileDescription", product.into()),
    ];
    columns.into_iter().map(|(initiating, child, v)| ((if created { child } else { initiating }).to_string(), v)).collect()
}

// ---------------------------------------------------------------------------------------------
// Events, rows and files.

/// A row: column name → JSON value (strings, integers, nanoseconds for datetimes, booleans;
/// null for "not set").
type Row = Map<String, Value>;

/// The fields of a `json!({...})` object.
fn fields(object: Value) -> Row {
    match object {
        Value::Object(fields) => fields,
        _ => Row::new(),
    }
}

struct Lake {
    rng: Rng,
    /// The last ReportId given.
    report: i64,
    start: i64,
    end: i64,
    /// Rows per (table, day of TimeGenerated).
    files: BTreeMap<(DefenderTable, String), Vec<Row>>,
}

impl Lake {
    /// A random instant in `[from, to)`, in whole ticks.
    fn tick(&mut self, from: i64, to: i64) -> i64 {
        let t = self.rng.range(from, to);
        t - t.rem_euclid(TICK)
    }

    /// `p` lives its habit between `from` and `to`.
    fn act(&mut self, p: &Proc, habit: &Habit, from: i64, to: i64) {
        let mut times = |n: i64| self.rng.range(n / 2, n + 1);
        let counts = [habit.runs.0, habit.nets.0, habit.files.0, habit.dlls.0].map(&mut times);
        for _ in 0..counts[0] {
            let (&(path, line), when) = (self.rng.pick(habit.runs.1), self.tick(from, to));
            self.spawn(p, path, line, when);
        }
        for _ in 0..counts[1] {
            let (&(ip, port, url), when) = (self.rng.pick(habit.nets.1), self.tick(from, to));
            let action = match self.rng.range(0, 25) {
                0 => "ConnectionFailed",
                1 => "ConnectionRequest",
                _ => OK,
            };
            self.connect(p, when, action, ip, port, url);
        }
        for _ in 0..counts[2] {
            let (&(action, path), when) = (self.rng.pick(habit.files.1), self.tick(from, to));
            self.file(p, when, action, &path.replace("{user}", p.acct.name));
        }
        for _ in 0..counts[3] {
            let (&dll, when) = (self.rng.pick(habit.dlls.1), self.tick(from, to));
            self.load(p, when, dll);
        }
    }

    /// `svc` plays a story: each act some milliseconds after it started.
    fn play(&mut self, svc: &Proc, acts: &[(i64, Act)]) {
        for (ms, act) in acts {
            let when = svc.created + ms * MS;
            match *act {
                Run(path, line, tool) => {
                    let child = self.spawn(svc, path, line, when);
                    if let Some((tool, line)) = tool {
                        self.spawn(&child, &sys32(tool), line, when + 35 * MS);
                    }
                }
                Net(action, ip, port, url) => self.connect(svc, when, action, ip, port, url),
                File(action, path) => self.file(svc, when, action, path),
                Dll(name) => self.load(svc, when, &sys32(name)),
            }
        }
    }

    /// services.exe, in the boot of `dev` running at `when`, starts a service as system.
    fn service(&mut self, dev: &Device, path: &str, line: &str, when: i64, pid: i64) -> Proc {
        let services = &dev.boot(when).services;
        self.start(services, process(services, path, line, SYSTEM, when, pid))
    }

    /// `parent` starts `path` at `when`, as the same account, with a random process id.
    fn spawn(&mut self, parent: &Proc, path: &str, line: &str, when: i64) -> Proc {
        let pid = self.rng.range(250, 6000) * 4;
        self.start(parent, process(parent, path, line, parent.acct, when, pid))
    }

    /// `parent` starts `child`: a DeviceProcessEvents row. Returns the child.
    fn start(&mut self, parent: &Proc, child: Proc) -> Proc {
        let extra = process_columns(&child, true);
        self.event(
            DeviceProcessEvents,
            child.created,
            "ProcessCreated",
            parent,
            extra,
        );
        child
    }

    fn connect(&mut self, p: &Proc, when: i64, action: &str, ip: &str, port: i64, url: &str) {
        let local_port = self.rng.range(49_152, 65_535);
        let extra = fields(json!({
            "LocalIP": p.host.ip, "LocalIPType": "Private", "LocalPort": local_port,
            "Protocol": if port == 53 { "Udp" } else { "Tcp" }, "RemoteIP": ip,
            "RemoteIPType": if ip.starts_with("10.") { "Private" } else { "Public" },
            "RemotePort": port, "RemoteUrl": url,
        }));
        self.event(DeviceNetworkEvents, when, action, p, extra);
    }

    /// A file event. Binaries have fixed contents; other files change once a day.
    fn file(&mut self, p: &Proc, when: i64, action: &str, path: &str) {
        let (name, lower) = (file_name(path), path.to_ascii_lowercase());
        let binary = lower.ends_with(".exe") || lower.ends_with(".dll");
        let contents = if binary {
            contents(path)
        } else {
            format!("{path}|{}", when / DAY)
        };
        let (md5, sha1, sha256) = hashes(&contents);
        let (renamed, download) = (action == "FileRenamed", path.contains(r"\Downloads\"));
        let temp = format!("~WRL{:04}.tmp", when / SECOND % 10_000);
        let folder = path.strip_suffix(name).unwrap_or(path);
        let origin = "https://contoso.sharepoint.com/sites/finance/Shared%20Documents";
        let extra = fields(json!({
            "FileName": name, "FolderPath": path, "FileSize": size(&contents) % 400_000,
            "MD5": md5, "SHA1": sha1, "SHA256": sha256, "IsAzureInfoProtectionApplied": false,
            "RequestAccountDomain": p.acct.domain, "RequestAccountName": p.acct.name,
            "RequestAccountSid": p.acct.sid(), "RequestProtocol": "Local",
            "AdditionalFields": binary.then_some(r#"{"FileType":"PortableExecutable"}"#),
            "PreviousFileName": renamed.then(|| temp.clone()),
            "PreviousFolderPath": renamed.then(|| format!("{folder}{temp}")),
            "FileOriginUrl": download.then(|| format!("{origin}/{name}")),
            "FileOriginIP": download.then_some("13.107.136.10"),
        }));
        self.event(DeviceFileEvents, when, action, p, extra);
    }

    fn load(&mut self, p: &Proc, when: i64, dll: &str) {
        let ((md5, sha1, sha256), contents) = (hashes(&contents(dll)), contents(dll));
        let extra = fields(json!({
            "FileName": file_name(dll), "FolderPath": dll, "FileSize": size(&contents),
            "MD5": md5, "SHA1": sha1, "SHA256": sha256,
        }));
        self.event(DeviceImageLoadEvents, when, "ImageLoaded", p, extra);
    }

    /// An event of `table` whose initiating process is `p`, with the table's own `extra`
    /// columns, filed under its table and day if it falls inside the data's time range.
    fn event(&mut self, table: DefenderTable, when: i64, action: &str, p: &Proc, extra: Row) {
        let ingested = when + self.tick(300 * MS, 2_500 * MS);
        self.report += 1;
        let group = match p.host.role {
            Role::Server => "Servers",
            Role::Kiosk => "Kiosks",
            _ => "Workstations",
        };
        let (signer, status) = match version_info(&p.path).0 {
            "" => ("Unknown", "Unsigned"),
            "Microsoft Corporation" => ("OsVendor", "Valid"),
            _ => ("ThirdParty", "Valid"),
        };
        let mut row = fields(json!({
            "TenantId": TENANT_ID, "Type": table.name(), "SourceSystem": "", "ActionType": action,
            "ReportId": self.report, "Timestamp": when, "TimeGenerated": ingested,
            "DeviceId": hex(p.host.name, 40), "DeviceName": p.host.name, "MachineGroup": group,
            "InitiatingProcessParentFileName": p.parent.0, "InitiatingProcessParentId": p.parent.1,
            "InitiatingProcessParentCreationTime": p.parent.2,
            "InitiatingProcessSignerType": signer, "InitiatingProcessSignatureStatus": status,
        }));
        row.extend(process_columns(p, false));
        row.extend(extra);
        row.retain(|_, value| !value.is_null());
        if when >= self.start && ingested < self.end {
            let day = DateTime::<Utc>::from_timestamp_nanos(ingested).format("%Y-%m-%d");
            self.files
                .entry((table, day.to_string()))
                .or_default()
                .push(row);
        }
    }
}

/// The rows as one batch with every column of the table, in Sentinel order and with its Kusto
/// type. A string the row does not set is "", except that one row in four leaves the columns
/// the rule does not read null (exports differ in how they write missing values);
/// AdditionalFields is JSON text or null. A column no table has is an error.
fn to_batch(table: DefenderTable, mut rows: Vec<Row>) -> RecordBatch {
    let columns = table.columns();
    let strings: Vec<_> = columns
        .iter()
        .filter(|c| c.kusto_type == KustoType::String)
        .collect();
    let elsewhere = |name: &str| DefenderTable::ALL.iter().any(|t| t.column(name).is_some());
    for row in &mut rows {
        // The process columns that only the other tables have.
        row.retain(|name, _| table.column(name).is_some() || !elsewhere(name));
        let sparse = row["ReportId"].as_i64().unwrap_or(0) % 4 == 0;
        for c in &strings {
            let null = sparse && !table.rule_columns().contains(&c.name.as_str());
            let missing = if null { Value::Null } else { "".into() };
            row.entry(c.name.clone()).or_insert(missing);
        }
    }
    let field = |c: &Column| Field::new(&c.name, c.kusto_type.stored_type(), true);
    let schema = Schema::new(columns.iter().map(field).collect::<Vec<_>>());
    let builder = ReaderBuilder::new(Arc::new(schema)).with_strict_mode(true);
    let mut decoder = builder.build_decoder().expect("a JSON decoder");
    let decoded = decoder.serialize(&rows).and_then(|()| decoder.flush());
    decoded
        .unwrap_or_else(|e| panic!("{table}: {e}"))
        .expect("rows")
}

/// Writes one zstd Parquet file. Like Spark's exports it embeds no Arrow schema: the Parquet
/// types alone read back as Utf8, Int64, Int32, Boolean and Timestamp(ns, "UTC"). Statistics
/// only for the time columns, what readers prune on; the files stay small.
fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<u64> {
    let fail = |e: &dyn std::fmt::Display| HuntError::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(19).expect("a valid level"),
        ))
        .set_statistics_enabled(EnabledStatistics::None)
        .set_offset_index_disabled(true)
        .set_column_statistics_enabled("TimeGenerated".into(), EnabledStatistics::Chunk)
        .set_column_statistics_enabled("Timestamp".into(), EnabledStatistics::Chunk)
        .build();
    let options = ArrowWriterOptions::new()
        .with_properties(props)
        .with_skip_arrow_metadata(true);
    let file = fs::File::create(path).map_err(|e| fail(&e))?;
    let mut writer =
        ArrowWriter::try_new_with_options(file, batch.schema(), options).map_err(|e| fail(&e))?;
    writer.write(batch).map_err(|e| fail(&e))?;
    writer.close().map_err(|e| fail(&e))?;
    Ok(fs::metadata(path).map_err(|e| fail(&e))?.len())
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
    let weekday = DateTime::<Utc>::from_timestamp_nanos(day).weekday();
    !matches!(weekday, Weekday::Sat | Weekday::Sun)
}

use super::rng::SplitMix64 as Rng;

/// `len` hex digits derived from `seed` (FNV-1a, then splitmix64): a stable fake hash or id.
fn hex(seed: &str, len: usize) -> String {
    Rng::from_text(seed, 0).hex(len)
}

fn guid(seed: &str) -> String {
    let h = hex(seed, 32);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
