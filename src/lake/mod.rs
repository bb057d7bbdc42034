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
pub mod schema;

use std::collections::BTreeSet;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use datafusion::catalog::{MemorySchemaProvider, TableProvider};
use datafusion::common::{ScalarValue, TableReference};
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::FunctionRegistry;
use datafusion::prelude::{Expr, SessionContext, coalesce, ident, lit};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;

use crate::error::{HuntError, QueryContext, Result};
pub use files::DataFile;
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
}

impl LakeTable {
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
    local: Arc<LocalFileSystem>,
}

impl Lake {
    /// Opens the lake at `root` (a local folder), listing and checking all four tables.
    pub async fn open(root: &str, options: &LakeOptions) -> Result<Lake> {
        let root_path = absolute(root)?;
        if !root_path.is_dir() {
            return Err(HuntError::Lake {
                root: root.to_string(),
                message: if root_path.exists() {
                    "is not a folder".into()
                } else {
                    "does not exist".into()
                },
            });
        }
        let local = Arc::new(LocalFileSystem::new());
        let store: Arc<dyn ObjectStore> = local.clone();
        let mut tables = Vec::new();
        let mut notes = Vec::new();
        for table in DefenderTable::ALL {
            let dir = root_path.join(table.name());
            let location = dir.display().to_string();
            if !dir.is_dir() {
                return Err(HuntError::Table {
                    table: table.name().into(),
                    path: location,
                    message: format!(
                        "the lake has no folder for this table; expected {}/ holding its \
                         *.parquet files",
                        table.name()
                    ),
                });
            }
            let prefix = Path::from_filesystem_path(&dir).map_err(|e| HuntError::Table {
                table: table.name().into(),
                path: location.clone(),
                message: e.to_string(),
            })?;
            let lake_table = open_table(&store, table, &prefix, location, options).await?;
            if let Some(note) = time_note(&lake_table) {
                notes.push(note);
            }
            tables.push(lake_table);
        }
        let reference_time = read_reference_time(&root_path)?;
        Ok(Lake {
            root: root.to_string(),
            tables,
            reference_time,
            notes,
            local,
        })
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
            ctx.register_table(raw_name.clone(), raw_table(ctx, &self.local, t)?)
                .context(format!("registering {}", t.table))?;
            let view = kusto_view(ctx, t, raw_name).await?;
            ctx.register_table(TableReference::bare(t.table.name()), view)
                .context(format!("registering {}", t.table))?;
        }
        Ok(())
    }
}

fn absolute(root: &str) -> Result<PathBuf> {
    std::path::absolute(root).map_err(|source| HuntError::Io {
        context: format!("lake {root}"),
        source,
    })
}

async fn open_table(
    store: &Arc<dyn ObjectStore>,
    table: DefenderTable,
    prefix: &Path,
    location: String,
    options: &LakeOptions,
) -> Result<LakeTable> {
    let listed = files::list_data_files(store, prefix)
        .await
        .map_err(|e| HuntError::Table {
            table: table.name().into(),
            path: location.clone(),
            message: format!("cannot list files: {e}"),
        })?;
    let listed_count = listed.len();
    let non_empty: Vec<_> = listed.into_iter().filter(|m| m.size > 0).collect();
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
    let data_files = files::read_footers(store, non_empty)
        .await
        .map_err(|(meta, message)| HuntError::File {
            table: table.name().into(),
            file: display_path(&meta.location),
            message: format!("not a readable Parquet file: {message}"),
        })?;

    // The rule's columns: each in some file, and of a usable type wherever it is.
    let present: BTreeSet<&str> = data_files
        .iter()
        .flat_map(|f| f.schema.fields().iter().map(|field| field.name().as_str()))
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
    for (name, kusto_type) in &checked {
        if !present.contains(name) {
            return Err(HuntError::Table {
                table: table.name().into(),
                path: location.clone(),
                message: format!(
                    "column {name} is in none of the {} Parquet files; the rule needs it",
                    data_files.len()
                ),
            });
        }
        for file in &data_files {
            if let Ok(field) = file.schema.field_with_name(name)
                && !kusto_type.accepts(field.data_type())
            {
                return Err(HuntError::File {
                    table: table.name().into(),
                    file: display_path(&file.meta.location),
                    message: format!(
                        "column {name} is {}, expected {}",
                        field.data_type(),
                        kusto_type.describe()
                    ),
                });
            }
            if *kusto_type == KustoType::Datetime
                && let Some(value) = files::timestamp_out_of_range(file, name)
            {
                return Err(HuntError::File {
                    table: table.name().into(),
                    file: display_path(&file.meta.location),
                    message: format!(
                        "column {name} holds {value}, outside the years 1677-2262 that \
                         huntlake's nanosecond datetimes can hold"
                    ),
                });
            }
        }
    }
    Ok(LakeTable {
        table,
        location,
        files: data_files,
        time,
    })
}

fn choose_time_source(
    table: DefenderTable,
    files: &[DataFile],
    present: &BTreeSet<&str>,
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

fn display_path(location: &Path) -> String {
    format!("/{location}")
}

fn read_reference_time(root: &FsPath) -> Result<Option<i64>> {
    let path = root.join(LAKE_INFO_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let bad = |message: String| HuntError::Lake {
        root: root.display().to_string(),
        message: format!("{LAKE_INFO_FILE}: {message}"),
    };
    let info: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
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
    local: &LocalFileSystem,
    t: &LakeTable,
) -> Result<Arc<dyn TableProvider>> {
    let schema = t.table.arrow_schema();
    if t.files.is_empty() {
        return Ok(Arc::new(EmptyTable::new(schema)));
    }
    let urls = t
        .files
        .iter()
        .map(|f| {
            let path = local
                .path_to_filesystem(&f.meta.location)
                .map_err(|e| HuntError::File {
                    table: t.table.name().into(),
                    file: display_path(&f.meta.location),
                    message: e.to_string(),
                })?;
            local_table_url(&path, false)
        })
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
