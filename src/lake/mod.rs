//! The lake: a root folder with one folder per Defender table, each holding Parquet files at
//! any depth. Opening a lake lists and checks every file (readable Parquet, the rule's columns
//! present somewhere, of usable types) so that a bad lake fails up front with a message naming
//! the table, the file and the column, never with an empty or partial answer.
//!
//! Each table is registered twice in a session:
//! - `raw.<Table>`: the Parquet files as they are (a DataFusion listing table over the files,
//!   cast to one schema: any time unit or zone, any string layout, int32 or int64);
//! - `<Table>`: the Kusto view of it, which the rule and the user's SQL read: strings are never
//!   null (`""`, as in Kusto), datetimes are UTC 100-ns ticks, and `TimeGenerated` is the
//!   table's time column.

pub(crate) mod files;
pub(crate) mod location;
pub(crate) mod schema;
mod statistics;
mod table;
mod view;

use std::path::Path as FsPath;
use std::sync::Arc;

use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::TableReference;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::prelude::SessionContext;
use object_store::ObjectStoreExt;

use crate::error::{HuntError, QueryContext, Result};
pub use files::DataFile;
pub use location::{LakeLocation, LakeSource};
pub use schema::{Column, DefenderTable, KustoType};

/// The name of the optional file at a lake's root that gives its reference time (the embedded
/// sample carries one so that its demo finds detections on any date).
pub const LAKE_INFO_FILE: &str = "huntlake-lake.json";

/// The schema holding the raw Parquet tables.
pub const RAW_SCHEMA: &str = "raw";

#[derive(Debug, Clone, Default)]
pub struct LakeOptions {
    /// Use this column as every table's time column instead of `TimeGenerated`/`Timestamp`.
    pub time_column: Option<String>,
    /// Set aside files that cannot be read or used (reported in [`LakeTable::skipped`])
    /// instead of failing.
    pub skip_bad_files: bool,
    /// The run's time window: files in time partitions wholly before it are not opened.
    pub window: Option<Window>,
    /// A table without a folder is empty (the shell), instead of an error (the rule).
    pub allow_missing_tables: bool,
}

/// A detection's time window, for partition pruning.
#[derive(Debug, Clone)]
pub struct Window {
    /// `now()`; `None`: the lake's reference time, else `now`.
    pub as_of: Option<i64>,
    /// The run's clock, read once so that pruning and the rule agree on the window.
    pub now: i64,
    pub lookback: i64,
    /// How far a partition's folder date may be from the rows' time column (an export that
    /// partitions by event time while the rule reads ingestion time): a partition is skipped
    /// only when it ends this long before the window starts.
    pub slack: i64,
}

impl Window {
    /// The window's exclusive start.
    pub fn since(&self, reference_time: Option<i64>) -> i64 {
        let as_of = self.as_of.or(reference_time).unwrap_or(self.now);
        as_of.saturating_sub(self.lookback)
    }
}

/// Where a table's event time comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeSource {
    /// One column (`TimeGenerated`, `Timestamp`, or the user's `--time-column`).
    Column(String),
    /// `TimeGenerated`, or `Timestamp` in rows (files) that lack it: a lake mixing Sentinel and
    /// Advanced Hunting exports.
    TimeGeneratedElseTimestamp,
}

/// One table of the lake, checked.
#[derive(Debug, Clone)]
pub struct LakeTable {
    pub table: DefenderTable,
    /// The table's folder, for messages.
    pub location: String,
    pub files: Vec<DataFile>,
    pub time: TimeSource,
    /// Files set aside by `--skip-bad-files`.
    pub skipped: Vec<SkippedFile>,
    /// Files in partitions wholly before the window, not opened: how many, and their bytes.
    pub pruned: (usize, u64),
}

/// A file `--skip-bad-files` set aside, and why.
#[derive(Debug, Clone)]
pub struct SkippedFile {
    pub table: DefenderTable,
    pub file: String,
    pub reason: String,
}

impl LakeTable {
    /// A table with no files (its raw table is empty, with the Defender schema).
    fn empty(table: DefenderTable, location: String) -> LakeTable {
        LakeTable {
            table,
            location,
            files: Vec::new(),
            time: TimeSource::Column("TimeGenerated".into()),
            skipped: Vec::new(),
            pruned: (0, 0),
        }
    }

    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }
}

#[derive(Debug, Clone)]
pub struct Lake {
    pub root: String,
    pub tables: Vec<LakeTable>,
    /// The lake's own reference time (nanoseconds), from [`LAKE_INFO_FILE`].
    pub reference_time: Option<i64>,
    /// Things the user should know (time column fallbacks), for stderr.
    pub notes: Vec<String>,
    pub location: LakeLocation,
}

impl Lake {
    /// Opens the lake at `source` (a local folder, an object-store URL, see [`LakeLocation`],
    /// or the embedded sample), listing and checking all four tables.
    pub async fn open(source: &LakeSource, options: &LakeOptions) -> Result<Lake> {
        let location = LakeLocation::open(source).await?;
        if !location.is_local() {
            check_reachable(&location).await?;
        }
        let reference_time = read_reference_time(&location).await?;
        let prune_before = options
            .window
            .as_ref()
            .map(|w| w.since(reference_time) - w.slack);
        let mut tables = Vec::new();
        let mut notes = Vec::new();
        for table in DefenderTable::ALL {
            let opened = table::open_table(&location, table, options, prune_before).await?;
            notes.extend(opened.notes);
            tables.push(opened.table);
        }
        Ok(Lake {
            root: location.display.clone(),
            tables,
            reference_time,
            notes,
            location,
        })
    }

    /// After a run met bytes that are not UTF-8 (see `functions::utf8_check`): the first file
    /// holding them, as an error naming the table, the file and the column.
    pub async fn explain_non_utf8(&self) -> Option<HuntError> {
        for t in &self.tables {
            for file in &t.files {
                let columns: Vec<String> = file
                    .schema
                    .fields()
                    .iter()
                    .filter(|f| view::stored_as_bytes(t, f.name()))
                    .map(|f| f.name().clone())
                    .collect();
                if let Some(column) =
                    files::first_non_utf8_column(&self.location.store, file, &columns).await
                {
                    return Some(HuntError::File {
                        table: t.table.name().into(),
                        file: self.location.describe(&file.meta.location),
                        message: format!(
                            "column {column} holds {}",
                            crate::functions::utf8_check::NOT_UTF8
                        ),
                    });
                }
            }
        }
        None
    }

    /// After a scan failed on a file that could not be decoded (a corrupt data page behind a
    /// readable footer): every such file, as (table index, file index, where and why).
    pub(crate) async fn find_undecodable_files(&self) -> Vec<(usize, usize, String)> {
        use futures::StreamExt;
        let every_file = self.tables.iter().enumerate().flat_map(|(t, table)| {
            table
                .files
                .iter()
                .enumerate()
                .map(move |(f, file)| (t, f, file))
        });
        let mut found: Vec<(usize, usize, String)> = futures::stream::iter(every_file)
            .map(|(t, f, file)| async move {
                let why = files::first_decode_error(&self.location.store, file).await;
                why.map(|why| (t, f, why))
            })
            .buffer_unordered(4)
            .filter_map(futures::future::ready)
            .collect()
            .await;
        found.sort();
        found
    }

    /// Sets aside the files `find_undecodable_files` found: they leave their tables and are
    /// listed as skipped. A table left without a file is an error, as when opening the lake.
    pub(crate) fn set_aside(&mut self, files: Vec<(usize, usize, String)>) -> Result<()> {
        for (t, f, why) in files.into_iter().rev() {
            let table = &mut self.tables[t];
            let file = table.files.remove(f);
            table.skipped.push(SkippedFile {
                table: table.table,
                file: self.location.describe(&file.meta.location),
                reason: format!("cannot be decoded ({why})"),
            });
            if table.files.is_empty() {
                return Err(HuntError::Table {
                    table: table.table.name().into(),
                    path: table.location.clone(),
                    message: format!(
                        "none of its {} Parquet files is readable (--skip-bad-files set them \
                         all aside)",
                        table.skipped.len()
                    ),
                });
            }
        }
        Ok(())
    }

    /// The error for a file that cannot be decoded, naming the table and the file.
    pub(crate) fn undecodable_error(&self, (t, f, why): &(usize, usize, String)) -> HuntError {
        let table = &self.tables[*t];
        HuntError::File {
            table: table.table.name().into(),
            file: self.location.describe(&table.files[*f].meta.location),
            message: format!("cannot be decoded: {why} (--skip-bad-files runs without such files)"),
        }
    }

    /// Registers `raw.<Table>` and the Kusto view `<Table>` for each table in `ctx`, whose
    /// functions must already be registered.
    pub async fn register(&self, ctx: &SessionContext) -> Result<()> {
        self.location.register(ctx);
        let catalog = ctx
            .catalog("datafusion")
            .ok_or_else(|| HuntError::Internal("the session has no default catalog".into()))?;
        if catalog.schema(RAW_SCHEMA).is_none() {
            catalog
                .register_schema(RAW_SCHEMA, Arc::new(MemorySchemaProvider::new()))
                .context("registering the raw schema")?;
        }
        let files: Vec<_> = self.tables.iter().flat_map(|t| &t.files).collect();
        statistics::seed_metadata_cache(ctx, &files);
        for t in &self.tables {
            let raw_name = TableReference::partial(RAW_SCHEMA, t.table.name());
            ctx.register_table(raw_name.clone(), view::raw_table(ctx, &self.location, t)?)
                .context(format!("registering {}", t.table))?;
            let view = view::kusto_view(ctx, t, raw_name).await?;
            ctx.register_table(TableReference::bare(t.table.name()), view)
                .context(format!("registering {}", t.table))?;
        }
        Ok(())
    }
}

/// An object store that cannot be listed (down, no access, no such container) fails here,
/// once, naming the lake, rather than once per table.
async fn check_reachable(location: &LakeLocation) -> Result<()> {
    let listed = location
        .store
        .list_with_delimiter(Some(&location.prefix))
        .await
        .map_err(|e| HuntError::Lake {
            root: location.display.clone(),
            message: format!("cannot list: {}", object_store_message(&e)),
        })?;
    if listed.common_prefixes.is_empty() && listed.objects.is_empty() {
        return Err(HuntError::Lake {
            root: location.display.clone(),
            message: "does not exist (nothing is stored under this prefix)".into(),
        });
    }
    Ok(())
}

/// object_store's message, first line only (the rest repeats the request).
fn object_store_message(e: &object_store::Error) -> String {
    let text = e.to_string();
    text.lines().next().unwrap_or_default().to_string()
}

async fn read_reference_time(lake: &LakeLocation) -> Result<Option<i64>> {
    let path = lake.prefix.clone().join(LAKE_INFO_FILE);
    let bad = |message: String| HuntError::Lake {
        root: lake.display.clone(),
        message: format!("{LAKE_INFO_FILE}: {message}"),
    };
    let bytes = match lake.store.get(&path).await {
        Ok(got) => got
            .bytes()
            .await
            .map_err(|e| bad(object_store_message(&e)))?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(bad(object_store_message(&e))),
    };
    let info: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    match info.get("reference_time") {
        None => Ok(None),
        Some(serde_json::Value::String(s)) => crate::time::parse_datetime(s)
            .map(Some)
            .map_err(|e| bad(e.to_string())),
        Some(other) => Err(bad(format!(
            "reference_time must be an RFC 3339 string, got {other}"
        ))),
    }
}

/// A listing-table URL for exactly this local file or folder: no glob characters, no URL
/// syntax (`#`, `?`, `%` in names are escaped, not interpreted).
pub fn local_table_url(path: &FsPath, folder: bool) -> Result<ListingTableUrl> {
    let url = if folder {
        url::Url::from_directory_path(path)
    } else {
        url::Url::from_file_path(path)
    }
    .map_err(|()| HuntError::Lake {
        root: path.display().to_string(),
        message: "not an absolute local path".into(),
    })?;
    ListingTableUrl::try_new(url, None).context(format!("the path {}", path.display()))
}
