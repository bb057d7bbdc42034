//! Opening one table of the lake: list its files, read their footers, check the columns the
//! rule needs, and choose where its event time comes from. Every problem names the table, the
//! file and the column.

use std::collections::BTreeSet;

use object_store::path::Path;

use super::files::{self, DataFile};
use super::{
    DefenderTable, KustoType, LakeLocation, LakeOptions, LakeTable, SkippedFile, TimeSource,
};
use crate::error::{HuntError, Result};

/// What opening a table gave: the table, and a note for the user if there is one.
pub(super) struct Opened {
    pub table: LakeTable,
    pub notes: Vec<String>,
}

/// Opens `table` below the lake's root. `prune_before`: files in time partitions ending at or
/// before this instant are not opened.
pub(super) async fn open_table(
    lake: &LakeLocation,
    table: DefenderTable,
    options: &LakeOptions,
    prune_before: Option<i64>,
) -> Result<Opened> {
    let prefix = lake.prefix.clone().join(table.name());
    let location = match &lake.local_root {
        Some(root) => root.join(table.name()).display().to_string(),
        None => lake.describe(&prefix),
    };
    let table_error = |message: String| HuntError::Table {
        table: table.name().into(),
        path: location.clone(),
        message,
    };
    let listed = list_files(lake, table, &prefix, prune_before)
        .await
        .map_err(table_error)?;
    if !listed.folder_exists {
        if !options.allow_missing_tables {
            return Err(table_error(format!(
                "the lake has no folder for this table; expected {}/ holding its *.parquet \
                 files (--allow-missing-tables runs with it empty)",
                table.name()
            )));
        }
        return Ok(Opened {
            notes: vec![format!(
                "note: the lake has no {} folder; the table is empty",
                table.name()
            )],
            table: LakeTable::empty(table, location),
        });
    }
    if listed.files.is_empty() {
        let notes = match (listed.pruned.0, listed.found) {
            // Every partition is before the window: nothing to say.
            (pruned, _) if pruned > 0 => Vec::new(),
            (_, 0) => vec![format!(
                "note: {location} holds no Parquet file (*.parquet); {table} is empty"
            )],
            (_, found) => vec![format!(
                "note: the {found} Parquet files in {location} are all empty (zero bytes); \
                 {table} is empty"
            )],
        };
        return Ok(Opened {
            notes,
            table: LakeTable {
                pruned: listed.pruned,
                ..LakeTable::empty(table, location)
            },
        });
    }

    let (data_files, time, skipped) =
        read_and_check(lake, table, &location, listed.files, options).await?;
    let table = LakeTable {
        table,
        location,
        files: data_files,
        time,
        skipped,
        pruned: listed.pruned,
    };
    Ok(Opened {
        notes: time_note(&table).into_iter().collect(),
        table,
    })
}

/// Reads the footers of a table's files and checks them: every file's problem, in path order,
/// fails the run with the first one, or, with --skip-bad-files, sets each bad file aside. Gives
/// the usable files, the table's time source, and the files set aside.
async fn read_and_check(
    lake: &LakeLocation,
    table: DefenderTable,
    location: &str,
    listed: Vec<object_store::ObjectMeta>,
    options: &LakeOptions,
) -> Result<(Vec<DataFile>, TimeSource, Vec<SkippedFile>)> {
    let table_error = |message: String| HuntError::Table {
        table: table.name().into(),
        path: location.to_string(),
        message,
    };
    let (mut data_files, mut bad) = read_files(lake, table, listed).await;
    if data_files.is_empty() {
        return Err(nothing_readable(lake, table, location, &bad, options));
    }
    let present: BTreeSet<String> = data_files
        .iter()
        .flat_map(|f| f.schema.fields().iter().map(|field| field.name().clone()))
        .collect();
    let time = choose_time_source(table, &data_files, &present, location, options)?;
    let checked = checked_columns(table, &time);
    data_files.retain(|file| match file_problem(file, &checked) {
        None => true,
        Some(problem) => {
            bad.push((file.meta.location.clone(), problem));
            false
        }
    });
    bad.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some((file, message)) = bad.first()
        && !options.skip_bad_files
    {
        return Err(HuntError::File {
            table: table.name().into(),
            file: lake.describe(file),
            message: message.clone(),
        });
    }
    let skipped: Vec<SkippedFile> = bad
        .into_iter()
        .map(|(file, reason)| SkippedFile {
            table,
            file: lake.describe(&file),
            reason,
        })
        .collect();
    if data_files.is_empty() {
        return Err(table_error(format!(
            "none of its {} Parquet files is readable (--skip-bad-files set them all aside)",
            skipped.len()
        )));
    }
    if let Some((name, _)) = checked.iter().find(|(name, _)| {
        !data_files
            .iter()
            .any(|f| f.schema.field_with_name(name).is_ok())
    }) {
        return Err(table_error(format!(
            "column {name} is in none of the {} Parquet files; the rule needs it",
            data_files.len()
        )));
    }
    Ok((data_files, time, skipped))
}

/// A table folder's data files.
struct Listed {
    /// Whether the folder exists (on an object store: whether anything is stored below it).
    folder_exists: bool,
    /// The files to open: non-empty, and not in a partition before the window.
    files: Vec<object_store::ObjectMeta>,
    /// `*.parquet` files found, empty ones included.
    found: usize,
    /// Files in partitions wholly before the window, not opened: how many, and their bytes.
    pruned: (usize, u64),
}

async fn list_files(
    lake: &LakeLocation,
    table: DefenderTable,
    prefix: &Path,
    prune_before: Option<i64>,
) -> std::result::Result<Listed, String> {
    let folder_exists = match &lake.local_root {
        Some(root) => root.join(table.name()).is_dir(),
        None => files::anything_below(&lake.store, prefix)
            .await
            .map_err(|e| format!("cannot list files: {e}"))?,
    };
    if !folder_exists {
        return Ok(Listed {
            folder_exists,
            files: Vec::new(),
            found: 0,
            pruned: (0, 0),
        });
    }
    let listed = files::list_data_files(&lake.store, prefix)
        .await
        .map_err(|e| format!("cannot list files: {e}"))?;
    let found = listed.len();
    let mut pruned = (0usize, 0u64);
    let files = listed
        .into_iter()
        .filter(|m| m.size > 0)
        .filter(
            |m| match (prune_before, files::partition_end(prefix, &m.location)) {
                (Some(before), Some(end)) if end <= before => {
                    pruned.0 += 1;
                    pruned.1 += m.size;
                    false
                }
                _ => true,
            },
        )
        .collect();
    Ok(Listed {
        folder_exists,
        files,
        found,
        pruned,
    })
}

/// Reads the footers of `listed`: the readable files, and each other one with why not (also
/// the entries a local listing passes over: a link to nothing, a file without permission).
async fn read_files(
    lake: &LakeLocation,
    table: DefenderTable,
    listed: Vec<object_store::ObjectMeta>,
) -> (Vec<DataFile>, Vec<(Path, String)>) {
    let mut bad: Vec<(Path, String)> = Vec::new();
    if let Some(root) = &lake.local_root {
        for (path, message) in files::unreadable_local_entries(&root.join(table.name())) {
            if let Ok(location) = Path::from_absolute_path(&path) {
                bad.push((location, message));
            }
        }
    }
    let mut data_files = Vec::new();
    for footer in files::read_footers(&lake.store, listed).await {
        match footer {
            Ok(file) => data_files.push(file),
            Err((meta, message)) => bad.push((
                meta.location,
                format!("not a readable Parquet file: {message}"),
            )),
        }
    }
    (data_files, bad)
}

/// The error when no file of a table could be read: the first bad file says why.
fn nothing_readable(
    lake: &LakeLocation,
    table: DefenderTable,
    location: &str,
    bad: &[(Path, String)],
    options: &LakeOptions,
) -> HuntError {
    let (file, message) = &bad[0];
    if !options.skip_bad_files {
        return HuntError::File {
            table: table.name().into(),
            file: lake.describe(file),
            message: message.clone(),
        };
    }
    HuntError::Table {
        table: table.name().into(),
        path: location.into(),
        message: format!(
            "none of its {} Parquet files is readable (--skip-bad-files set them all aside; the \
             first: {}: {message})",
            bad.len(),
            lake.describe(file)
        ),
    }
}

/// The columns the rule reads from `table`, with their types, and its time column(s).
fn checked_columns(table: DefenderTable, time: &TimeSource) -> Vec<(&str, KustoType)> {
    let mut checked: Vec<(&str, KustoType)> = table
        .rule_columns()
        .iter()
        .map(|name| (*name, table.column(name).expect("rule column").kusto_type))
        .collect();
    let time_columns = match time {
        TimeSource::Column(c) => vec![c.as_str()],
        TimeSource::TimeGeneratedElseTimestamp => vec!["TimeGenerated", "Timestamp"],
    };
    checked.extend(time_columns.into_iter().map(|c| (c, KustoType::Datetime)));
    checked
}

/// What makes `file` unusable for the rule: a needed column of a type that cannot hold it, or
/// a datetime that nanoseconds cannot hold.
fn file_problem(file: &DataFile, checked: &[(&str, KustoType)]) -> Option<String> {
    for (name, kusto_type) in checked {
        if let Ok(field) = file.schema.field_with_name(name)
            && !kusto_type.accepts(field.data_type())
        {
            return Some(format!(
                "column {name} is {}, expected {}",
                field.data_type(),
                kusto_type.describe()
            ));
        }
        if *kusto_type == KustoType::Datetime
            && let Some(value) = files::timestamp_out_of_range(file, name)
        {
            return Some(format!(
                "column {name} holds {value}, outside the years 1677-2262 that huntlake's \
                 nanosecond datetimes can hold"
            ));
        }
    }
    None
}

fn choose_time_source(
    table: DefenderTable,
    files: &[DataFile],
    present: &BTreeSet<String>,
    location: &str,
    options: &LakeOptions,
) -> Result<TimeSource> {
    if let Some(column) = &options.time_column {
        if !present.contains(column.as_str()) {
            return Err(HuntError::Table {
                table: table.name().into(),
                path: location.into(),
                message: format!("--time-column {column}: no Parquet file has this column"),
            });
        }
        if table.column(column).is_none() {
            return Err(HuntError::Table {
                table: table.name().into(),
                path: location.into(),
                message: format!(
                    "--time-column {column}: not a column of the Defender schema for this table"
                ),
            });
        }
        return Ok(TimeSource::Column(column.clone()));
    }
    let with_time_generated = files
        .iter()
        .filter(|f| f.schema.field_with_name("TimeGenerated").is_ok())
        .count();
    if with_time_generated == files.len() && !files.is_empty() {
        Ok(TimeSource::Column("TimeGenerated".into()))
    } else if present.contains("Timestamp") {
        if with_time_generated == 0 {
            Ok(TimeSource::Column("Timestamp".into()))
        } else {
            Ok(TimeSource::TimeGeneratedElseTimestamp)
        }
    } else if with_time_generated > 0 {
        Ok(TimeSource::Column("TimeGenerated".into()))
    } else {
        Err(HuntError::Table {
            table: table.name().into(),
            path: location.into(),
            message: "no time column: no Parquet file has TimeGenerated or Timestamp \
                      (name another with --time-column)"
                .into(),
        })
    }
}

fn time_note(t: &LakeTable) -> Option<String> {
    match &t.time {
        TimeSource::Column(c) if c == "TimeGenerated" => None,
        TimeSource::Column(c) if c == "Timestamp" => Some(format!(
            "note: {} has no TimeGenerated column (an Advanced Hunting export); using Timestamp",
            t.table
        )),
        TimeSource::Column(c) => Some(format!("note: {} uses {c} as its time column", t.table)),
        TimeSource::TimeGeneratedElseTimestamp => Some(format!(
            "note: some {} files have no TimeGenerated column; their rows use Timestamp",
            t.table
        )),
    }
}
