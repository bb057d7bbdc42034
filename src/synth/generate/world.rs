//! The generated world: devices, the cast of processes on each device-day, and the rare
//! services planted among them. Everything derives from the seed.

use super::{DAY, GenerateOptions, PlantedInstance, SECOND};
use crate::time::format_kusto_datetime;

pub(super) use crate::synth::rng::SplitMix64 as Rng;

pub(super) fn stable_hex(text: &str, salt: u64, digits: usize) -> String {
    Rng::from_text(text, salt).hex(digits)
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
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
pub(super) const CHILDREN: &[(&str, &str, &str)] = &[
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
pub(super) const RARE_CHILDREN: &[(&str, &str, &str)] = &[
    (r"c:\windows\system32", "cmd.exe", "cmd.exe /c whoami /all"),
    (r"c:\windows\system32", "cmd.exe", r#"cmd.exe /c net group "domain admins" /domain"#),
    (r"c:\windows\system32", "net.exe", "net user backup_svc P@ssw0rd! /add"),
    (r"c:\windows\system32", "reg.exe", r"reg.exe save HKLM\SAM C:\Windows\Temp\sam.save"),
    (r"c:\windows\system32\windowspowershell\v1.0", "powershell.exe", "powershell.exe -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA="),
];

#[rustfmt::skip]
pub(super) const DLLS: &[&str] = &[
    "ntdll.dll", "kernel32.dll", "kernelbase.dll", "advapi32.dll", "combase.dll", "rpcrt4.dll",
    "crypt32.dll", "wintrust.dll", "winhttp.dll", "schannel.dll", "dnsapi.dll", "bcrypt.dll",
    "msvcp_win.dll", "ucrtbase.dll", "user32.dll", "gdi32.dll", "ole32.dll", "oleaut32.dll",
    "shell32.dll", "ws2_32.dll", "iphlpapi.dll", "sspicli.dll", "wldp.dll", "amsi.dll",
];

#[rustfmt::skip]
pub(super) const URLS: &[&str] = &[
    "www.bing.com", "login.microsoftonline.com", "outlook.office365.com", "contoso.sharepoint.com",
    "settings-win.data.microsoft.com", "ctldl.windowsupdate.com", "www.google.com", "github.com",
];

/// A process instance on a device-day.
#[derive(Clone)]
pub(super) struct Actor {
    pub(super) folder: String,
    pub(super) name: String,
    pub(super) cmdline: String,
    pub(super) account: String,
    pub(super) parent: &'static str,
    pub(super) pid: i64,
    pub(super) creation: i64,
    pub(super) parent_pid: i64,
    pub(super) parent_creation: i64,
    pub(super) sha1: String,
    pub(super) sha256: String,
    pub(super) md5: String,
    pub(super) kind: Kind,
}

pub(super) struct Device {
    /// Its place in the world's list.
    pub(super) number: u32,
    pub(super) name: String,
    pub(super) id: String,
    pub(super) ip: String,
    pub(super) user: String,
    /// The user's place in `USERS`.
    pub(super) user_number: u32,
}

/// A rare service planted on a device-day, and how much it does.
pub(super) struct Planting {
    pub(super) day: u32,
    pub(super) actor: Actor,
    pub(super) children: u32,
    pub(super) network: u32,
    pub(super) files: u32,
    pub(super) images: u32,
}

pub(super) struct World {
    pub(super) options: GenerateOptions,
    pub(super) devices: Vec<Device>,
    pub(super) tenant: String,
    /// Per device: its plantings, in day order.
    pub(super) plantings: Vec<Vec<Planting>>,
    /// Cumulative weights for picking a background actor by kind.
    service_weights: Vec<(usize, u32)>,
    agent_weights: Vec<(usize, u32)>,
    user_weights: Vec<(usize, u32)>,
    /// Remote addresses: the private ones (10.20/16), then the public ones.
    pub(super) remote_ips: Vec<String>,
}

const PRIVATE_IPS: u64 = 1_750;
const PUBLIC_IPS: u64 = 4_096;

const DEPARTMENTS: &[&str] = &["fin", "hr", "eng", "ops", "sales", "it", "legal", "mkt"];
const USERS: &[&str] = &[
    "jdoe", "asmith", "bkumar", "mgarcia", "lchen", "okafor", "pnovak", "rsato",
];

impl World {
    pub(super) fn new(options: &GenerateOptions) -> World {
        let seed = options.seed;
        let devices = (0..options.devices)
            .map(|d| {
                let mut rng = Rng::from_parts(&[seed, 1, d as u64]);
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
                let id = rng.hex(40);
                let user_number = rng.below(USERS.len() as u64) as u32;
                Device {
                    number: d,
                    name,
                    id,
                    ip: format!("10.{}.{}.{}", 20 + d / 65_025, (d / 255) % 255, d % 255 + 1),
                    user: USERS[user_number as usize].to_string(),
                    user_number,
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
            tenant: Rng::from_parts(&[seed, 2]).hex(32),
            plantings: Vec::new(),
            service_weights: weights(Kind::Allowlisted),
            agent_weights: weights(Kind::Agent),
            user_weights: weights(Kind::User),
            remote_ips: {
                let mut rng = Rng::from_parts(&[seed, 6]);
                let private =
                    (0..PRIVATE_IPS).map(|i| format!("10.20.{}.{}", i / 250, i % 250 + 1));
                let public = (0..PUBLIC_IPS).map(|_| {
                    let p = rng.next_u64();
                    format!(
                        "{}.{}.{}.{}",
                        13 + p % 180,
                        (p >> 8) % 256,
                        (p >> 16) % 256,
                        (p >> 24) % 254 + 1
                    )
                });
                private.chain(public).collect()
            },
            devices,
        };
        world.plantings = (0..options.devices).map(|d| world.plant(d)).collect();
        world
    }

    pub(super) fn day_start(&self, day: u32) -> i64 {
        self.options.start() + day as i64 * DAY
    }

    pub(super) fn align(&self, t: i64) -> i64 {
        if self.options.microsecond_times {
            t - t.rem_euclid(1_000)
        } else {
            t - t.rem_euclid(100)
        }
    }

    /// The background cast of a device-day: one instance of every program.
    pub(super) fn cast(&self, device: u32, day: u32) -> Vec<Actor> {
        let mut rng = Rng::from_parts(&[self.options.seed, 3, device as u64, day as u64]);
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
        let mut rng = Rng::from_parts(&[self.options.seed, 4, device as u64]);
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

    pub(super) fn planted_instances(&self) -> Vec<PlantedInstance> {
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

    /// The remote address for a pick, as an index into `remote_ips`: private for a third of
    /// picks, else public.
    pub(super) fn remote_ip(p: u64) -> u32 {
        if p.is_multiple_of(3) {
            ((p >> 2) % PRIVATE_IPS) as u32
        } else {
            (PRIVATE_IPS + (p >> 2) % PUBLIC_IPS) as u32
        }
    }

    /// Picks a background actor index for one event.
    pub(super) fn pick(&self, rng: &mut Rng) -> usize {
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
