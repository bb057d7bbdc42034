//! The same lake as other writers lay it out. Real exports come from pyarrow, DuckDB, Spark
//! and others, each with its own row groups, encodings, statistics and file counts; huntlake
//! must give the same detections on every one. [`relayout`] rewrites a test lake's Parquet
//! files the way each of [`ForeignLayout::ALL`] would, row for row, and copies everything else
//! (litter, corrupt files, the lake's own metadata) byte for byte.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::arrow_writer::ArrowWriterOptions;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForeignLayout {
    /// pyarrow's defaults: one row group per file, zstd, dictionaries, column-chunk statistics
    /// (strings included), no page index; the Arrow schema stored in the file.
    PyArrow,
    /// DuckDB's `COPY ... (FORMAT parquet)`: many row groups (122,880 rows there; 4 here, so
    /// that small lakes have several), snappy, a bloom filter per column chunk, no page index,
    /// no Arrow schema (readers see Parquet's own types only).
    DuckDb,
    /// Spark-style small files: each file cut into 4 files, snappy, no dictionaries
    /// (plain-encoded strings), no Arrow schema.
    SmallFiles,
}

impl ForeignLayout {
    pub const ALL: [ForeignLayout; 3] = [
        ForeignLayout::PyArrow,
        ForeignLayout::DuckDb,
        ForeignLayout::SmallFiles,
    ];

    fn properties(self) -> WriterProperties {
        let builder = WriterProperties::builder()
            .set_statistics_enabled(EnabledStatistics::Chunk)
            // Honoured because statistics are per chunk: these writers leave it out.
            .set_offset_index_disabled(true);
        match self {
            ForeignLayout::PyArrow => builder
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .set_max_row_group_row_count(None),
            ForeignLayout::DuckDb => builder
                .set_compression(Compression::SNAPPY)
                .set_bloom_filter_enabled(true)
                .set_max_row_group_row_count(Some(4)),
            ForeignLayout::SmallFiles => builder
                .set_compression(Compression::SNAPPY)
                .set_dictionary_enabled(false),
        }
        .build()
    }

    fn stores_arrow_schema(self) -> bool {
        self == ForeignLayout::PyArrow
    }

    /// How many files each file's rows are cut into.
    fn files_per_file(self) -> usize {
        if self == ForeignLayout::SmallFiles {
            4
        } else {
            1
        }
    }
}

/// Writes `from`'s lake below `to` as `layout` lays it out.
pub fn relayout(from: &Path, to: &Path, layout: ForeignLayout) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let source = entry.path();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            relayout(&source, &target, layout);
            continue;
        }
        match read_parquet(&source) {
            Some((schema, batches)) => write_parquet(&target, schema, &batches, layout),
            // Litter, corrupt and zero-byte files, the lake's metadata: as they are.
            None => {
                std::fs::copy(&source, &target).unwrap();
            }
        }
    }
}

/// The rows of a `.parquet` file that reads as Parquet.
fn read_parquet(path: &Path) -> Option<(SchemaRef, Vec<RecordBatch>)> {
    if path.extension().is_none_or(|e| e != "parquet") {
        return None;
    }
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).ok()?).ok()?;
    let schema = Arc::clone(builder.schema());
    let batches = builder.build().ok()?.collect::<Result<Vec<_>, _>>().ok()?;
    Some((schema, batches))
}

/// Parquet has no timestamp in seconds: writers without the Arrow schema store milliseconds
/// (arrow-rs would store bare integers, which only its own schema explains).
fn parquet_time_units(batch: RecordBatch) -> RecordBatch {
    let fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Timestamp(TimeUnit::Second, zone) => f
                .as_ref()
                .clone()
                .with_data_type(DataType::Timestamp(TimeUnit::Millisecond, zone.clone())),
            _ => f.as_ref().clone(),
        })
        .collect();
    let schema = Arc::new(Schema::new_with_metadata(
        fields,
        batch.schema().metadata().clone(),
    ));
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| cast(column, field.data_type()).unwrap())
        .collect();
    RecordBatch::try_new(schema, columns).unwrap()
}

fn write_parquet(path: &Path, schema: SchemaRef, batches: &[RecordBatch], layout: ForeignLayout) {
    let mut rows = datafusion::arrow::compute::concat_batches(&schema, batches).unwrap();
    if !layout.stores_arrow_schema() {
        rows = parquet_time_units(rows);
    }
    let schema = rows.schema();
    let per_file = rows.num_rows().div_ceil(layout.files_per_file()).max(1);
    let chunks: Vec<RecordBatch> = if rows.num_rows() == 0 {
        vec![rows]
    } else {
        (0..rows.num_rows())
            .step_by(per_file)
            .map(|start| rows.slice(start, per_file.min(rows.num_rows() - start)))
            .collect()
    };
    let split = chunks.len() > 1;
    for (n, chunk) in chunks.iter().enumerate() {
        let file_path = if split {
            let stem = path.file_stem().unwrap().to_string_lossy();
            path.with_file_name(format!("{stem}-c{n:03}.parquet"))
        } else {
            path.to_path_buf()
        };
        let options = ArrowWriterOptions::new()
            .with_properties(layout.properties())
            .with_skip_arrow_metadata(!layout.stores_arrow_schema());
        let file = File::create(&file_path).unwrap();
        let mut writer =
            ArrowWriter::try_new_with_options(file, Arc::clone(&schema), options).unwrap();
        writer.write(chunk).unwrap();
        writer.close().unwrap();
    }
}
