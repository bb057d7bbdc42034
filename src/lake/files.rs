//! Finding a table's Parquet files and reading their footers.
//!
//! A table folder may hold hive folders (`date=2026-11-19/`), plain nested folders
//! (`2026/11/19/`), and the litter export jobs leave (`_SUCCESS`, `.crc`, `_temporary/`):
//! every `*.parquet` at any depth is a data file, except below a name starting with `.` or `_`
//! (hidden or in-progress output, as Spark and Hive treat them). A zero-byte file holds no rows
//! and is skipped.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::arrow::parquet_to_arrow_schema;
use parquet::file::metadata::{KeyValue, ParquetMetaData};
use parquet::schema::types::TypePtr;

use crate::time::HOUR;
// Deprecated in parquet 59 in favour of hand-written readers; still the shortest correct way to
// read a footer through object_store.
#[allow(deprecated)]
use parquet::arrow::async_reader::ParquetObjectReader;

/// One Parquet file of a table, with what its footer says.
#[derive(Debug, Clone)]
pub struct DataFile {
    pub meta: ObjectMeta,
    pub schema: SchemaRef,
    pub rows: u64,
    pub metadata: Arc<ParquetMetaData>,
}

/// True if `location` (below `prefix`) is a data file huntlake reads.
pub fn is_data_file(prefix: &Path, location: &Path) -> bool {
    let Some(parts) = location.prefix_match(prefix) else {
        return false;
    };
    let parts: Vec<_> = parts.collect();
    let hidden = parts
        .iter()
        .any(|p| p.as_ref().starts_with('.') || p.as_ref().starts_with('_'));
    let is_parquet = parts
        .last()
        .is_some_and(|p| p.as_ref().to_ascii_lowercase().ends_with(".parquet"));
    is_parquet && !hidden
}

/// When `location` sits in a time partition below `prefix` (`date=2026-11-19/`,
/// `y=2026/m=11/d=19/`, `year=/month=/day=`, with an optional `h=HH/` hour below it), the end
/// of that partition's time range (exclusive), in nanoseconds since the epoch.
pub fn partition_end(prefix: &Path, location: &Path) -> Option<i64> {
    let parts: Vec<String> = location
        .prefix_match(prefix)?
        .map(|p| p.as_ref().to_string())
        .collect();
    let folders = &parts[..parts.len().saturating_sub(1)];
    let (mut year, mut month, mut day, mut hour) = (None, None, None, None);
    for folder in folders {
        let Some((key, value)) = folder.split_once('=') else {
            continue;
        };
        let number = || value.parse::<u32>().ok();
        match key.to_ascii_lowercase().as_str() {
            "date" | "dt" | "day" if value.len() == 10 => {
                let date = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()?;
                use chrono::Datelike;
                (year, month, day) = (Some(date.year()), Some(date.month()), Some(date.day()));
            }
            "y" | "year" => year = Some(number()? as i32),
            // After the hour, `m=` is the minute (the streaming API's `h=HH/m=00/`).
            "m" | "month" if hour.is_none() => month = Some(number()?),
            "d" | "day" => day = Some(number()?),
            "h" | "hour" => hour = Some(number()?),
            _ => {}
        }
    }
    let date = chrono::NaiveDate::from_ymd_opt(year?, month?, day?)?;
    let (start_hour, length) = match hour {
        Some(h) if h < 24 => (h as i64, HOUR),
        Some(_) => return None,
        None => (0, 24 * HOUR),
    };
    let start = date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_nanos_opt()?;
    Some(start + start_hour * HOUR + length)
}

/// Below a local table folder, the entries named like data files that cannot even be looked at
/// (a link to nothing, no permission): object_store's listing passes over them in silence, and
/// their rows would be lost without a word.
pub fn unreadable_local_entries(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let path = entry.path();
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => folders.push(path),
                Ok(_) => {}
                Err(e) if name.to_ascii_lowercase().ends_with(".parquet") => {
                    found.push((path, format!("cannot be read: {e}")));
                }
                Err(_) => {}
            }
        }
    }
    found.sort();
    found
}

/// Whether anything at all is stored below `prefix` (an object store has no folders: a table
/// "folder" exists when some object's path starts with it).
pub async fn anything_below(
    store: &Arc<dyn ObjectStore>,
    prefix: &Path,
) -> object_store::Result<bool> {
    match store.list(Some(prefix)).next().await {
        None => Ok(false),
        Some(first) => first.map(|_| true),
    }
}

/// Lists the data files below `prefix`, sorted by path.
pub async fn list_data_files(
    store: &Arc<dyn ObjectStore>,
    prefix: &Path,
) -> object_store::Result<Vec<ObjectMeta>> {
    let mut files: Vec<ObjectMeta> = store
        .list(Some(prefix))
        .try_filter(|meta| futures::future::ready(is_data_file(prefix, &meta.location)))
        .try_collect()
        .await?;
    files.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(files)
}

/// How many bytes from a file's end are read first when reading its footer: one read holds a
/// footer of a few hundred columns and row groups (a Spark-style file's is about 15 KiB), where
/// reading the footer's length first would take two reads, and on a local disk two file
/// openings, per file.
const FOOTER_SIZE_HINT: usize = 64 * 1024;

/// Reads the footers of `files` (several at a time), in order; an error names its file.
///
/// Each footer is read and decoded in a task of its own: decoding is CPU work, and a lake of
/// many small files (one per device-hour) spends most of its opening there, which one task
/// would do on one core.
#[allow(deprecated)]
pub async fn read_footers(
    store: &Arc<dyn ObjectStore>,
    files: Vec<ObjectMeta>,
) -> Vec<Result<DataFile, (ObjectMeta, String)>> {
    let footers: Vec<_> = futures::stream::iter(files)
        .map(|meta| {
            let store = Arc::clone(store);
            let location = meta.location.clone();
            let size = meta.size;
            let read = tokio::spawn(async move {
                let mut reader = ParquetObjectReader::new(store, location)
                    .with_file_size(size)
                    .with_footer_size_hint(FOOTER_SIZE_HINT);
                reader.get_metadata(None).await.map_err(|e| e.to_string())
            });
            async move {
                let footer = read
                    .await
                    .unwrap_or_else(|e| Err(format!("reading its footer failed: {e}")));
                (meta, footer)
            }
        })
        .buffered(16)
        .collect()
        .await;
    let mut schemas = ArrowSchemas::default();
    footers
        .into_iter()
        .map(|(meta, footer)| {
            let converted = footer.and_then(|metadata| {
                let schema = schemas.of(&metadata).map_err(|e| e.to_string())?;
                Ok((schema, metadata))
            });
            match converted {
                Ok((schema, metadata)) => Ok(DataFile {
                    rows: metadata.file_metadata().num_rows().max(0) as u64,
                    schema,
                    metadata,
                    meta,
                }),
                Err(e) => Err((meta, e)),
            }
        })
        .collect()
}

/// The Arrow schemas of Parquet footers, converted once per distinct Parquet schema and
/// key-value metadata (where writers embed their Arrow schema): the files of a table mostly
/// share one, and converting it is a good part of opening a lake of many small files.
#[derive(Default)]
struct ArrowSchemas {
    seen: Vec<(TypePtr, Option<Vec<KeyValue>>, SchemaRef)>,
}

impl ArrowSchemas {
    /// The Arrow schema the Parquet reader gives `footer`'s file (its embedded Arrow schema
    /// applied, as the reader does).
    fn of(&mut self, footer: &ParquetMetaData) -> parquet::errors::Result<SchemaRef> {
        let file = footer.file_metadata();
        let root = file.schema_descr().root_schema_ptr();
        let key_values = file.key_value_metadata();
        let known = self.seen.iter().find(|(seen_root, seen_key_values, _)| {
            (Arc::ptr_eq(seen_root, &root) || **seen_root == *root)
                && seen_key_values.as_ref() == key_values
        });
        if let Some((_, _, schema)) = known {
            return Ok(Arc::clone(schema));
        }
        let schema = Arc::new(parquet_to_arrow_schema(file.schema_descr(), key_values)?);
        self.seen
            .push((root, key_values.cloned(), Arc::clone(&schema)));
        Ok(schema)
    }
}

/// The first value of timestamp column `column` that nanoseconds cannot hold (outside the
/// years 1677-2262), judged from the row-group statistics, as text. `None` when all fit or the
/// file has no statistics for it.
pub fn timestamp_out_of_range(file: &DataFile, column: &str) -> Option<String> {
    let field = file.schema.field_with_name(column).ok()?;
    let DataType::Timestamp(unit, _) = field.data_type() else {
        return None;
    };
    let per_unit: i64 = match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => return None,
    };
    let converter = StatisticsConverter::try_new(
        column,
        &file.schema,
        file.metadata.file_metadata().schema_descr(),
    )
    .ok()?;
    let row_groups = file.metadata.row_groups();
    for values in [
        converter.row_group_mins(row_groups).ok()?,
        converter.row_group_maxes(row_groups).ok()?,
    ] {
        let values = datafusion::arrow::compute::cast(&values, &DataType::Int64).ok()?;
        let values = values.as_primitive::<Int64Type>();
        for i in 0..values.len() {
            if values.is_valid(i) && values.value(i).checked_mul(per_unit).is_none() {
                let v = values.value(i);
                let text = match unit {
                    TimeUnit::Second => chrono::DateTime::from_timestamp(v, 0),
                    TimeUnit::Millisecond => chrono::DateTime::from_timestamp_millis(v),
                    _ => Some(chrono::DateTime::from_timestamp_micros(v)?),
                }
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| format!("{v} ({unit:?} since 1970)"));
                return Some(text);
            }
        }
    }
    None
}

/// The first of `columns` (raw-byte string columns) in `file` that holds a value that is not
/// UTF-8 text. Reads only those columns; used to name the file once a run has met such bytes.
#[allow(deprecated)]
pub async fn first_non_utf8_column(
    store: &Arc<dyn ObjectStore>,
    file: &DataFile,
    columns: &[String],
) -> Option<String> {
    use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
    let indices: Vec<usize> = columns
        .iter()
        .filter_map(|c| file.schema.index_of(c).ok())
        .collect();
    if indices.is_empty() {
        return None;
    }
    let reader = ParquetObjectReader::new(Arc::clone(store), file.meta.location.clone())
        .with_file_size(file.meta.size);
    let builder = ParquetRecordBatchStreamBuilder::new(reader).await.ok()?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    let mut stream = builder.with_projection(mask).build().ok()?;
    while let Some(batch) = stream.next().await {
        let batch = batch.ok()?;
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            if crate::functions::utf8_check::first_invalid(column).is_some() {
                return Some(field.name().clone());
            }
        }
    }
    None
}

/// Where `file` cannot be decoded, if anywhere: "row group R, column C: why". The footer read
/// fine (the file was opened), but a data page may still be corrupt, which only a scan finds;
/// after a failed scan, this reads each file again to name the one at fault. Reads the whole
/// file at once and stops there when it decodes; only a file that fails is read again column
/// by column, to say where.
#[allow(deprecated)]
pub async fn first_decode_error(store: &Arc<dyn ObjectStore>, file: &DataFile) -> Option<String> {
    use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
    let decode = |row_groups: Option<Vec<usize>>, column: Option<usize>| async move {
        let reader = ParquetObjectReader::new(Arc::clone(store), file.meta.location.clone())
            .with_file_size(file.meta.size);
        let mut builder = ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(row_groups) = row_groups {
            builder = builder.with_row_groups(row_groups);
        }
        if let Some(column) = column {
            let mask = ProjectionMask::roots(builder.parquet_schema(), [column]);
            builder = builder.with_projection(mask);
        }
        let mut stream = builder.build().map_err(|e| e.to_string())?;
        while let Some(batch) = stream.next().await {
            batch.map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    };
    let whole = decode(None, None).await.err()?;
    for row_group in 0..file.metadata.num_row_groups() {
        for (column, field) in file.schema.fields().iter().enumerate() {
            if let Err(why) = decode(Some(vec![row_group]), Some(column)).await {
                return Some(format!(
                    "row group {row_group}, column {}: {why}",
                    field.name()
                ));
            }
        }
    }
    Some(whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(path: &str) -> Option<String> {
        partition_end(&Path::from("lake/T"), &Path::from(format!("lake/T/{path}")))
            .map(|n| chrono::DateTime::from_timestamp_nanos(n).to_rfc3339())
    }

    #[test]
    fn partition_folders_give_the_end_of_their_range() {
        assert_eq!(
            end("date=2026-11-19/part-0.parquet").as_deref(),
            Some("2026-11-20T00:00:00+00:00")
        );
        assert_eq!(
            end("y=2026/m=11/d=19/h=07/m=00/PT1H.parquet").as_deref(),
            Some("2026-11-19T08:00:00+00:00")
        );
        assert_eq!(
            end("tenantId=x/year=2026/month=02/day=28/a.parquet").as_deref(),
            Some("2026-03-01T00:00:00+00:00")
        );
        assert_eq!(end("2026/11/19/a.parquet"), None);
        assert_eq!(end("y=2026/m=11/a.parquet"), None);
        assert_eq!(end("date=2026-13-01/a.parquet"), None);
        assert_eq!(end("date=2026-11-19.parquet"), None);
    }

    /// Files with one Parquet schema and the same embedded Arrow schema share one conversion;
    /// another embedded schema (here: the strings as large strings) gets its own, and each is
    /// the schema the Parquet reader gives the file.
    #[tokio::test]
    async fn each_distinct_schema_is_converted_once() {
        use datafusion::arrow::array::{LargeStringArray, RecordBatch, StringArray};
        use parquet::arrow::ArrowWriter;
        use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};

        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, batch: &RecordBatch| {
            let file = std::fs::File::create(dir.path().join(name)).unwrap();
            let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
            writer.write(batch).unwrap();
            writer.close().unwrap();
        };
        let names = |values: &[&str]| {
            RecordBatch::try_from_iter([(
                "FileName",
                Arc::new(StringArray::from(values.to_vec())) as _,
            )])
            .unwrap()
        };
        write("a.parquet", &names(&["a.exe"]));
        write("b.parquet", &names(&["b.exe", "c.exe"]));
        let large = RecordBatch::try_from_iter([(
            "FileName",
            Arc::new(LargeStringArray::from(vec!["d.exe"])) as _,
        )])
        .unwrap();
        write("c.parquet", &large);

        let store: Arc<dyn ObjectStore> = Arc::new(object_store::local::LocalFileSystem::new());
        let folder = Path::from_absolute_path(dir.path()).unwrap();
        let listed = list_data_files(&store, &folder).await.unwrap();
        let files: Vec<DataFile> = read_footers(&store, listed)
            .await
            .into_iter()
            .map(|f| f.unwrap())
            .collect();
        assert_eq!(files.len(), 3);
        assert!(Arc::ptr_eq(&files[0].schema, &files[1].schema));
        assert!(!Arc::ptr_eq(&files[0].schema, &files[2].schema));
        assert_eq!(files[2].schema.field(0).data_type(), &DataType::LargeUtf8);
        for file in &files {
            let reader =
                ArrowReaderMetadata::try_new(Arc::clone(&file.metadata), ArrowReaderOptions::new())
                    .unwrap();
            assert_eq!(&file.schema, reader.schema());
        }
        assert_eq!(files[1].rows, 2);
    }
}
