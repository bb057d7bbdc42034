//! `huntlake generate`: large synthetic Defender lakes for benchmarks, with planted rare
//! services and a ground-truth manifest.
//!
//! Each device-day has a fixed cast of initiating processes: allowlisted services (svchost.exe,
//! MsMpEng.exe, MsSense.exe, SearchIndexer.exe), common agents the rule does not allowlist
//! (CcmExec.exe, a backup agent: they launch many children, so they are never rare), and user
//! processes (explorer.exe, browsers, Office). Events are drawn from that cast at the configured
//! rates. On some device-days a rare service is planted (PSEXESVC.exe, a one-off setup
//! service, a random name) with a few children but heavy-tailed file writes and DLL loads: the
//! case where the KQL's joins multiply rows.
//!
//! Everything derives from the seed and the (device, day) being written, so tables can be
//! written independently, in parallel, in bounded memory, and the same arguments give the same
//! data.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder, TimestampNanosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_writer::ArrowWriterOptions;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use serde::Serialize;

use crate::error::{HuntError, Result};
use crate::lake::{DefenderTable, KustoType, LAKE_INFO_FILE};
use crate::time::format_kusto_datetime;

const SECOND: i64 = 1_000_000_000;
const DAY: i64 = 86_400 * SECOND;

/// Events per device per day, by table.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub process: u32,
    pub network: u32,
    pub file: u32,
    pub image: u32,
}

impl Default for Rates {
    fn default() -> Self {
        Rates {
            process: 1_200,
            network: 2_500,
            file: 4_000,
            image: 6_000,
        }
    }
}

impl Rates {
    fn of(&self, table: DefenderTable) -> u32 {
        match table {
            DefenderTable::DeviceProcessEvents => self.process,
            DefenderTable::DeviceNetworkEvents => self.network,
            DefenderTable::DeviceFileEvents => self.file,
            DefenderTable::DeviceImageLoadEvents => self.image,
        }
    }
}

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub out: PathBuf,
    pub devices: u32,
    pub days: u32,
    pub seed: u64,
    /// The end of the data (exclusive), nanoseconds; written as the lake's reference time.
    pub end: i64,
    pub rates: Rates,
    /// Chance that a device-day gets a planted rare service.
    pub rare_per_device_day: f64,
    /// Write times as whole microseconds (DuckDB's resolution), not 100-ns ticks.
    pub microsecond_times: bool,
    pub row_group_rows: usize,
    pub threads: usize,
}

impl GenerateOptions {
    pub fn new(out: impl Into<PathBuf>, devices: u32, days: u32, end: i64) -> Self {
        GenerateOptions {
            out: out.into(),
            devices,
            days,
            seed: 1,
            end,
            rates: Rates::default(),
            rare_per_device_day: 0.05,
            microsecond_times: false,
            row_group_rows: 1 << 20,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }

    fn start(&self) -> i64 {
        self.end - self.days as i64 * DAY
    }

    /// Rows the background rates give (planted activity comes on top).
    pub fn expected_rows(&self) -> u64 {
        let per_day: u64 = DefenderTable::ALL
            .iter()
            .map(|t| self.rates.of(*t) as u64)
            .sum();
        per_day * self.devices as u64 * self.days as u64
    }
}

/// One planted rare service instance: the rule's 7 keys and what it did.
#[derive(Debug, Clone, Serialize)]
pub struct PlantedInstance {
    pub device_name: String,
    pub service_process: String,
    pub service_process_cmdline: String,
    pub service_process_creation_time: String,
    pub service_process_id: i64,
    pub service_process_user: String,
    pub service_process_sha1: String,
    pub children: u32,
    pub network_events: u32,
    pub file_events: u32,
    pub image_load_events: u32,
}

#[derive(Debug, Clone, Default)]
pub struct GenerateSummary {
    pub rows: [u64; 4],
    pub files: usize,
    pub bytes: u64,
    pub planted: Vec<PlantedInstance>,
}

/// The manifest written beside the tables.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Writes the lake. `progress` is called with rows written so far (from several threads).
pub fn generate(
    options: &GenerateOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<GenerateSummary> {
    if options.devices == 0 || options.days == 0 {
        return Err(HuntError::usage("--devices and --days must be at least 1"));
    }
    let world = World::new(options);
    let tasks: Vec<(DefenderTable, u32)> = DefenderTable::ALL
        .iter()
        .flat_map(|t| (0..options.days).map(move |d| (*t, d)))
        .collect();
    let next = AtomicUsize::new(0);
    let written = AtomicU64::new(0);
    let results: Mutex<Vec<Result<(DefenderTable, u64, u64)>>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..options.threads.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(table, day)) = tasks.get(i) else {
                        break;
                    };
                    let result = write_table_day(&world, table, day, &|rows| {
                        progress(written.fetch_add(rows, Ordering::Relaxed) + rows)
                    });
                    let failed = result.is_err();
                    results.lock().expect("no poisoned lock").push(result);
                    if failed {
                        next.store(tasks.len(), Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let mut summary = GenerateSummary::default();
    for result in results.into_inner().expect("no poisoned lock") {
        let (table, rows, bytes) = result?;
        summary.rows[table as usize] += rows;
        summary.files += 1;
        summary.bytes += bytes;
    }
    summary.planted = world.planted_instances();
    write_json(
        &options.out.join(MANIFEST_FILE),
        &serde_json::json!({
            "seed": options.seed,
            "devices": options.devices,
            "days": options.days,
            "start": format_kusto_datetime(options.start()),
            "end": format_kusto_datetime(options.end),
            "rows": DefenderTable::ALL.iter().map(|t| (t.name(), summary.rows[*t as usize])).collect::<std::collections::BTreeMap<_, _>>(),
            "planted": summary.planted,
        }),
    )?;
    write_json(
        &options.out.join(LAKE_INFO_FILE),
        &serde_json::json!({
            "reference_time": format_kusto_datetime(options.end),
            "description": "written by huntlake generate; the data ends here",
        }),
    )?;
    Ok(summary)
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    std::fs::write(path, text + "\n").map_err(|source| HuntError::Io {
        context: format!("writing {}", path.display()),
        source,
    })
}

// ---------------------------------------------------------------------------------------------
// The world: devices, the cast of processes, and what they touch.

/// A deterministic 64-bit generator (splitmix64): fast, and the same everywhere.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(parts: &[u64]) -> Rng {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for p in parts {
            state = Rng(state ^ p.wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64();
        }
        Rng(state)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn hex(&mut self, digits: usize) -> String {
        let mut s = String::with_capacity(digits);
        while s.len() < digits {
            s.push_str(&format!("{:016x}", self.next_u64()));
        }
        s.truncate(digits);
        s
    }
}

fn stable_hex(text: &str, salt: u64, digits: usize) -> String {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ salt;
    for b in text.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    Rng(h).hex(digits)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Allowlisted,
    Agent,
    User,
    Rare,
}

/// A program the cast is made of.
struct Program {
    folder: &'static str,
    name: &'static str,
    cmdline: &'static str,
    account: &'static str,
    parent: &'static str,
    kind: Kind,
    /// Relative weight among initiating processes of its kind.
    weight: u32,
}

#[rustfmt::skip]
const PROGRAMS: &[Program] = &[
    Program { folder: r"c:\windows\system32", name: "svchost.exe", cmdline: r"C:\Windows\system32\svchost.exe -k netsvcs -p", account: "system", parent: "services.exe", kind: Kind::Allowlisted, weight: 6 },
    Program { folder: r"c:\windows\system32", name: "svchost.exe", cmdline: r"C:\Windows\System32\svchost.exe -k NetworkService -p", account: "network service", parent: "services.exe", kind: Kind::Allowlisted, weight: 4 },
    Program { folder: r"c:\windows\system32", name: "svchost.exe", cmdline: r"C:\Windows\system32\svchost.exe -k LocalServiceNetworkRestricted -p", account: "local service", parent: "services.exe", kind: Kind::Allowlisted, weight: 3 },
    Program { folder: r"c:\programdata\microsoft\windows defender\platform\4.18.25090.3009-0", name: "MsMpEng.exe", cmdline: r#""C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.25090.3009-0\MsMpEng.exe""#, account: "system", parent: "services.exe", kind: Kind::Allowlisted, weight: 3 },
    Program { folder: r"c:\program files\windows defender advanced threat protection", name: "MsSense.exe", cmdline: r#""MsSense.exe""#, account: "system", parent: "services.exe", kind: Kind::Allowlisted, weight: 2 },
    Program { folder: r"c:\windows\system32", name: "SearchIndexer.exe", cmdline: r"C:\Windows\system32\SearchIndexer.exe /Embedding", account: "system", parent: "services.exe", kind: Kind::Allowlisted, weight: 2 },
    Program { folder: r"c:\windows\ccm", name: "CcmExec.exe", cmdline: r#""C:\Windows\CCM\CcmExec.exe""#, account: "system", parent: "services.exe", kind: Kind::Agent, weight: 3 },
    Program { folder: r"c:\program files\acme\backup agent", name: "AcmeBackupAgent.exe", cmdline: r#""C:\Program Files\Acme\Backup Agent\AcmeBackupAgent.exe" -service"#, account: "system", parent: "services.exe", kind: Kind::Agent, weight: 2 },
    Program { folder: r"c:\windows", name: "explorer.exe", cmdline: r"C:\Windows\Explorer.EXE", account: "{user}", parent: "userinit.exe", kind: Kind::User, weight: 3 },
    Program { folder: r"c:\program files\google\chrome\application", name: "chrome.exe", cmdline: r#""C:\Program Files\Google\Chrome\Application\chrome.exe""#, account: "{user}", parent: "explorer.exe", kind: Kind::User, weight: 5 },
    Program { folder: r"c:\program files (x86)\microsoft\edge\application", name: "msedge.exe", cmdline: r#""C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe" --single-argument"#, account: "{user}", parent: "explorer.exe", kind: Kind::User, weight: 3 },
    Program { folder: r"c:\program files\microsoft office\root\office16", name: "OUTLOOK.EXE", cmdline: r#""C:\Program Files\Microsoft Office\Root\Office16\OUTLOOK.EXE""#, account: "{user}", parent: "explorer.exe", kind: Kind::User, weight: 3 },
    Program { folder: r"c:\program files\microsoft office\root\office16", name: "WINWORD.EXE", cmdline: r#""C:\Program Files\Microsoft Office\Root\Office16\WINWORD.EXE" /n"#, account: "{user}", parent: "explorer.exe", kind: Kind::User, weight: 2 },
    Program { folder: r"c:\windows\system32", name: "cmd.exe", cmdline: r#""C:\Windows\system32\cmd.exe""#, account: "{user}", parent: "explorer.exe", kind: Kind::User, weight: 1 },
    Program { folder: r"c:\windows\system32\windowspowershell\v1.0", name: "powershell.exe", cmdline: r#""C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" -NoLogo"#, account: "{user}", parent: "explorer.exe", kind: Kind::User, weight: 1 },
];

/// Share of events whose initiating process is a service (parent services.exe).
const SERVICE_SHARE: f64 = 0.35;
/// Share of service events from common agents rather than allowlisted services.
const AGENT_SHARE: f64 = 0.2;

#[rustfmt::skip]
const CHILDREN: &[(&str, &str, &str)] = &[
    (r"c:\windows\system32", "conhost.exe", r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1"),
    (r"c:\windows\system32", "cmd.exe", r#"cmd.exe /c "echo %date%""#),
    (r"c:\windows\system32\windowspowershell\v1.0", "powershell.exe", "powershell.exe -NoProfile -ExecutionPolicy Bypass -Command Get-Service"),
    (r"c:\windows\system32\wbem", "WmiPrvSE.exe", r"C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding"),
    (r"c:\windows\system32", "taskhostw.exe", "taskhostw.exe"),
    (r"c:\windows\system32", "sihclient.exe", "sihclient.exe /cv 2Xk4Vm0qP0u5mB7n.0"),
    (r"c:\programdata\microsoft\windows defender\platform\4.18.25090.3009-0", "MpCmdRun.exe", r#""MpCmdRun.exe" SignatureUpdate -ScheduleJob -RestrictPrivileges"#),
    (r"c:\windows\system32", "SearchProtocolHost.exe", r#""C:\Windows\system32\SearchProtocolHost.exe" Global\UsGthrFltPipeMssGthrPipe4_"#),
    (r"c:\program files\google\chrome\application", "chrome.exe", r#""chrome.exe" --type=renderer --lang=en-US"#),
    (r"c:\program files (x86)\microsoft\edge\application", "msedge.exe", r#""msedge.exe" --type=utility --utility-sub-type=network.mojom.NetworkService"#),
    (r"c:\windows\system32", "rundll32.exe", r"rundll32.exe C:\Windows\system32\shell32.dll,SHCreateLocalServerRunDll"),
    (r"c:\windows\system32", "backgroundTaskHost.exe", r#""backgroundTaskHost.exe" -ServerName:App.AppXmtcan0h2tfbfy7k9kn8hbxb6dmzz1zh0.mca"#),
];

#[rustfmt::skip]
const RARE_CHILDREN: &[(&str, &str, &str)] = &[
    (r"c:\windows\system32", "cmd.exe", "cmd.exe /c whoami /all"),
    (r"c:\windows\system32", "cmd.exe", r#"cmd.exe /c net group "domain admins" /domain"#),
    (r"c:\windows\system32", "net.exe", "net user backup_svc P@ssw0rd! /add"),
    (r"c:\windows\system32", "reg.exe", r"reg.exe save HKLM\SAM C:\Windows\Temp\sam.save"),
    (r"c:\windows\system32\windowspowershell\v1.0", "powershell.exe", "powershell.exe -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA="),
];

#[rustfmt::skip]
const DLLS: &[&str] = &[
    "ntdll.dll", "kernel32.dll", "kernelbase.dll", "advapi32.dll", "combase.dll", "rpcrt4.dll",
    "crypt32.dll", "wintrust.dll", "winhttp.dll", "schannel.dll", "dnsapi.dll", "bcrypt.dll",
    "msvcp_win.dll", "ucrtbase.dll", "user32.dll", "gdi32.dll", "ole32.dll", "oleaut32.dll",
    "shell32.dll", "ws2_32.dll", "iphlpapi.dll", "sspicli.dll", "wldp.dll", "amsi.dll",
];

#[rustfmt::skip]
const URLS: &[&str] = &[
    "www.bing.com", "login.microsoftonline.com", "outlook.office365.com", "contoso.sharepoint.com",
    "settings-win.data.microsoft.com", "ctldl.windowsupdate.com", "www.google.com", "github.com",
];

/// A process instance on a device-day.
struct Actor {
    folder: String,
    name: String,
    cmdline: String,
    account: String,
    parent: &'static str,
    pid: i64,
    creation: i64,
    parent_pid: i64,
    parent_creation: i64,
    sha1: String,
    sha256: String,
    md5: String,
    kind: Kind,
}

struct Device {
    name: String,
    id: String,
    ip: String,
    user: String,
}

/// A rare service planted on a device-day, and how much it does.
struct Planting {
    day: u32,
    actor: Actor,
    children: u32,
    network: u32,
    files: u32,
    images: u32,
}

struct World {
    options: GenerateOptions,
    devices: Vec<Device>,
    tenant: String,
    /// Per device: its plantings, in day order.
    plantings: Vec<Vec<Planting>>,
    /// Cumulative weights for picking a background actor by kind.
    service_weights: Vec<(usize, u32)>,
    agent_weights: Vec<(usize, u32)>,
    user_weights: Vec<(usize, u32)>,
    private_ips: Vec<String>,
    public_ips: Vec<String>,
}

const DEPARTMENTS: &[&str] = &["fin", "hr", "eng", "ops", "sales", "it", "legal", "mkt"];
const USERS: &[&str] = &[
    "jdoe", "asmith", "bkumar", "mgarcia", "lchen", "okafor", "pnovak", "rsato",
];

impl World {
    fn new(options: &GenerateOptions) -> World {
        let seed = options.seed;
        let devices = (0..options.devices)
            .map(|d| {
                let mut rng = Rng::new(&[seed, 1, d as u64]);
                let dept = DEPARTMENTS[rng.below(DEPARTMENTS.len() as u64) as usize];
                let short = if d % 10 == 9 {
                    format!("srv-{dept}-{d:05}")
                } else {
                    format!("ws-{dept}-{d:05}")
                };
                // One device in twenty has a short name without a domain.
                let name = if d % 20 == 7 {
                    short
                } else {
                    format!("{short}.contoso.local")
                };
                Device {
                    name,
                    id: rng.hex(40),
                    ip: format!("10.{}.{}.{}", 20 + d / 65_025, (d / 255) % 255, d % 255 + 1),
                    user: USERS[rng.below(USERS.len() as u64) as usize].to_string(),
                }
            })
            .collect::<Vec<_>>();
        let weights = |kind: Kind| {
            let mut total = 0;
            PROGRAMS
                .iter()
                .enumerate()
                .filter(|(_, p)| p.kind == kind)
                .map(|(i, p)| {
                    total += p.weight;
                    (i, total)
                })
                .collect::<Vec<_>>()
        };
        let mut world = World {
            options: options.clone(),
            tenant: Rng::new(&[seed, 2]).hex(32),
            plantings: Vec::new(),
            service_weights: weights(Kind::Allowlisted),
            agent_weights: weights(Kind::Agent),
            user_weights: weights(Kind::User),
            private_ips: (0..1_750)
                .map(|i| format!("10.20.{}.{}", i / 250, i % 250 + 1))
                .collect(),
            public_ips: {
                let mut rng = Rng::new(&[seed, 6]);
                (0..4_096)
                    .map(|_| {
                        let p = rng.next_u64();
                        format!(
                            "{}.{}.{}.{}",
                            13 + p % 180,
                            (p >> 8) % 256,
                            (p >> 16) % 256,
                            (p >> 24) % 254 + 1
                        )
                    })
                    .collect()
            },
            devices,
        };
        world.plantings = (0..options.devices).map(|d| world.plant(d)).collect();
        world
    }

    fn day_start(&self, day: u32) -> i64 {
        self.options.start() + day as i64 * DAY
    }

    fn align(&self, t: i64) -> i64 {
        if self.options.microsecond_times {
            t - t.rem_euclid(1_000)
        } else {
            t - t.rem_euclid(100)
        }
    }

    /// The background cast of a device-day: one instance of every program.
    fn cast(&self, device: u32, day: u32) -> Vec<Actor> {
        let mut rng = Rng::new(&[self.options.seed, 3, device as u64, day as u64]);
        let boot = self.day_start(day) - (1 + rng.below(6 * 3_600)) as i64 * SECOND;
        let user = &self.devices[device as usize].user;
        PROGRAMS
            .iter()
            .map(|p| {
                let start = if p.kind == Kind::User {
                    boot + (3_600 + rng.below(4 * 3_600)) as i64 * SECOND
                } else {
                    boot + rng.below(120 * SECOND as u64) as i64
                };
                Actor {
                    folder: p.folder.to_string(),
                    name: p.name.to_string(),
                    cmdline: p.cmdline.to_string(),
                    account: p.account.replace("{user}", user),
                    parent: p.parent,
                    pid: 400 + rng.below(30_000) as i64 * 4,
                    creation: self.align(start + rng.below(SECOND as u64) as i64),
                    parent_pid: 600 + rng.below(2_000) as i64 * 4,
                    parent_creation: self.align(boot),
                    sha1: stable_hex(p.cmdline, 1, 40),
                    sha256: stable_hex(p.cmdline, 2, 64),
                    md5: stable_hex(p.cmdline, 3, 32),
                    kind: p.kind,
                }
            })
            .collect()
    }

    /// The rare services planted on a device, over all days.
    fn plant(&self, device: u32) -> Vec<Planting> {
        let mut rng = Rng::new(&[self.options.seed, 4, device as u64]);
        let mut plantings = Vec::new();
        for day in 0..self.options.days {
            if rng.unit() >= self.options.rare_per_device_day {
                continue;
            }
            let (folder, name, cmdline) = match (plantings.len(), rng.below(3)) {
                (0, 0) => (
                    r"c:\windows".to_string(),
                    "PSEXESVC.exe".to_string(),
                    r"C:\Windows\PSEXESVC.exe".to_string(),
                ),
                (_, 1) => {
                    let tag = rng.hex(4);
                    (
                        r"c:\windows\temp".to_string(),
                        format!("Setup_{tag}.exe"),
                        format!(r#""C:\Windows\Temp\Setup_{tag}.exe" /service /quiet"#),
                    )
                }
                _ => {
                    let name: String = (0..8)
                        .map(|_| (b'a' + rng.below(26) as u8) as char)
                        .collect();
                    (
                        r"c:\windows\system32".to_string(),
                        format!("{name}.exe"),
                        format!(r"C:\Windows\system32\{name}.exe"),
                    )
                }
            };
            let start = self.day_start(day) + rng.below(DAY as u64 - 3_600 * SECOND as u64) as i64;
            let heavy = |rng: &mut Rng, scale: f64, alpha: f64, cap: u32| {
                ((scale * rng.unit().max(1e-9).powf(-1.0 / alpha)) as u32).min(cap)
            };
            let actor = Actor {
                sha1: stable_hex(&cmdline, 1, 40),
                sha256: stable_hex(&cmdline, 2, 64),
                md5: stable_hex(&cmdline, 3, 32),
                folder,
                name,
                cmdline,
                account: "system".to_string(),
                parent: "services.exe",
                pid: 400 + rng.below(30_000) as i64 * 4,
                creation: self.align(start),
                parent_pid: 700,
                parent_creation: self.align(self.day_start(day) - 3_600 * SECOND),
                kind: Kind::Rare,
            };
            plantings.push(Planting {
                day,
                children: 1 + rng.below(5) as u32,
                network: rng.below(30) as u32,
                files: heavy(&mut rng, 5.0, 0.8, 5_000),
                images: heavy(&mut rng, 8.0, 1.2, 500),
                actor,
            });
        }
        plantings
    }

    fn planted_instances(&self) -> Vec<PlantedInstance> {
        self.plantings
            .iter()
            .zip(&self.devices)
            .flat_map(|(plantings, device)| {
                plantings.iter().map(|p| PlantedInstance {
                    device_name: device.name.clone(),
                    service_process: p.actor.name.clone(),
                    service_process_cmdline: p.actor.cmdline.clone(),
                    service_process_creation_time: format_kusto_datetime(p.actor.creation),
                    service_process_id: p.actor.pid,
                    service_process_user: p.actor.account.clone(),
                    service_process_sha1: p.actor.sha1.clone(),
                    children: p.children,
                    network_events: p.network,
                    file_events: p.files,
                    image_load_events: p.images,
                })
            })
            .collect()
    }

    /// The remote address for a pick: private (10.20/16) for a third of picks, else public.
    fn remote_ip(&self, p: u64) -> &str {
        if p.is_multiple_of(3) {
            &self.private_ips[((p >> 2) % self.private_ips.len() as u64) as usize]
        } else {
            &self.public_ips[((p >> 2) % self.public_ips.len() as u64) as usize]
        }
    }

    /// Picks a background actor index for one event.
    fn pick(&self, rng: &mut Rng) -> usize {
        let weights = if rng.unit() < SERVICE_SHARE {
            if rng.unit() < AGENT_SHARE {
                &self.agent_weights
            } else {
                &self.service_weights
            }
        } else {
            &self.user_weights
        };
        let total = weights.last().map_or(1, |w| w.1);
        let r = rng.below(total as u64) as u32;
        weights.iter().find(|w| r < w.1).map_or(0, |w| w.0)
    }
}

// ---------------------------------------------------------------------------------------------
// Writing one table-day.

/// One event: who did it, when, and a random word that picks what it touched.
#[derive(Clone, Copy)]
struct Event {
    device: u32,
    actor: u32,
    time: i64,
    pick: u64,
    /// Set for a planted rare service's events: which rare child/file/dll it is.
    rare: bool,
}

fn write_table_day(
    world: &World,
    table: DefenderTable,
    day: u32,
    progress: &dyn Fn(u64),
) -> Result<(DefenderTable, u64, u64)> {
    let date = chrono::DateTime::from_timestamp_nanos(world.day_start(day)).format("%Y-%m-%d");
    let dir = world
        .options
        .out
        .join(table.name())
        .join(format!("date={date}"));
    let io = |source| HuntError::Io {
        context: format!("writing {}", dir.display()),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let path = dir.join("part-00000.parquet");
    let schema = file_schema(table, world.options.microsecond_times);
    let file = std::fs::File::create(&path).map_err(io)?;
    let columns = plan_columns(table, &schema);
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("valid level"),
        ))
        .set_max_row_group_row_count(Some(world.options.row_group_rows))
        // Column-chunk statistics, as most exporters write; page statistics cost a string
        // comparison per value.
        .set_statistics_enabled(EnabledStatistics::Chunk);
    for (col, field) in columns.iter().zip(schema.fields()) {
        let path = ColumnPath::from(field.name().as_str());
        // Values unique to (nearly) every row: a dictionary would only fill up and fall back
        // to plain after hashing every value, as writers that sample cardinality avoid.
        if col.is_high_cardinality() {
            props = props.set_column_dictionary_enabled(path.clone(), false);
        }
        // Min/max on strings costs a comparison per value; readers prune on times and ids.
        if field.data_type() == &DataType::Utf8 {
            props = props.set_column_statistics_enabled(path, EnabledStatistics::None);
        }
    }
    let props = props.build();
    // Plain Parquet types only: readers need no embedded Arrow schema.
    let writer_options = ArrowWriterOptions::new()
        .with_properties(props)
        .with_skip_arrow_metadata(true);
    let parquet_err = |e: datafusion::parquet::errors::ParquetError| HuntError::Output {
        path: path.clone(),
        message: e.to_string(),
    };
    let mut writer = ArrowWriter::try_new_with_options(file, Arc::clone(&schema), writer_options)
        .map_err(parquet_err)?;
    let mut rows = 0u64;
    let batch_rows = 65_536;
    let mut events: Vec<Event> = Vec::new();
    let mut casts: Vec<(u32, Vec<Actor>)> = Vec::new();
    for device in 0..world.options.devices {
        let mut cast = world.cast(device, day);
        let base = cast.len();
        let mut rng = Rng::new(&[
            world.options.seed,
            5,
            table as u64,
            device as u64,
            day as u64,
        ]);
        let start = world.day_start(day);
        let slot = casts.len() as u32;
        for _ in 0..world.options.rates.of(table) {
            events.push(Event {
                device: slot,
                actor: world.pick(&mut rng) as u32,
                time: world.align(start + rng.below(DAY as u64) as i64),
                pick: rng.next_u64(),
                rare: false,
            });
        }
        for planting in world.plantings[device as usize]
            .iter()
            .filter(|p| p.day == day)
        {
            let count = match table {
                DefenderTable::DeviceProcessEvents => planting.children,
                DefenderTable::DeviceNetworkEvents => planting.network,
                DefenderTable::DeviceFileEvents => planting.files,
                DefenderTable::DeviceImageLoadEvents => planting.images,
            };
            let actor = cast.len() as u32;
            cast.push(Actor {
                folder: planting.actor.folder.clone(),
                name: planting.actor.name.clone(),
                cmdline: planting.actor.cmdline.clone(),
                account: planting.actor.account.clone(),
                parent: planting.actor.parent,
                pid: planting.actor.pid,
                creation: planting.actor.creation,
                parent_pid: planting.actor.parent_pid,
                parent_creation: planting.actor.parent_creation,
                sha1: planting.actor.sha1.clone(),
                sha256: planting.actor.sha256.clone(),
                md5: planting.actor.md5.clone(),
                kind: Kind::Rare,
            });
            for _ in 0..count {
                let offset = rng.below(3_600 * SECOND as u64) as i64;
                events.push(Event {
                    device: slot,
                    actor,
                    time: world.align(planting.actor.creation + SECOND + offset),
                    pick: rng.next_u64(),
                    rare: true,
                });
            }
        }
        debug_assert!(cast.len() >= base);
        casts.push((device, cast));
        if events.len() >= batch_rows || device + 1 == world.options.devices {
            events.sort_by_key(|e| (e.time, e.device, e.actor));
            for chunk in events.chunks(batch_rows) {
                let batch = build_batch(world, table, &schema, &columns, chunk, &casts)?;
                writer.write(&batch).map_err(parquet_err)?;
                rows += chunk.len() as u64;
                progress(chunk.len() as u64);
            }
            events.clear();
            casts.clear();
        }
    }
    writer.close().map_err(parquet_err)?;
    let bytes = std::fs::metadata(&path).map_err(io)?.len();
    Ok((table, rows, bytes))
}

/// The file schema: every Sentinel column; strings as plain Utf8.
fn file_schema(table: DefenderTable, microsecond_times: bool) -> SchemaRef {
    let unit = if microsecond_times {
        TimeUnit::Microsecond
    } else {
        TimeUnit::Nanosecond
    };
    Arc::new(Schema::new(
        table
            .columns()
            .iter()
            .map(|c| {
                let data_type = match c.kusto_type {
                    KustoType::Datetime => DataType::Timestamp(unit, Some("UTC".into())),
                    KustoType::String | KustoType::Dynamic | KustoType::Guid => DataType::Utf8,
                    other => other.arrow_type(),
                };
                Field::new(&c.name, data_type, true)
            })
            .collect::<Vec<_>>(),
    ))
}

/// What each column holds.
#[derive(Clone, Copy)]
enum Col {
    Null,
    Tenant,
    DeviceId,
    DeviceName,
    EventTime,
    ActionType,
    TargetName,
    TargetFolder,
    TargetSha1,
    TargetSha256,
    TargetMd5,
    TargetSize,
    ChildCmdline,
    ChildPid,
    ChildAccount,
    Init(ActorField),
    InitPid,
    InitCreation,
    InitParentPid,
    InitParentCreation,
    InitIntegrity,
    InitElevation,
    RemoteIp,
    RemoteIpType,
    RemotePort,
    RemoteUrl,
    LocalIp,
    LocalPort,
    Protocol,
    ReportId,
    Constant(&'static str),
    False,
}

impl Col {
    /// Columns whose values are (nearly) unique per row. (Targets repeat: a file is written
    /// and a DLL loaded many times, so their names and hashes keep a dictionary.)
    fn is_high_cardinality(self) -> bool {
        matches!(
            self,
            Col::EventTime | Col::TargetSize | Col::ChildPid | Col::LocalPort | Col::ReportId
        )
    }
}

#[derive(Clone, Copy)]
enum ActorField {
    Folder,
    Name,
    Cmdline,
    Account,
    Parent,
    Sha1,
    Sha256,
    Md5,
    Domain,
}

fn plan_columns(table: DefenderTable, schema: &SchemaRef) -> Vec<Col> {
    schema
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            "TenantId" => Col::Tenant,
            "DeviceId" => Col::DeviceId,
            "DeviceName" => Col::DeviceName,
            "Timestamp" | "TimeGenerated" => Col::EventTime,
            "ActionType" => Col::ActionType,
            "FileName" => Col::TargetName,
            "FolderPath" => Col::TargetFolder,
            "SHA1" => Col::TargetSha1,
            "SHA256" => Col::TargetSha256,
            "MD5" => Col::TargetMd5,
            "FileSize" => Col::TargetSize,
            "ProcessCommandLine" => Col::ChildCmdline,
            "ProcessId" => Col::ChildPid,
            "ProcessCreationTime" => Col::EventTime,
            "AccountName" => Col::ChildAccount,
            "AccountDomain" => Col::Init(ActorField::Domain),
            "InitiatingProcessFolderPath" => Col::Init(ActorField::Folder),
            "InitiatingProcessFileName" => Col::Init(ActorField::Name),
            "InitiatingProcessCommandLine" => Col::Init(ActorField::Cmdline),
            "InitiatingProcessAccountName" => Col::Init(ActorField::Account),
            "InitiatingProcessAccountDomain" => Col::Init(ActorField::Domain),
            "InitiatingProcessParentFileName" => Col::Init(ActorField::Parent),
            "InitiatingProcessSHA1" => Col::Init(ActorField::Sha1),
            "InitiatingProcessSHA256" => Col::Init(ActorField::Sha256),
            "InitiatingProcessMD5" => Col::Init(ActorField::Md5),
            "InitiatingProcessId" => Col::InitPid,
            "InitiatingProcessCreationTime" => Col::InitCreation,
            "InitiatingProcessParentId" => Col::InitParentPid,
            "InitiatingProcessParentCreationTime" => Col::InitParentCreation,
            "InitiatingProcessIntegrityLevel" | "ProcessIntegrityLevel" => Col::InitIntegrity,
            "InitiatingProcessTokenElevation" | "ProcessTokenElevation" => Col::InitElevation,
            "RemoteIP" => Col::RemoteIp,
            "RemoteIPType" => Col::RemoteIpType,
            "RemotePort" => Col::RemotePort,
            "RemoteUrl" => Col::RemoteUrl,
            "LocalIP" => Col::LocalIp,
            "LocalIPType" => Col::Constant("Private"),
            "LocalPort" => Col::LocalPort,
            "Protocol" => Col::Protocol,
            "ReportId" => Col::ReportId,
            "Type" => Col::Constant(table.name()),
            "SourceSystem" | "MachineGroup" => Col::Constant(""),
            "IsInitiatingProcessRemoteSession" | "IsProcessRemoteSession" => Col::False,
            _ => Col::Null,
        })
        .collect()
}

fn action_type(table: DefenderTable, pick: u64) -> &'static str {
    let r = pick % 100;
    match table {
        DefenderTable::DeviceProcessEvents => "ProcessCreated",
        DefenderTable::DeviceNetworkEvents => match r {
            0..70 => "ConnectionSuccess",
            70..85 => "ConnectionFailed",
            85..95 => "ConnectionRequest",
            _ => "InboundConnectionAccepted",
        },
        DefenderTable::DeviceFileEvents => match r {
            0..55 => "FileCreated",
            55..85 => "FileModified",
            85..95 => "FileDeleted",
            _ => "FileRenamed",
        },
        DefenderTable::DeviceImageLoadEvents => "ImageLoaded",
    }
}

/// The (folder, name) an event touched: a child process, a file or a DLL.
fn target(table: DefenderTable, e: &Event, actor: &Actor, user: &str) -> (String, String) {
    let p = e.pick >> 8;
    match table {
        DefenderTable::DeviceProcessEvents => {
            let (folder, name, _) = child(e);
            (folder.to_string(), name.to_string())
        }
        DefenderTable::DeviceImageLoadEvents => {
            let name = DLLS[(p % DLLS.len() as u64) as usize];
            let folder = if e.rare && p.is_multiple_of(7) {
                actor.folder.as_str()
            } else {
                r"c:\windows\system32"
            };
            (folder.to_string(), name.to_string())
        }
        _ => {
            // Files: a few folders, names from the pick; rare services write many distinct files.
            let n = if e.rare { p % 100_000 } else { p % 400 };
            let folder = match (e.rare, p % 5) {
                (true, _) => format!(r"c:\program files\{}\data", actor.name.to_lowercase()),
                (_, 0) => format!(r"c:\users\{user}\appdata\local\temp"),
                (_, 1) => format!(r"c:\users\{user}\documents"),
                (_, 2) => r"c:\windows\temp".to_string(),
                (_, 3) => r"c:\programdata\microsoft\windows\wer\temp".to_string(),
                _ => r"c:\windows\servicing\logs".to_string(),
            };
            let ext = ["tmp", "log", "dat", "docx", "xlsx", "etl", "dll"][(p % 7) as usize];
            (folder, format!("f{n:05}.{ext}"))
        }
    }
}

/// What determines [`target`]'s answer for an event: equal keys, equal targets.
fn target_key(table: DefenderTable, e: &Event) -> (u32, u32, u64) {
    let p = e.pick >> 8;
    let rare = e.rare as u64;
    match table {
        DefenderTable::DeviceProcessEvents => {
            let list = if e.rare { RARE_CHILDREN } else { CHILDREN };
            (0, 0, (p % list.len() as u64) | rare << 32)
        }
        DefenderTable::DeviceImageLoadEvents => {
            let dll = p % DLLS.len() as u64;
            if e.rare && p.is_multiple_of(7) {
                (e.device, e.actor, dll | 1 << 40)
            } else {
                (0, 0, dll)
            }
        }
        _ => {
            let n = if e.rare { p % 100_000 } else { p % 400 };
            let actor = if e.rare { e.actor } else { u32::MAX };
            (e.device, actor, ((p % 5) << 48) | (n << 8) | (p % 7))
        }
    }
}

/// A target's strings, built once per distinct target in a batch.
struct Target {
    name: String,
    path: String,
    sha1: String,
    sha256: String,
    md5: String,
}

fn child(e: &Event) -> (&'static str, &'static str, &'static str) {
    let list = if e.rare { RARE_CHILDREN } else { CHILDREN };
    list[((e.pick >> 8) % list.len() as u64) as usize]
}

fn string_col<'a>(events: &[Event], f: impl Fn(usize, &Event) -> Option<&'a str>) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(events.len(), events.len() * 16);
    for (i, e) in events.iter().enumerate() {
        b.append_option(f(i, e));
    }
    Arc::new(b.finish())
}

fn build_batch(
    world: &World,
    table: DefenderTable,
    schema: &SchemaRef,
    columns: &[Col],
    events: &[Event],
    casts: &[(u32, Vec<Actor>)],
) -> Result<RecordBatch> {
    let n = events.len();
    let device = |e: &Event| &world.devices[casts[e.device as usize].0 as usize];
    let actor = |e: &Event| &casts[e.device as usize].1[e.actor as usize];
    let mut index: hashbrown::HashMap<(u32, u32, u64), u32, foldhash::fast::FixedState> =
        Default::default();
    let mut pool: Vec<Target> = Vec::new();
    let ids: Vec<u32> = events
        .iter()
        .map(|e| {
            *index.entry(target_key(table, e)).or_insert_with(|| {
                let (folder, name) = target(table, e, actor(e), &device(e).user);
                let path = format!(r"{folder}\{name}");
                pool.push(Target {
                    sha1: stable_hex(&path, 11, 40),
                    sha256: stable_hex(&path, 12, 64),
                    md5: stable_hex(&path, 13, 32),
                    name,
                    path,
                });
                (pool.len() - 1) as u32
            })
        })
        .collect();
    let target_of = |i: usize| &pool[ids[i] as usize];
    let micros = world.options.microsecond_times;
    let times = |f: &dyn Fn(&Event) -> i64| -> ArrayRef {
        if micros {
            let mut b = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
            events.iter().for_each(|e| b.append_value(f(e) / 1_000));
            Arc::new(b.finish())
        } else {
            let mut b = TimestampNanosecondBuilder::with_capacity(n).with_timezone("UTC");
            events.iter().for_each(|e| b.append_value(f(e)));
            Arc::new(b.finish())
        }
    };
    let longs = |f: &dyn Fn(&Event) -> i64| -> ArrayRef {
        let mut b = Int64Builder::with_capacity(n);
        events.iter().for_each(|e| b.append_value(f(e)));
        Arc::new(b.finish())
    };
    let ints = |f: &dyn Fn(&Event) -> i32| -> ArrayRef {
        let mut b = Int32Builder::with_capacity(n);
        events.iter().for_each(|e| b.append_value(f(e)));
        Arc::new(b.finish())
    };
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for (col, field) in columns.iter().zip(schema.fields()) {
        let array: ArrayRef = match *col {
            Col::Tenant => string_col(events, |_, _| Some(&world.tenant)),
            Col::DeviceId => string_col(events, |_, e| Some(&device(e).id)),
            Col::DeviceName => string_col(events, |_, e| Some(&device(e).name)),
            Col::EventTime => times(&|e| e.time),
            Col::ActionType => string_col(events, |_, e| Some(action_type(table, e.pick))),
            Col::TargetName => string_col(events, |i, _| Some(&target_of(i).name)),
            Col::TargetFolder => string_col(events, |i, _| Some(&target_of(i).path)),
            Col::TargetSha1 => string_col(events, |i, _| Some(&target_of(i).sha1)),
            Col::TargetSha256 => string_col(events, |i, _| Some(&target_of(i).sha256)),
            Col::TargetMd5 => string_col(events, |i, _| Some(&target_of(i).md5)),
            Col::TargetSize => longs(&|e| ((e.pick >> 20) % 5_000_000) as i64),
            Col::ChildCmdline => string_col(events, |_, e| Some(child(e).2)),
            Col::ChildPid => longs(&|e| 400 + ((e.pick >> 24) % 40_000) as i64 * 4),
            Col::ChildAccount => string_col(events, |_, e| Some(&actor(e).account)),
            Col::Init(field) => string_col(events, |_, e| {
                let a = actor(e);
                Some(match field {
                    ActorField::Folder => &a.folder,
                    ActorField::Name => &a.name,
                    ActorField::Cmdline => &a.cmdline,
                    ActorField::Account => &a.account,
                    ActorField::Parent => a.parent,
                    ActorField::Sha1 => &a.sha1,
                    ActorField::Sha256 => &a.sha256,
                    ActorField::Md5 => &a.md5,
                    ActorField::Domain => {
                        if a.kind == Kind::User {
                            "contoso"
                        } else {
                            "nt authority"
                        }
                    }
                })
            }),
            Col::InitPid => longs(&|e| actor(e).pid),
            Col::InitCreation => times(&|e| actor(e).creation),
            Col::InitParentPid => longs(&|e| actor(e).parent_pid),
            Col::InitParentCreation => times(&|e| actor(e).parent_creation),
            Col::InitIntegrity => string_col(events, |_, e| {
                Some(if actor(e).kind == Kind::User {
                    "Medium"
                } else {
                    "System"
                })
            }),
            Col::InitElevation => string_col(events, |_, _| Some("TokenElevationTypeDefault")),
            Col::RemoteIp => string_col(events, |_, e| Some(world.remote_ip(e.pick >> 32))),
            Col::RemoteIpType => string_col(events, |_, e| {
                Some(if (e.pick >> 32) % 3 == 0 {
                    "Private"
                } else {
                    "Public"
                })
            }),
            Col::RemotePort => {
                ints(&|e| [443, 80, 445, 135, 53, 389][((e.pick >> 40) % 6) as usize])
            }
            Col::RemoteUrl => string_col(events, |_, e| {
                let p = e.pick >> 44;
                Some(if p % 10 == 0 {
                    URLS[((p >> 4) % URLS.len() as u64) as usize]
                } else {
                    ""
                })
            }),
            Col::Protocol => string_col(events, |_, e| {
                Some(if (e.pick >> 40) % 6 == 4 {
                    "Udp"
                } else {
                    "Tcp"
                })
            }),
            Col::LocalIp => string_col(events, |_, e| Some(&device(e).ip)),
            Col::LocalPort => ints(&|e| 49_152 + ((e.pick >> 48) % 16_000) as i32),
            Col::ReportId => longs(&|e| (e.pick >> 1) as i64 % 1_000_000_000),
            Col::Constant(value) => string_col(events, |_, _| Some(value)),
            Col::False => {
                let mut b = BooleanBuilder::with_capacity(n);
                b.append_n(n, false);
                Arc::new(b.finish())
            }
            Col::Null => datafusion::arrow::array::new_null_array(field.data_type(), n),
        };
        arrays.push(array);
    }
    RecordBatch::try_new(Arc::clone(schema), arrays).map_err(|e| HuntError::Output {
        path: world.options.out.clone(),
        message: e.to_string(),
    })
}
