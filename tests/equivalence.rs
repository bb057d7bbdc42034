//! Generated lakes: ~40 small random lakes whose values collide on purpose (devices and
//! services differing only in case, allowlisted names, parents with and without services.exe,
//! a handful of pids and creation times, "" and null strings and keys, times on the window's
//! edge), each written with random file layouts. For each lake the keyed plan must give
//! exactly the literal plan's lines (the KQL's join structure), and both must equal an
//! independent row-by-row model of the KQL (`common::model`). Each lake also runs with one of
//! the non-default switches (keep_empty_in_sets=false, null_keys_match=true, both, with the
//! GetServices spill path). huntlake's shortcuts in planning the rule's steps must give the
//! plans DataFusion gives without them.

mod common;

use common::model::{self, Params};
use common::*;
use datafusion::arrow::datatypes::TimeUnit;
use huntlake::DetectRequest;
use serde_json::Value;

/// The lakes per test function (4 functions, so they run in parallel).
const LAKES_PER_TEST: u64 = 10;

// ---------------------------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------------------------

/// The value domains, small so that keys collide.
struct Domains {
    devices: Vec<Option<&'static str>>,
    services: Vec<Option<&'static str>>,
}

const DEVICES: [Option<&str>; 6] = [
    Some("ws1.corp"),
    Some("WS1.corp"),
    Some("db-2"),
    Some(".lab"),
    Some("pc-é.x"),
    None,
];
const SERVICES: [Option<&str>; 8] = [
    Some("agent.exe"),
    Some("Agent.exe"),
    Some("svchost.exe"),
    Some("SvcHost.EXE"),
    Some("updater.exe"),
    Some("updater.exe "),
    Some(""),
    None,
];
const PARENTS: [Option<&str>; 7] = [
    Some("services.exe"),
    Some("services.exe"),
    Some("SERVICES.EXE"),
    Some("C:\\Windows\\System32\\services.exe"),
    Some("explorer.exe"),
    Some("ſervices.exe"),
    None,
];
const ACCOUNTS: [Option<&str>; 4] = [Some("system"), Some("SYSTEM"), Some(""), None];
const SHA1S: [Option<&str>; 3] = [Some("ab12"), Some("AB12"), None];
const CHILDREN: [Option<&str>; 6] = [
    Some("cmd.exe"),
    Some("CMD.exe"),
    Some("powershell.exe"),
    Some("é.exe"),
    Some(""),
    None,
];
const IPS: [Option<&str>; 7] = [
    Some("10.0.0.1"),
    Some("10.0.0.1"),
    Some("10.0.0.2"),
    Some("fe80::1"),
    Some("fe80::1"),
    Some(""),
    None,
];
const URLS: [Option<&str>; 4] = [Some("a.example"), Some("A.example"), Some(""), None];
const FILE_NAMES: [Option<&str>; 7] = [
    Some("a.txt"),
    Some("a.txt"),
    Some("A.txt"),
    Some("b.dll"),
    Some("b.dll"),
    Some(""),
    None,
];
const FOLDERS: [Option<&str>; 3] = [Some("C:\\Temp"), Some("c:\\temp"), None];

fn text(value: &Option<&str>) -> Option<String> {
    value.map(str::to_string)
}

impl Domains {
    fn new(rng: &mut Rng) -> Domains {
        let mut devices: Vec<Option<&str>> = Vec::new();
        // Usually a pair of devices differing only in case.
        if rng.chance(60) {
            devices.extend([DEVICES[0], DEVICES[1]]);
        }
        let wanted_devices = rng.between(2, 3);
        while devices.len() < wanted_devices {
            let d = *rng.pick(&DEVICES);
            if !devices.contains(&d) {
                devices.push(d);
            }
        }
        let mut services: Vec<Option<&str>> = Vec::new();
        if rng.chance(60) {
            services.extend([SERVICES[0], SERVICES[1]]);
        }
        let wanted = rng.between(3, 4);
        while services.len() < wanted {
            let s = *rng.pick(&SERVICES);
            if !services.contains(&s) {
                services.push(s);
            }
        }
        Domains { devices, services }
    }
}

/// An event time: mostly inside the window, sometimes on its edges or after as-of.
fn event_time(rng: &mut Rng) -> Option<i64> {
    match rng.below(20) {
        0 => Some(since()),
        1 => Some(since() + 50),
        2 => Some(since() + TICK),
        3 => Some(since() - NANOS_PER_DAY),
        4 => Some(as_of() + 3_600 * NANOS_PER_SECOND),
        5 => None,
        _ => Some(as_of() - 1 - (rng.next_u64() % (13 * NANOS_PER_DAY as u64)) as i64),
    }
}

fn creation_time(rng: &mut Rng) -> Option<i64> {
    let t0 = created();
    *rng.pick(&[
        Some(t0),
        Some(t0),
        Some(t0 + TICK),
        Some(t0 + 1_000_000),
        Some(t0 + 50),
        None,
    ])
}

/// A service instance's columns, drawn from the domains.
fn random_instance(rng: &mut Rng, d: &Domains) -> Row {
    let service = *rng.pick(&d.services);
    let cmdline = match rng.below(4) {
        0 => None,
        1 => Some(format!("{} -K", service.unwrap_or("").to_uppercase())),
        _ => Some(format!("{} -k", service.unwrap_or(""))),
    };
    Row {
        time: event_time(rng),
        device: text(rng.pick(&d.devices)),
        parent: text(rng.pick(&PARENTS)),
        service: text(&service),
        cmdline,
        pid: if rng.chance(8) {
            None
        } else {
            Some(rng.between(1, 3) as i64)
        },
        created: creation_time(rng),
        account: text(rng.pick(&ACCOUNTS)),
        sha1: text(rng.pick(&SHA1S)),
        ..Row::default()
    }
}

/// A right-hand row: usually the instance of an existing launch (so that joins happen),
/// sometimes with one key changed, else a fresh random instance.
fn right_instance(rng: &mut Rng, d: &Domains, launches: &[Row]) -> Row {
    if launches.is_empty() || rng.chance(15) {
        return random_instance(rng, d);
    }
    let mut row = rng.pick(launches).clone();
    row.time = event_time(rng);
    if rng.chance(20) {
        row.parent = text(rng.pick(&PARENTS));
    }
    if rng.chance(20) {
        let fresh = random_instance(rng, d);
        match rng.below(7) {
            0 => row.device = fresh.device,
            1 => row.service = fresh.service,
            2 => row.cmdline = fresh.cmdline,
            3 => row.created = fresh.created,
            4 => row.pid = fresh.pid,
            5 => row.account = fresh.account,
            _ => row.sha1 = fresh.sha1,
        }
    }
    row
}

fn random_spec(rng: &mut Rng, first: bool, table: Table) -> FileSpec {
    let mut spec = FileSpec::default()
        .unit(*rng.pick(&[
            TimeUnit::Millisecond,
            TimeUnit::Microsecond,
            TimeUnit::Nanosecond,
        ]))
        .zone(*rng.pick(&[None, Some("UTC"), Some("+01:00")]))
        .strings(*rng.pick(&[
            Strings::Utf8,
            Strings::LargeUtf8,
            Strings::Utf8View,
            Strings::Dictionary,
        ]))
        .pid(*rng.pick(&[PidType::Int32, PidType::Int64]))
        .time_columns(match rng.below(10) {
            0 | 1 => TimeColumns::Timestamp,
            2 => TimeColumns::Both,
            _ => TimeColumns::TimeGenerated,
        })
        .folder(
            rng.pick(&[
                Folder::Flat,
                Folder::Hive,
                Folder::HiveNested,
                Folder::Plain,
                Folder::Custom("x/y".into()),
            ])
            .clone(),
        );
    if rng.chance(20) {
        spec = spec.extra_column();
    }
    if rng.chance(15) {
        spec = spec.without_arrow_metadata();
    }
    // Later files may lack a column (the first has them all, so every column is somewhere).
    if !first && rng.chance(20) {
        let columns: Vec<&'static str> = SERVICE_COLUMNS
            .iter()
            .chain(table.own_columns())
            .copied()
            .collect();
        spec = spec.omit(&[*rng.pick(&columns)]);
    }
    spec
}

/// Writes `rows` as 1 to 3 files of random layouts (a file may get no rows).
fn write_table(lake: &Lake, rng: &mut Rng, table: Table, rows: &[Row]) {
    let files = rng.between(1, 3);
    let mut chunks: Vec<Vec<Row>> = vec![Vec::new(); files];
    for row in rows {
        chunks[rng.below(files)].push(row.clone());
    }
    for (i, chunk) in chunks.iter().enumerate() {
        let spec = random_spec(rng, i == 0, table);
        lake.write(table, &spec, chunk);
    }
    if rng.chance(20) {
        lake.write_litter(table);
    }
}

/// A random lake for `seed`; the lake also remembers its rows as they will be read back.
fn generate(seed: u64) -> Lake {
    let mut rng = Rng::new(seed);
    let d = Domains::new(&mut rng);

    let launches: Vec<Row> = (0..rng.between(3, 18))
        .map(|_| {
            let child = rng.pick(&CHILDREN);
            Row {
                file_name: text(child),
                file_sha1: child.map(|c| format!("sha-{}", c.to_ascii_lowercase())),
                command_line: match rng.below(3) {
                    0 => None,
                    _ => child.map(|c| format!("{c} /c")),
                },
                ..random_instance(&mut rng, &d)
            }
        })
        .collect();
    let network: Vec<Row> = (0..rng.between(0, 10))
        .map(|_| Row {
            action: s("ConnectionSuccess"),
            remote_ip: text(rng.pick(&IPS)),
            remote_url: text(rng.pick(&URLS)),
            ..right_instance(&mut rng, &d, &launches)
        })
        .collect();
    let files: Vec<Row> = (0..rng.between(0, 8))
        .map(|_| Row {
            action: s("FileCreated"),
            file_name: text(rng.pick(&FILE_NAMES)),
            file_sha1: text(rng.pick(&SHA1S)),
            folder_path: text(rng.pick(&FOLDERS)),
            ..right_instance(&mut rng, &d, &launches)
        })
        .collect();
    let images: Vec<Row> = (0..rng.between(0, 8))
        .map(|_| Row {
            file_name: text(rng.pick(&FILE_NAMES)),
            file_sha1: text(rng.pick(&SHA1S)),
            folder_path: text(rng.pick(&FOLDERS)),
            ..right_instance(&mut rng, &d, &launches)
        })
        .collect();

    let lake = Lake::new();
    write_table(&lake, &mut rng, Table::Process, &launches);
    write_table(&lake, &mut rng, Table::Network, &network);
    write_table(&lake, &mut rng, Table::File, &files);
    write_table(&lake, &mut rng, Table::Image, &images);
    lake
}

// ---------------------------------------------------------------------------------------------
// Checking
// ---------------------------------------------------------------------------------------------

/// The non-default switches, one set per run.
#[derive(Debug, Clone, Copy)]
struct Switches {
    keep_empty_in_sets: bool,
    null_keys_match: bool,
    spill: bool,
    partitions: Option<usize>,
}

impl Switches {
    const DEFAULT: Switches = Switches {
        keep_empty_in_sets: true,
        null_keys_match: false,
        spill: false,
        partitions: None,
    };

    /// The second configuration a lake runs with, rotating over the seeds.
    fn rotated(seed: u64) -> Switches {
        match seed % 3 {
            0 => Switches {
                keep_empty_in_sets: false,
                ..Switches::DEFAULT
            },
            1 => Switches {
                null_keys_match: true,
                partitions: Some(1),
                ..Switches::DEFAULT
            },
            _ => Switches {
                keep_empty_in_sets: false,
                null_keys_match: true,
                spill: true,
                partitions: Some(4),
            },
        }
    }

    fn apply(&self, request: &mut DetectRequest) {
        request.rule.keep_empty_in_sets = self.keep_empty_in_sets;
        request.rule.null_keys_match = self.null_keys_match;
        if self.spill {
            request.materialize.memory_budget = 1;
        }
        request.session.target_partitions = self.partitions;
    }

    fn params(&self) -> Params {
        Params {
            keep_empty_in_sets: self.keep_empty_in_sets,
            null_keys_match: self.null_keys_match,
            ..Params::new(as_of())
        }
    }
}

/// What one lake showed, for the anti-vacuity checks.
#[derive(Debug, Default)]
struct Seen {
    lakes_with_detections: usize,
    detections: usize,
    matched_right_sets: usize,
    unmatched_right_sets: usize,
}

fn canonical(rows: Vec<Value>) -> Vec<String> {
    let mut lines: Vec<String> = rows.iter().map(Value::to_string).collect();
    lines.sort();
    lines
}

/// Runs one lake with one set of switches: keyed == literal (checked by
/// `run_keyed_and_literal`) == model.
fn check(seed: u64, lake: &Lake, switches: Switches, seen: &mut Seen) {
    // Each lake is also read as one of the foreign layouts, in turn.
    let layout = layouts::ForeignLayout::ALL[(seed % 3) as usize];
    let run = run_keyed_and_literal(lake, layout, &|r| switches.apply(r));
    let tables = model::Tables {
        process: lake.rows(Table::Process),
        network: lake.rows(Table::Network),
        file: lake.rows(Table::File),
        image: lake.rows(Table::Image),
    };
    let expected = model::expected(&tables, &switches.params());
    let got = run.rows();
    assert_eq!(
        canonical(got.clone()),
        canonical(expected),
        "seed {seed}, {switches:?}: huntlake (left) and the KQL model (right) disagree\n\
         process rows: {:#?}\nnetwork rows: {:#?}",
        tables.process,
        tables.network,
    );
    if !got.is_empty() {
        seen.lakes_with_detections += 1;
    }
    seen.detections += got.len();
    for row in &got {
        for column in ["ConnectedAddresses", "FilesModified", "DLLsLoaded"] {
            let set = row[column].as_array().unwrap();
            if set.is_empty() || *set == [Value::String(String::new())] {
                seen.unmatched_right_sets += 1;
            } else {
                seen.matched_right_sets += 1;
            }
        }
    }
}

fn check_seeds(seeds: std::ops::Range<u64>) {
    let mut seen = Seen::default();
    let lakes = seeds.end - seeds.start;
    for seed in seeds {
        let lake = generate(seed);
        check(seed, &lake, Switches::DEFAULT, &mut seen);
        check(seed, &lake, Switches::rotated(seed), &mut Seen::default());
    }
    // Not vacuous: most lakes detect something, and joins both match and miss.
    assert!(
        seen.lakes_with_detections as u64 >= lakes / 2,
        "too few lakes with detections: {seen:?}"
    );
    assert!(
        seen.matched_right_sets >= 5,
        "joins rarely matched: {seen:?}"
    );
    assert!(
        seen.unmatched_right_sets >= 5,
        "joins always matched: {seen:?}"
    );
}

#[test]
fn generated_lakes_0_to_9() {
    check_seeds(0..LAKES_PER_TEST);
}

#[test]
fn generated_lakes_10_to_19() {
    check_seeds(LAKES_PER_TEST..2 * LAKES_PER_TEST);
}

#[test]
fn generated_lakes_20_to_29() {
    check_seeds(2 * LAKES_PER_TEST..3 * LAKES_PER_TEST);
}

#[test]
fn generated_lakes_30_to_39() {
    check_seeds(3 * LAKES_PER_TEST..4 * LAKES_PER_TEST);
}

/// The generator itself: deterministic per seed, and its lakes hold the collisions the
/// equivalence checks rely on.
#[test]
fn generator_is_deterministic_and_collision_heavy() {
    let a = generate(5);
    let b = generate(5);
    for table in Table::ALL {
        assert_eq!(a.rows(table), b.rows(table), "{}", table.name());
    }
    let mut services = std::collections::BTreeSet::new();
    let mut null_pids = 0;
    for seed in 0..4 * LAKES_PER_TEST {
        let lake = generate(seed);
        for row in lake.rows(Table::Process) {
            services.insert(row.service.clone());
            null_pids += usize::from(row.pid.is_none());
        }
    }
    assert!(services.contains(&Some("agent.exe".into())));
    assert!(services.contains(&Some("Agent.exe".into())));
    assert!(services.contains(&None));
    assert!(null_pids > 0);
}

/// The rule's steps are planned with shortcuts (unused view columns dropped first, one round
/// of the logical optimizer): on generated lakes, as each foreign writer lays them out, and on
/// the sample lake, every step's physical plan is the one DataFusion gives without them (with
/// `DATAFUSION_OPTIMIZER_MAX_PASSES` set to its default, 3).
#[test]
fn planning_shortcuts_plan_as_datafusion() {
    let mut lakes: Vec<(String, tempfile::TempDir)> = Vec::new();
    for seed in 0..2 {
        let lake = generate(seed);
        lake.fill_empty_tables();
        for layout in layouts::ForeignLayout::ALL {
            let dir = tempfile::tempdir().unwrap();
            layouts::relayout(lake.path(), &dir.path().join("lake"), layout);
            lakes.push((format!("seed {seed} as {layout:?}"), dir));
        }
    }
    let mut compared = 0;
    for (name, dir) in &lakes {
        let lake = dir.path().join("lake");
        let with_shortcuts = explained_plans(&lake, None);
        let as_datafusion = explained_plans(&lake, Some("3"));
        assert!(
            with_shortcuts.len() > 10,
            "{name}: no plans in {with_shortcuts:?}"
        );
        assert_eq!(
            with_shortcuts, as_datafusion,
            "{name}: the shortcuts plan otherwise"
        );
        compared += 1;
    }
    let sample = common::sample_lake_path();
    assert_eq!(
        explained_plans(&sample, None),
        explained_plans(&sample, Some("3")),
        "the sample lake: the shortcuts plan otherwise"
    );
    assert_eq!(compared, 6);
}

/// On a small lake (every lake here) the rule's aggregations finish in one partition; on a
/// large one DataFusion spreads them across partitions, as it does here with
/// `DATAFUSION_OPTIMIZER_REPARTITION_AGGREGATIONS=true`. Both ways give the same lines, and
/// each plan shows which way it ran.
#[test]
fn aggregations_in_one_partition_and_across_partitions_agree() {
    let generated: Vec<Lake> = (0..4)
        .map(|seed| {
            let lake = generate(seed);
            lake.fill_empty_tables();
            lake
        })
        .collect();
    let sample = common::sample_lake_path();
    let mut lakes: Vec<(&std::path::Path, Option<&str>)> = vec![(&sample, None)];
    lakes.extend(generated.iter().map(|lake| (lake.path(), Some(AS_OF))));
    let mut detections = 0;
    for (lake, as_of) in lakes {
        let (one_partition, one_plans) = detect_with(lake, as_of, None);
        let (across, across_plans) = detect_with(lake, as_of, Some("true"));
        assert_eq!(one_partition, across, "{}", lake.display());
        assert!(
            one_plans.contains("AggregateExec: mode=Final,"),
            "{one_plans}"
        );
        assert!(!one_plans.contains("FinalPartitioned"), "{one_plans}");
        assert!(
            across_plans.contains("AggregateExec: mode=FinalPartitioned"),
            "{across_plans}"
        );
        detections += one_partition.lines().count();
    }
    // The sample lake's four and the generated lakes' own.
    assert!(detections > 4, "{detections} detections");
}

/// `huntlake detect --explain --format ndjson` on `lake`: its lines and its plans, with
/// `DATAFUSION_OPTIMIZER_REPARTITION_AGGREGATIONS` set to `repartition` or unset.
fn detect_with(
    lake: &std::path::Path,
    as_of: Option<&str>,
    repartition: Option<&str>,
) -> (String, String) {
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("huntlake"));
    command
        .args(["detect", "--explain", "--format", "ndjson", "--lake"])
        .arg(lake)
        .env_remove("DATAFUSION_OPTIMIZER_REPARTITION_AGGREGATIONS");
    if let Some(as_of) = as_of {
        command.args(["--as-of", as_of]);
    }
    if let Some(repartition) = repartition {
        command.env("DATAFUSION_OPTIMIZER_REPARTITION_AGGREGATIONS", repartition);
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{}: {stderr}", lake.display());
    (String::from_utf8(output.stdout).unwrap(), stderr)
}

/// `huntlake detect --explain`'s plans, each line reduced to its sorted words without column
/// positions, metrics or times: the order of a join's keys and of a bound list's values is
/// not fixed from run to run.
fn explained_plans(lake: &std::path::Path, passes: Option<&str>) -> Vec<String> {
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("huntlake"));
    command
        .args([
            "detect",
            "--explain",
            "--format",
            "ndjson",
            "--as-of",
            AS_OF,
            "--lake",
        ])
        .arg(lake)
        .env_remove("DATAFUSION_OPTIMIZER_MAX_PASSES");
    if let Some(passes) = passes {
        command.env("DATAFUSION_OPTIMIZER_MAX_PASSES", passes);
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{}: {stderr}", lake.display());
    stderr
        .lines()
        .filter(|line| !line.starts_with("huntlake:") && !line.starts_with("note:"))
        .map(|line| {
            // A step's header ends with its time: "-- GetServices (0.017 s)".
            let line = match line.strip_prefix("-- ") {
                Some(header) => header.split(" (").next().unwrap_or(header).to_string(),
                None => without_metrics(line),
            };
            let mut words: Vec<&str> = line
                .split(|c: char| ", []()=".contains(c))
                .map(|word| match word.split_once('@') {
                    Some((name, position)) if position.chars().all(|c| c.is_ascii_digit()) => name,
                    _ => word,
                })
                .filter(|word| !word.is_empty())
                .collect();
            words.sort_unstable();
            words.join(" ")
        })
        .collect()
}

fn without_metrics(line: &str) -> String {
    let Some(start) = line.find("metrics=[") else {
        return line.to_string();
    };
    let mut depth = 0;
    for (i, c) in line[start..].char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return format!("{}{}", &line[..start], &line[start + i + 1..]);
                }
            }
            _ => {}
        }
    }
    line[..start].to_string()
}
