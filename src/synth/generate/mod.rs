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

mod encoder;
mod table_day;
mod world;

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;

use super::folder::{OutputFolder, table_day_files, write_json};
use crate::error::{HuntError, Result};
use crate::lake::{DefenderTable, LAKE_INFO_FILE};
use crate::time::{DAY, SECOND, format_kusto_datetime};
use table_day::write_table_day;
use world::World;

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
    /// Write into a folder that holds files huntlake did not write (none is deleted).
    pub force: bool,
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
            force: false,
        }
    }

    /// The end of the data for `--as-of` or `--start` and `days` (neither: today 00:00 UTC).
    pub fn end_of(as_of: Option<i64>, start: Option<i64>, days: u32) -> Result<i64> {
        match (as_of, start) {
            (Some(end), _) => Ok(end),
            (None, Some(start)) => start
                .checked_add(days as i64 * DAY)
                .ok_or_else(|| HuntError::usage("--start plus --days is past the year 2262")),
            (None, None) => Ok(crate::time::day_start(crate::time::now_nanos())),
        }
    }

    /// Every option checked, before anything touches the disk.
    pub fn validate(&self) -> Result<()> {
        if self.devices == 0 || self.days == 0 {
            return Err(HuntError::usage("--devices and --days must be at least 1"));
        }
        if !(0.0..=1.0).contains(&self.rare_per_device_day) {
            return Err(HuntError::usage(format!(
                "--rare-rate {}: expected a chance between 0 and 1",
                self.rare_per_device_day
            )));
        }
        if self.threads == 0 || self.row_group_rows == 0 {
            return Err(HuntError::usage("--threads must be at least 1"));
        }
        if self
            .end
            .checked_sub(self.days as i64 * DAY)
            .and_then(|start| start.checked_sub(DAY))
            .is_none()
        {
            return Err(HuntError::usage(
                "--as-of minus --days is before the year 1677, which nanosecond times cannot hold",
            ));
        }
        Ok(())
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

/// Writes the lake. `progress` is called with rows written so far (from several threads).
pub fn generate(
    options: &GenerateOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<GenerateSummary> {
    options.validate()?;
    let folder = OutputFolder::open(&options.out, options.force)?;
    let planned = table_day_files(options.start(), options.days);
    folder.begin(&planned)?;
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
    folder.finish(
        &planned,
        serde_json::json!({
            "complete": true,
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
