//! Writing one table-day: the events of every device that day, sorted by time, as one Parquet
//! file. Columns are handed to the encoder as indices into small per-batch tables (the
//! devices, the cast, the targets, fixed value lists), so no string is hashed per row.

use std::borrow::Cow;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::encoder::{ColumnKind, Ints, Longs, TableWriter, ValueTable, Values};
use super::world::{
    Actor, CHILDREN, DLLS, Device, Kind, RARE_CHILDREN, Rng, URLS, World, stable_hex,
};
use super::{DAY, SECOND};
use crate::error::{HuntError, Result};
use crate::lake::{DefenderTable, KustoType};
use crate::synth::folder::table_day_file;

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

pub(super) fn write_table_day(
    world: &World,
    table: DefenderTable,
    day: u32,
    progress: &dyn Fn(u64),
) -> Result<(DefenderTable, u64, u64)> {
    let path = world
        .options
        .out
        .join(table_day_file(table, world.day_start(day)));
    let io = |source| HuntError::Io {
        context: format!("writing {}", path.display()),
        source,
    };
    std::fs::create_dir_all(path.parent().expect("a table-day file has a folder")).map_err(io)?;
    let file = std::fs::File::create(&path).map_err(io)?;
    let schema = file_schema(table, world.options.microsecond_times);
    let columns = plan_columns(table, &schema);
    let kinds: Vec<ColumnKind> = columns.iter().map(|col| col.kind()).collect();
    let parquet_err = |e: datafusion::parquet::errors::ParquetError| HuntError::Output {
        path: path.clone(),
        message: e.to_string(),
    };
    // Network events have no target columns: their (costly) targets are not built.
    let with_targets = columns.iter().any(|c| c.is_target());
    let mut targets = Targets::default();
    let mut writer = TableWriter::new(file, &schema, &kinds, world.options.row_group_rows)
        .map_err(parquet_err)?;
    let mut rows = 0u64;
    let batch_rows = 65_536;
    let mut events: Vec<Event> = Vec::new();
    let mut casts: Vec<(u32, Vec<Actor>)> = Vec::new();
    for device in 0..world.options.devices {
        let slot = casts.len() as u32;
        let cast = device_day_events(world, table, device, day, slot, &mut events);
        casts.push((device, cast));
        if events.len() >= batch_rows || device + 1 == world.options.devices {
            events.sort_by_key(|e| (e.time, e.device, e.actor));
            let mut rest = &events[..];
            while !rest.is_empty() {
                // Batches end where row groups do.
                let take = rest.len().min(batch_rows).min(writer.room_in_group());
                let (batch, after) = rest.split_at(take);
                let target_rows = batch
                    .iter()
                    .filter(|_| with_targets)
                    .map(|e| targets.entry(world, table, e, &casts))
                    .collect();
                let sources = BatchSources::new(world, table, batch, &casts, &targets, target_rows);
                let data: Vec<ColumnData> =
                    columns.iter().map(|col| sources.column(*col)).collect();
                let values: Vec<Values> = data.iter().map(ColumnData::values).collect();
                writer.append(&values, take).map_err(parquet_err)?;
                rows += take as u64;
                progress(take as u64);
                rest = after;
            }
            events.clear();
            casts.clear();
        }
    }
    writer.close().map_err(parquet_err)?;
    let bytes = std::fs::metadata(&path).map_err(io)?.len();
    Ok((table, rows, bytes))
}

/// One device's events of the day in `table`, drawn from its cast at the configured rate, and
/// those of the rare services planted on it that day, appended to `events` (as device `slot`).
/// Returns the cast, the planted services included.
fn device_day_events(
    world: &World,
    table: DefenderTable,
    device: u32,
    day: u32,
    slot: u32,
    events: &mut Vec<Event>,
) -> Vec<Actor> {
    let mut cast = world.cast(device, day);
    let mut rng = Rng::from_parts(&[
        world.options.seed,
        5,
        table as u64,
        device as u64,
        day as u64,
    ]);
    let start = world.day_start(day);
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
            kind: Kind::Rare,
            ..planting.actor.clone()
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
    cast
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
                    other => other.stored_type(),
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
    fn is_target(self) -> bool {
        matches!(
            self,
            Col::TargetName
                | Col::TargetFolder
                | Col::TargetSha1
                | Col::TargetSha256
                | Col::TargetMd5
        )
    }

    /// What the encoder is handed for this column.
    fn kind(self) -> ColumnKind {
        match self {
            Col::Null => ColumnKind::Null,
            Col::False => ColumnKind::Bool,
            Col::RemotePort | Col::LocalPort => ColumnKind::Int32,
            Col::EventTime
            | Col::TargetSize
            | Col::ChildPid
            | Col::InitPid
            | Col::InitCreation
            | Col::InitParentPid
            | Col::InitParentCreation
            | Col::ReportId => ColumnKind::Int64,
            // The encoder checks this against the column's Parquet type.
            _ => ColumnKind::String,
        }
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

/// The ActionType values of a table.
fn action_types(table: DefenderTable) -> &'static [&'static str] {
    match table {
        DefenderTable::DeviceProcessEvents => &["ProcessCreated"],
        DefenderTable::DeviceNetworkEvents => &[
            "ConnectionSuccess",
            "ConnectionFailed",
            "ConnectionRequest",
            "InboundConnectionAccepted",
        ],
        DefenderTable::DeviceFileEvents => {
            &["FileCreated", "FileModified", "FileDeleted", "FileRenamed"]
        }
        DefenderTable::DeviceImageLoadEvents => &["ImageLoaded"],
    }
}

/// An event's ActionType, as an index into [`action_types`]: 70/15/10/5% or 55/30/10/5%.
fn action_type(table: DefenderTable, pick: u64) -> usize {
    let r = pick % 100;
    match table {
        DefenderTable::DeviceNetworkEvents => match r {
            0..70 => 0,
            70..85 => 1,
            85..95 => 2,
            _ => 3,
        },
        DefenderTable::DeviceFileEvents => match r {
            0..55 => 0,
            55..85 => 1,
            85..95 => 2,
            _ => 3,
        },
        DefenderTable::DeviceProcessEvents | DefenderTable::DeviceImageLoadEvents => 0,
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

/// What determines [`target`]'s answer for an event: equal keys, equal targets. Keys hold for
/// the whole table-day (they name the device, not its slot in a batch), and background files
/// name only the user whose folder they are in, so the same files on other devices share one
/// entry.
fn target_key(table: DefenderTable, e: &Event, device: &Device) -> (u32, u32, u64) {
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
                (device.number, e.actor, dll | 1 << 40)
            } else {
                (0, 0, dll)
            }
        }
        _ => {
            let folder = p % 5;
            let (owner, actor) = match (e.rare, folder) {
                (true, _) => (device.number, e.actor),
                // c:\users\{user}\...
                (false, 0 | 1) => (device.user_number, u32::MAX),
                (false, _) => (u32::MAX, u32::MAX),
            };
            let n = if e.rare { p % 100_000 } else { p % 400 };
            (owner, actor, (folder << 48) | (n << 8) | (p % 7))
        }
    }
}

/// The child process an event started: an index into [`CHILDREN`] followed by
/// [`RARE_CHILDREN`] (rare services start the latter).
fn child_index(e: &Event) -> usize {
    let (count, offset) = if e.rare {
        (RARE_CHILDREN.len(), CHILDREN.len())
    } else {
        (CHILDREN.len(), 0)
    };
    offset + ((e.pick >> 8) % count as u64) as usize
}

fn child(e: &Event) -> (&'static str, &'static str, &'static str) {
    match child_index(e) {
        i if i < CHILDREN.len() => CHILDREN[i],
        i => RARE_CHILDREN[i - CHILDREN.len()],
    }
}

/// What a table-day's events touched (child processes, files, DLLs), each built once. An
/// entry keeps its place, so the encoder's dictionary ids for it last from batch to batch.
#[derive(Default)]
struct Targets {
    index: hashbrown::HashMap<(u32, u32, u64), u32, foldhash::fast::FixedState>,
    names: Vec<String>,
    paths: Vec<String>,
    sha1s: Vec<String>,
    sha256s: Vec<String>,
    md5s: Vec<String>,
}

impl Targets {
    /// The entry of what `e` touched, added on first sight.
    fn entry(
        &mut self,
        world: &World,
        table: DefenderTable,
        e: &Event,
        casts: &[(u32, Vec<Actor>)],
    ) -> u32 {
        let (device, cast) = &casts[e.device as usize];
        let device = &world.devices[*device as usize];
        let key = target_key(table, e, device);
        if let Some(entry) = self.index.get(&key) {
            return *entry;
        }
        let (folder, name) = target(table, e, &cast[e.actor as usize], &device.user);
        let path = format!(r"{folder}\{name}");
        self.sha1s.push(stable_hex(&path, 11, 40));
        self.sha256s.push(stable_hex(&path, 12, 64));
        self.md5s.push(stable_hex(&path, 13, 32));
        self.names.push(name);
        self.paths.push(path);
        let entry = (self.names.len() - 1) as u32;
        self.index.insert(key, entry);
        entry
    }
}

/// What a batch's columns draw on: per row, its device, actor and target, as indices into
/// the batch's devices and actors and the table-day's targets.
struct BatchSources<'a> {
    world: &'a World,
    table: DefenderTable,
    events: &'a [Event],
    devices: Vec<&'a Device>,
    actors: Vec<&'a Actor>,
    targets: &'a Targets,
    device_rows: Vec<u32>,
    actor_rows: Vec<u32>,
    target_rows: Vec<u32>,
}

/// A column of a batch, owning what its [`Values`] borrow.
enum ColumnData<'a> {
    /// Entries of a table, by row (see [`Values::Indexed`]).
    Indexed {
        table: Box<dyn ValueTable + 'a>,
        rows: Cow<'a, [u32]>,
        lasting: bool,
    },
    String(&'a str),
    Int64(Vec<i64>),
    Int32(Vec<i32>),
    Bool(bool),
    Null,
}

impl ColumnData<'_> {
    fn values(&self) -> Values<'_> {
        match self {
            ColumnData::Indexed {
                table,
                rows,
                lasting,
            } => Values::Indexed {
                table: table.as_ref(),
                rows,
                lasting: *lasting,
            },
            ColumnData::String(value) => Values::String(value),
            ColumnData::Int64(values) => Values::Int64(values),
            ColumnData::Int32(values) => Values::Int32(values),
            ColumnData::Bool(flag) => Values::Bool(*flag),
            ColumnData::Null => Values::Null,
        }
    }
}

impl<'a> BatchSources<'a> {
    fn new(
        world: &'a World,
        table: DefenderTable,
        events: &'a [Event],
        casts: &'a [(u32, Vec<Actor>)],
        targets: &'a Targets,
        target_rows: Vec<u32>,
    ) -> BatchSources<'a> {
        let devices = casts
            .iter()
            .map(|(device, _)| &world.devices[*device as usize])
            .collect();
        // Each device slot's first actor in the flattened cast list.
        let mut first_actor = Vec::with_capacity(casts.len());
        let mut actors = Vec::new();
        for (_, cast) in casts {
            first_actor.push(actors.len() as u32);
            actors.extend(cast.iter());
        }
        let actor_rows = events
            .iter()
            .map(|e| first_actor[e.device as usize] + e.actor)
            .collect();
        BatchSources {
            world,
            table,
            events,
            devices,
            actors,
            targets,
            device_rows: events.iter().map(|e| e.device).collect(),
            actor_rows,
            target_rows,
        }
    }

    /// Strings drawn from a fixed list, by a per-event choice.
    fn choice(&self, list: &'a [&'a str], pick: impl Fn(&Event) -> usize) -> ColumnData<'a> {
        ColumnData::Indexed {
            table: Box::new(list),
            rows: Cow::Owned(self.events.iter().map(|e| pick(e) as u32).collect()),
            lasting: true,
        }
    }

    fn by_device(&self, field: impl Fn(&'a Device) -> &'a str) -> ColumnData<'_> {
        ColumnData::Indexed {
            table: Box::new(self.devices.iter().map(|d| field(d)).collect::<Vec<_>>()),
            rows: Cow::Borrowed(&self.device_rows),
            lasting: false,
        }
    }

    fn by_actor(&self, field: impl Fn(&'a Actor) -> &'a str) -> ColumnData<'_> {
        ColumnData::Indexed {
            table: Box::new(self.actors.iter().map(|a| field(a)).collect::<Vec<_>>()),
            rows: Cow::Borrowed(&self.actor_rows),
            lasting: false,
        }
    }

    fn by_target(&self, field: impl Fn(&'a Targets) -> &'a [String]) -> ColumnData<'_> {
        ColumnData::Indexed {
            table: Box::new(field(self.targets)),
            rows: Cow::Borrowed(&self.target_rows),
            lasting: true,
        }
    }

    fn longs(&self, f: impl Fn(&Event) -> i64) -> ColumnData<'a> {
        ColumnData::Int64(self.events.iter().map(f).collect())
    }

    /// Numbers of the actor, which repeat as the actor does.
    fn actor_longs(&self, f: impl Fn(&Actor) -> i64) -> ColumnData<'_> {
        ColumnData::Indexed {
            table: Box::new(Longs(self.actors.iter().map(|a| f(a)).collect())),
            rows: Cow::Borrowed(&self.actor_rows),
            lasting: false,
        }
    }

    /// A time (ns) in the file's unit.
    fn file_time(&self, nanos: i64) -> i64 {
        if self.world.options.microsecond_times {
            nanos / 1_000
        } else {
            nanos
        }
    }

    fn times(&self, f: impl Fn(&Event) -> i64) -> ColumnData<'a> {
        self.longs(|e| self.file_time(f(e)))
    }

    fn actor_times(&self, f: impl Fn(&Actor) -> i64) -> ColumnData<'_> {
        self.actor_longs(|a| self.file_time(f(a)))
    }

    fn column(&self, col: Col) -> ColumnData<'_> {
        let table = self.table;
        match col {
            Col::Tenant => ColumnData::String(&self.world.tenant),
            Col::DeviceId => self.by_device(|d| &d.id),
            Col::DeviceName => self.by_device(|d| &d.name),
            Col::LocalIp => self.by_device(|d| &d.ip),
            Col::EventTime => self.times(|e| e.time),
            Col::ActionType => {
                let list = action_types(table);
                self.choice(list, |e| action_type(table, e.pick))
            }
            Col::TargetName => self.by_target(|t| &t.names),
            Col::TargetFolder => self.by_target(|t| &t.paths),
            Col::TargetSha1 => self.by_target(|t| &t.sha1s),
            Col::TargetSha256 => self.by_target(|t| &t.sha256s),
            Col::TargetMd5 => self.by_target(|t| &t.md5s),
            Col::TargetSize => self.longs(|e| ((e.pick >> 20) % 5_000_000) as i64),
            Col::ChildCmdline => self.choice(&CHILD_COMMAND_LINES, child_index),
            Col::ChildPid => self.longs(|e| 400 + ((e.pick >> 24) % 40_000) as i64 * 4),
            Col::ChildAccount => self.by_actor(|a| &a.account),
            Col::Init(field) => self.by_actor(move |a| match field {
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
            }),
            Col::InitPid => self.actor_longs(|a| a.pid),
            Col::InitCreation => self.actor_times(|a| a.creation),
            Col::InitParentPid => self.actor_longs(|a| a.parent_pid),
            Col::InitParentCreation => self.actor_times(|a| a.parent_creation),
            Col::InitIntegrity => self.by_actor(|a| {
                if a.kind == Kind::User {
                    "Medium"
                } else {
                    "System"
                }
            }),
            Col::InitElevation => ColumnData::String("TokenElevationTypeDefault"),
            Col::RemoteIp => ColumnData::Indexed {
                table: Box::new(self.world.remote_ips.as_slice()),
                lasting: true,
                rows: Cow::Owned(
                    self.events
                        .iter()
                        .map(|e| World::remote_ip(e.pick >> 32))
                        .collect(),
                ),
            },
            Col::RemoteIpType => self.choice(&["Private", "Public"], |e| {
                usize::from((e.pick >> 32) % 3 != 0)
            }),
            Col::RemotePort => ColumnData::Indexed {
                table: Box::new(Ints(vec![443, 80, 445, 135, 53, 389])),
                rows: Cow::Owned(
                    self.events
                        .iter()
                        .map(|e| ((e.pick >> 40) % 6) as u32)
                        .collect(),
                ),
                lasting: true,
            },
            Col::RemoteUrl => self.choice(&REMOTE_URLS, |e| {
                let p = e.pick >> 44;
                if p % 10 == 0 {
                    1 + ((p >> 4) % URLS.len() as u64) as usize
                } else {
                    0
                }
            }),
            Col::Protocol => self.choice(&["Tcp", "Udp"], |e| usize::from((e.pick >> 40) % 6 == 4)),
            Col::LocalPort => ColumnData::Int32(
                self.events
                    .iter()
                    .map(|e| 49_152 + ((e.pick >> 48) % 16_000) as i32)
                    .collect(),
            ),
            Col::ReportId => self.longs(|e| (e.pick >> 1) as i64 % 1_000_000_000),
            Col::Constant(value) => ColumnData::String(value),
            Col::False => ColumnData::Bool(false),
            Col::Null => ColumnData::Null,
        }
    }
}

/// Remote URLs: mostly none, else one of [`URLS`].
const REMOTE_URLS: [&str; URLS.len() + 1] = {
    let mut urls = [""; URLS.len() + 1];
    let mut i = 0;
    while i < URLS.len() {
        urls[i + 1] = URLS[i];
        i += 1;
    }
    urls
};

/// The command lines of background children, then of rare services' children.
const CHILD_COMMAND_LINES: [&str; CHILDREN.len() + RARE_CHILDREN.len()] = {
    let mut lines = [""; CHILDREN.len() + RARE_CHILDREN.len()];
    let mut i = 0;
    while i < CHILDREN.len() {
        lines[i] = CHILDREN[i].2;
        i += 1;
    }
    while i < lines.len() {
        lines[i] = RARE_CHILDREN[i - CHILDREN.len()].2;
        i += 1;
    }
    lines
};
