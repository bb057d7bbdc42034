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

pub mod files;
pub mod location;
pub mod schema;

use std::collections::BTreeSet;
use std::path::Path as FsPath;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::{MemorySchemaProvider, TableProvider};
use datafusion::common::{ScalarValue, TableReference};
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::FunctionRegistry;
use datafusion::prelude::{Expr, SessionContext, coalesce, ident, lit};
use object_store::ObjectStoreExt;
use object_store::path::Path;

use crate::error::{HuntError, QueryContext, Result};
pub use files::DataFile;
pub use location::LakeLocation;
pub use schema::{DefenderTable, KustoType};

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

impl TimeSource {
    pub fn describe(&self) -> String {
        match self {
            TimeSource::Column(c) => c.clone(),
            TimeSource::TimeGeneratedElseTimestamp => "TimeGenerated, else Timestamp".into(),
        }
    }
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
    /// Opens the lake at `root` (a local folder or an object-store URL, see [`LakeLocation`]),
    /// listing and checking all four tables.
    pub async fn open(root: &str, options: &LakeOptions) -> Result<Lake> {
        let location = LakeLocation::parse(root)?;
        if !location.is_local() {
            check_reachable(&location).await?;
        }
        let reference_time = read_reference_time(&location).await?;
        let since = options
            .window
            .as_ref()
            .map(|w| w.since(reference_time) - w.slack);
        let mut tables = Vec::new();
        let mut notes = Vec::new();
        for table in DefenderTable::ALL {
            let prefix = location.prefix.clone().join(table.name());
            let described = match &location.local_root {
                Some(root) => root.join(table.name()).display().to_string(),
                None => location.describe(&prefix),
            };
            if let Some(root) = &location.local_root
                && !root.join(table.name()).is_dir()
            {
                if options.allow_missing_tables {
                    notes.push(format!(
                        "note: the lake has no {} folder; the table is empty",
                        table.name()
                    ));
                    tables.push(LakeTable::empty(table, described));
                    continue;
                }
                return Err(HuntError::Table {
                    table: table.name().into(),
                    path: described,
                    message: format!(
                        "the lake has no folder for this table; expected {}/ holding its \
                         *.parquet files",
                        table.name()
                    ),
                });
            }
            let lake_table =
                open_table(&location, table, &prefix, described, options, since).await?;
            if let Some(note) = time_note(&lake_table) {
                notes.push(note);
            }
            tables.push(lake_table);
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
                    .filter(|f| stored_as_bytes(t, f.name()))
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

    pub fn table(&self, table: DefenderTable) -> &LakeTable {
        self.tables
            .iter()
            .find(|t| t.table == table)
            .expect("every table is opened")
    }

    /// Registers `raw.<Table>` and the Kusto view `<Table>` for each table in `ctx`, whose
    /// functions must already be registered.
    pub async fn register(&self, ctx: &SessionContext) -> Result<()> {
        self.location.register(ctx);
        let catalog = ctx
            .catalog("datafusion")
            .ok_or_else(|| HuntError::usage("the session has no default catalog"))?;
        if catalog.schema(RAW_SCHEMA).is_none() {
            catalog
                .register_schema(RAW_SCHEMA, Arc::new(MemorySchemaProvider::new()))
                .context("registering the raw schema")?;
        }
        for t in &self.tables {
            let raw_name = TableReference::partial(RAW_SCHEMA, t.table.name());
            ctx.register_table(raw_name.clone(), raw_table(ctx, &self.location, t)?)
                .context(format!("registering {}", t.table))?;
            let view = kusto_view(ctx, t, raw_name).await?;
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

async fn open_table(
    lake: &LakeLocation,
    table: DefenderTable,
    prefix: &Path,
    location: String,
    options: &LakeOptions,
    prune_before: Option<i64>,
) -> Result<LakeTable> {
    let store = &lake.store;
    let listed = files::list_data_files(store, prefix)
        .await
        .map_err(|e| HuntError::Table {
            table: table.name().into(),
            path: location.clone(),
            message: format!("cannot list files: {e}"),
        })?;
    let listed_count = listed.len();
    let mut non_empty: Vec<_> = listed.into_iter().filter(|m| m.size > 0).collect();
    let mut pruned = (0usize, 0u64);
    if let Some(before) = prune_before {
        non_empty.retain(|m| match files::partition_end(prefix, &m.location) {
            Some(end) if end <= before => {
                pruned.0 += 1;
                pruned.1 += m.size;
                false
            }
            _ => true,
        });
        if non_empty.is_empty() && pruned.0 > 0 {
            // Every partition is before the window: an empty table, not an error.
            return Ok(LakeTable {
                pruned,
                ..LakeTable::empty(table, location)
            });
        }
    }
    if non_empty.is_empty() {
        let message = if listed_count == 0 {
            "no Parquet files (*.parquet) in the table's folder".to_string()
        } else {
            format!(
                "no Parquet files: the {listed_count} *.parquet files found are all empty (zero bytes)"
            )
        };
        return Err(HuntError::Table {
            table: table.name().into(),
            path: location,
            message,
        });
    }
    // Every file's problem, in path order: the first one fails the run, or, with
    // --skip-bad-files, each bad file is set aside and reported.
    let mut bad: Vec<(Path, String)> = Vec::new();
    if let Some(root) = &lake.local_root {
        let folder = root.join(table.name());
        for (path, message) in files::unreadable_local_entries(&folder) {
            if let Ok(location) = Path::from_absolute_path(&path) {
                bad.push((location, message));
            }
        }
    }
    let mut data_files = Vec::new();
    for footer in files::read_footers(store, non_empty).await {
        match footer {
            Ok(file) => data_files.push(file),
            Err((meta, message)) => bad.push((
                meta.location,
                format!("not a readable Parquet file: {message}"),
            )),
        }
    }

    if data_files.is_empty() {
        // Nothing readable: the first bad file says why.
        let (file, message) = &bad[0];
        return Err(match options.skip_bad_files {
            false => HuntError::File {
                table: table.name().into(),
                file: lake.describe(file),
                message: message.clone(),
            },
            true => HuntError::Table {
                table: table.name().into(),
                path: location,
                message: format!(
                    "none of its {} Parquet files is readable (--skip-bad-files set them all \
                     aside; the first: {}: {message})",
                    bad.len(),
                    lake.describe(file)
                ),
            },
        });
    }

    // The rule's columns: each in some file, and of a usable type wherever it is.
    let present: BTreeSet<String> = data_files
        .iter()
        .flat_map(|f| f.schema.fields().iter().map(|field| field.name().clone()))
        .collect();
    let time = choose_time_source(table, &data_files, &present, &location, options)?;
    let mut checked: Vec<(&str, KustoType)> = table
        .rule_columns()
        .iter()
        .map(|name| (*name, table.column(name).expect("rule column").kusto_type))
        .collect();
    let time_columns = match &time {
        TimeSource::Column(c) => vec![c.as_str()],
        TimeSource::TimeGeneratedElseTimestamp => vec!["TimeGenerated", "Timestamp"],
    };
    checked.extend(time_columns.iter().map(|c| (*c, KustoType::Datetime)));
    data_files.retain(|file| match file_problem(file, &checked) {
        None => true,
        Some(problem) => {
            bad.push((file.meta.location.clone(), problem));
            false
        }
    });
    bad.sort_by(|a, b| a.0.cmp(&b.0));
    let skipped = match bad.first() {
        Some((file, message)) if !options.skip_bad_files => {
            return Err(HuntError::File {
                table: table.name().into(),
                file: lake.describe(file),
                message: message.clone(),
            });
        }
        _ => bad
            .into_iter()
            .map(|(file, reason)| SkippedFile {
                table,
                file: lake.describe(&file),
                reason,
            })
            .collect::<Vec<_>>(),
    };
    if data_files.is_empty() {
        return Err(HuntError::Table {
            table: table.name().into(),
            path: location,
            message: format!(
                "none of its {} Parquet files is readable (--skip-bad-files set them all aside)",
                skipped.len()
            ),
        });
    }
    for (name, _) in &checked {
        if !data_files
            .iter()
            .any(|f| f.schema.field_with_name(name).is_ok())
        {
            return Err(HuntError::Table {
                table: table.name().into(),
                path: location.clone(),
                message: format!(
                    "column {name} is in none of the {} Parquet files; the rule needs it",
                    data_files.len()
                ),
            });
        }
    }
    Ok(LakeTable {
        table,
        location,
        files: data_files,
        time,
        skipped,
        pruned,
    })
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

fn raw_table(
    ctx: &SessionContext,
    lake: &LakeLocation,
    t: &LakeTable,
) -> Result<Arc<dyn TableProvider>> {
    let schema = t.table.arrow_schema();
    if t.files.is_empty() {
        return Ok(Arc::new(EmptyTable::new(schema)));
    }
    let urls = t
        .files
        .iter()
        .map(|f| lake.table_url(&f.meta.location, false))
        .collect::<Result<Vec<_>>>()?;
    let format = ParquetFormat::default().with_options(ctx.copied_table_options().parquet);
    // The files were chosen already (see `files`): no extension filter here.
    let listing = ListingOptions::new(Arc::new(format)).with_file_extension("");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(listing)
        .with_schema(schema);
    let table = ListingTable::try_new(config).context(format!("{}: listing table", t.table))?;
    Ok(Arc::new(table))
}

/// The Kusto view of a raw table: same columns, strings never null, datetimes as ticks, and
/// `TimeGenerated` from the table's time source.
async fn kusto_view(
    ctx: &SessionContext,
    t: &LakeTable,
    raw: TableReference,
) -> Result<Arc<dyn TableProvider>> {
    let kusto_datetime = ctx
        .udf("kusto_datetime")
        .context("the kusto_datetime function")?;
    let utf8_checked = ctx
        .udf("utf8_checked")
        .context("the utf8_checked function")?;
    let empty = lit(ScalarValue::Utf8View(Some(String::new())));
    let exprs: Vec<Expr> = t
        .table
        .columns()
        .iter()
        .map(|c| {
            let value = match (c.name.as_str(), c.kusto_type) {
                ("TimeGenerated", _) => kusto_datetime.call(vec![match &t.time {
                    TimeSource::Column(name) => ident(name),
                    TimeSource::TimeGeneratedElseTimestamp => {
                        coalesce(vec![ident("TimeGenerated"), ident("Timestamp")])
                    }
                }]),
                (_, KustoType::String | KustoType::Dynamic | KustoType::Guid)
                    if stored_as_bytes(t, &c.name) =>
                {
                    utf8_checked.call(vec![
                        coalesce(vec![ident(&c.name), empty.clone()]),
                        lit(c.name.as_str()),
                    ])
                }
                (_, KustoType::String | KustoType::Dynamic | KustoType::Guid) => {
                    coalesce(vec![ident(&c.name), empty.clone()])
                }
                (_, KustoType::Datetime) => kusto_datetime.call(vec![ident(&c.name)]),
                _ => ident(&c.name),
            };
            value.alias(&c.name)
        })
        .collect();
    let view = ctx
        .table(raw)
        .await
        .context(format!("reading {}", t.table))?
        .select(exprs)
        .context(format!("the Kusto view of {}", t.table))?
        .into_view();
    Ok(view)
}

/// True when some file of `t` stores string column `name` as raw bytes (BYTE_ARRAY without the
/// UTF8 annotation): those values reach the engine unchecked, so the view checks them.
fn stored_as_bytes(t: &LakeTable, name: &str) -> bool {
    let is_string = t.table.column(name).is_some_and(|c| {
        matches!(
            c.kusto_type,
            KustoType::String | KustoType::Dynamic | KustoType::Guid
        )
    });
    is_string
        && t.files.iter().any(|f| {
            f.schema.field_with_name(name).is_ok_and(|field| {
                matches!(
                    field.data_type(),
                    DataType::Binary | DataType::LargeBinary | DataType::BinaryView
                )
            })
        })
}
