//! A Parquet writer for data whose repeated values the caller can name by index.
//!
//! `ArrowWriter` hashes every value it is given into the column's dictionary: with about thirty
//! string columns per row that repeat a few thousand values, that hashing (and the copies around
//! it) was most of the generator's time. Here a batch hands each repeating column a table of
//! candidate values and, per row, an index into that table. A candidate is interned into the
//! column chunk's dictionary the first time a row uses it; after that a row costs one lookup.
//!
//! The output is Parquet v1 as `ArrowWriter` writes it with the generator's settings:
//! - repeating columns (strings, process ids and times): a PLAIN dictionary page and
//!   RLE_DICTIONARY pages of RLE/bit-packed indices, going on in PLAIN once the chunk's
//!   dictionary passes 1 MiB (as parquet-rs and parquet-mr do);
//! - numbers that hardly repeat (event times, sizes, ports): PLAIN;
//! - optional columns with RLE definition levels; zstd pages of at most 20,000 rows; chunk
//!   statistics (min, max, nulls) on all but strings; page encoding statistics (whether every
//!   data page of a chunk is dictionary-encoded); an offset index, so readers can skip pages.

use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::datatypes::Schema;
use datafusion::parquet::arrow::ArrowSchemaConverter;
use datafusion::parquet::basic::{
    Compression, Encoding, PageType, Type as PhysicalType, ZstdLevel,
};
use datafusion::parquet::column::page::{CompressedPage, Page, PageWriter};
use datafusion::parquet::column::writer::ColumnCloseResult;
use datafusion::parquet::errors::{ParquetError, Result};
use datafusion::parquet::file::metadata::{ColumnChunkMetaData, PageEncodingStats};
use datafusion::parquet::file::page_index::offset_index::{OffsetIndexMetaData, PageLocation};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::file::statistics::Statistics;
use datafusion::parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use datafusion::parquet::schema::types::ColumnDescPtr;

/// Rows per data page: `ArrowWriter`'s default row limit.
const PAGE_ROWS: usize = 20_000;
/// Bytes per PLAIN string page before it is cut early.
const PAGE_BYTES: usize = 1 << 20;
/// A chunk's dictionary page may grow to this; then the chunk goes on in PLAIN.
const DICTIONARY_BYTES: usize = 1 << 20;
const ZSTD_LEVEL: i32 = 1;

/// A batch's candidate values for a column (strings, or numbers that repeat), each looked up
/// only the first time a row uses it.
pub(super) trait ValueTable {
    fn kind(&self) -> ColumnKind;
    fn len(&self) -> usize;
    /// Appends the entry's PLAIN encoding, which is also its dictionary key.
    fn put_plain(&self, entry: usize, out: &mut Vec<u8>);
    /// The entry as a number, for statistics; `None` for strings.
    fn number(&self, _entry: usize) -> Option<i64> {
        None
    }
}

impl<S: AsRef<str>> ValueTable for Vec<S> {
    fn kind(&self) -> ColumnKind {
        ColumnKind::String
    }
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn put_plain(&self, entry: usize, out: &mut Vec<u8>) {
        put_plain_string(out, self[entry].as_ref());
    }
}

impl<S: AsRef<str>> ValueTable for &[S] {
    fn kind(&self) -> ColumnKind {
        ColumnKind::String
    }
    fn len(&self) -> usize {
        <[S]>::len(self)
    }
    fn put_plain(&self, entry: usize, out: &mut Vec<u8>) {
        put_plain_string(out, self[entry].as_ref());
    }
}

/// Repeated 64-bit numbers (ids, times).
pub(super) struct Longs(pub Vec<i64>);

impl ValueTable for Longs {
    fn kind(&self) -> ColumnKind {
        ColumnKind::Int64
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn put_plain(&self, entry: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0[entry].to_le_bytes());
    }
    fn number(&self, entry: usize) -> Option<i64> {
        Some(self.0[entry])
    }
}

/// Repeated 32-bit numbers (ports).
pub(super) struct Ints(pub Vec<i32>);

impl ValueTable for Ints {
    fn kind(&self) -> ColumnKind {
        ColumnKind::Int32
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn put_plain(&self, entry: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0[entry].to_le_bytes());
    }
    fn number(&self, entry: usize) -> Option<i64> {
        Some(self.0[entry] as i64)
    }
}

/// One batch's values for one column.
pub(super) enum Values<'a> {
    /// Row `i` holds entry `rows[i]` of `table`, dictionary-encoded. `lasting`: the table is
    /// the one this column was given before, with the same entries at the same places (it may
    /// have grown), so the dictionary ids found for it still hold.
    Indexed {
        table: &'a dyn ValueTable,
        rows: &'a [u32],
        lasting: bool,
    },
    /// Every row holds this string.
    String(&'a str),
    /// Numbers that hardly repeat: PLAIN.
    Int64(&'a [i64]),
    Int32(&'a [i32]),
    /// Every row holds this flag.
    Bool(bool),
    Null,
}

/// What a column holds, fixed for the whole file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum ColumnKind {
    String,
    Int64,
    Int32,
    Bool,
    Null,
}

impl Values<'_> {
    fn kind(&self) -> ColumnKind {
        match self {
            Values::Indexed { table, .. } => table.kind(),
            Values::String(_) => ColumnKind::String,
            Values::Int64(_) => ColumnKind::Int64,
            Values::Int32(_) => ColumnKind::Int32,
            Values::Bool(_) => ColumnKind::Bool,
            Values::Null => ColumnKind::Null,
        }
    }
}

/// Writes one Parquet file, a row group at a time.
pub(super) struct TableWriter {
    file: SerializedFileWriter<File>,
    columns: Vec<ColumnChunk>,
    group_rows: usize,
    rows_in_group: usize,
    compressor: zstd::bulk::Compressor<'static>,
}

impl TableWriter {
    /// `kinds` gives, per field of `schema`, what the batches will hand it.
    pub fn new(
        file: File,
        schema: &Schema,
        kinds: &[ColumnKind],
        group_rows: usize,
    ) -> Result<TableWriter> {
        let descriptor = ArrowSchemaConverter::new().convert(schema)?;
        if kinds.len() != descriptor.num_columns() {
            return Err(ParquetError::General(format!(
                "{} columns planned for a schema of {} columns",
                kinds.len(),
                descriptor.num_columns()
            )));
        }
        let columns = descriptor
            .columns()
            .iter()
            .zip(kinds)
            .map(|(descr, kind)| ColumnChunk::new(Arc::clone(descr), *kind))
            .collect::<Result<Vec<_>>>()?;
        let properties = WriterProperties::builder()
            .set_compression(compression())
            .build();
        let file =
            SerializedFileWriter::new(file, descriptor.root_schema_ptr(), Arc::new(properties))?;
        Ok(TableWriter {
            file,
            columns,
            group_rows: group_rows.max(1),
            rows_in_group: 0,
            compressor: zstd::bulk::Compressor::new(ZSTD_LEVEL)?,
        })
    }

    /// Rows the current row group still takes: callers cut batches there.
    pub fn room_in_group(&self) -> usize {
        self.group_rows - self.rows_in_group
    }

    /// Appends `rows` rows, given per column. `rows` must fit in the current row group.
    pub fn append(&mut self, values: &[Values<'_>], rows: usize) -> Result<()> {
        if rows > self.room_in_group() || values.len() != self.columns.len() {
            return Err(ParquetError::General(format!(
                "a batch of {rows} rows and {} columns does not fit ({} rows left, {} columns)",
                values.len(),
                self.room_in_group(),
                self.columns.len()
            )));
        }
        for (column, values) in self.columns.iter_mut().zip(values) {
            column.append(values, rows, &mut self.compressor)?;
        }
        self.rows_in_group += rows;
        if self.rows_in_group == self.group_rows {
            self.flush_group()?;
        }
        Ok(())
    }

    fn flush_group(&mut self) -> Result<()> {
        if self.rows_in_group == 0 {
            return Ok(());
        }
        let mut group = self.file.next_row_group()?;
        for column in &mut self.columns {
            let (bytes, close) = column.finish_chunk(&mut self.compressor)?;
            group.append_column(&bytes, close)?;
        }
        group.close()?;
        self.rows_in_group = 0;
        Ok(())
    }

    /// Writes the last row group and the footer.
    pub fn close(mut self) -> Result<()> {
        self.flush_group()?;
        self.file.close()?;
        Ok(())
    }
}

fn compression() -> Compression {
    Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL).expect("a valid zstd level"))
}

/// A column chunk being written: its dictionary, the page being filled, and the pages done.
struct ColumnChunk {
    descr: ColumnDescPtr,
    kind: ColumnKind,
    dictionary: Dictionary,
    /// Once the dictionary is full, the rest of the chunk is PLAIN.
    plain: bool,
    /// For the table last given: each entry's dictionary id, or `UNSEEN`. Kept while the
    /// table lasts (see [`Values::Indexed`]) and the chunk's dictionary does.
    ids_of_table: Vec<u32>,
    page: PendingPage,
    /// Compressed pages with their headers, in order; offsets are relative to its start.
    pages: TrackedWrite<Vec<u8>>,
    locations: Vec<PageLocation>,
    /// Data pages written per encoding: the chunk's encodings and its page encoding statistics
    /// (readers learn from them whether every data page is dictionary-encoded).
    data_pages: Vec<(Encoding, i32)>,
    rows: usize,
    uncompressed_bytes: i64,
    min: i64,
    max: i64,
}

const UNSEEN: u32 = u32::MAX;

/// The rows of the page being filled.
#[derive(Default)]
struct PendingPage {
    rows: usize,
    /// Dictionary ids (string columns in dictionary mode).
    ids: Vec<u32>,
    /// PLAIN-encoded values (numbers, flags as bytes, strings after the fallback).
    plain: Vec<u8>,
    /// Booleans are bit-packed when the page is written.
    flags: Vec<bool>,
}

#[derive(Default)]
struct Dictionary {
    /// Values by their PLAIN encoding.
    ids: HashMap<Box<[u8]>, u32, foldhash::fast::FixedState>,
    /// The dictionary page's PLAIN values.
    plain: Vec<u8>,
    scratch: Vec<u8>,
}

impl Dictionary {
    fn len(&self) -> usize {
        self.ids.len()
    }

    /// The entry's id, or `None` if adding it would overfill the dictionary.
    fn intern(&mut self, table: &dyn ValueTable, entry: usize) -> Option<u32> {
        self.scratch.clear();
        table.put_plain(entry, &mut self.scratch);
        if let Some(id) = self.ids.get(self.scratch.as_slice()) {
            return Some(*id);
        }
        if self.plain.len() + self.scratch.len() > DICTIONARY_BYTES && !self.ids.is_empty() {
            return None;
        }
        let id = self.ids.len() as u32;
        self.plain.extend_from_slice(&self.scratch);
        self.ids.insert(self.scratch.as_slice().into(), id);
        Some(id)
    }

    fn clear(&mut self) {
        self.ids.clear();
        self.plain.clear();
    }
}

fn put_plain_string(out: &mut Vec<u8>, value: &str) {
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value.as_bytes());
}

impl ColumnChunk {
    fn new(descr: ColumnDescPtr, kind: ColumnKind) -> Result<ColumnChunk> {
        let physical = descr.physical_type();
        let fits = match kind {
            ColumnKind::String => physical == PhysicalType::BYTE_ARRAY,
            ColumnKind::Int64 => physical == PhysicalType::INT64,
            ColumnKind::Int32 => physical == PhysicalType::INT32,
            ColumnKind::Bool => physical == PhysicalType::BOOLEAN,
            ColumnKind::Null => true,
        };
        if !fits || descr.max_def_level() != 1 || descr.max_rep_level() != 0 {
            return Err(ParquetError::General(format!(
                "column {} ({physical}, definition level {}) cannot hold {kind:?} values",
                descr.path(),
                descr.max_def_level()
            )));
        }
        Ok(ColumnChunk {
            descr,
            kind,
            dictionary: Dictionary::default(),
            plain: false,
            ids_of_table: Vec::new(),
            page: PendingPage::default(),
            pages: TrackedWrite::new(Vec::new()),
            locations: Vec::new(),
            data_pages: Vec::new(),
            rows: 0,
            uncompressed_bytes: 0,
            min: i64::MAX,
            max: i64::MIN,
        })
    }

    fn append(
        &mut self,
        values: &Values<'_>,
        rows: usize,
        compressor: &mut zstd::bulk::Compressor<'static>,
    ) -> Result<()> {
        if values.kind() != self.kind {
            return Err(ParquetError::General(format!(
                "column {} holds {:?} values, given {:?}",
                self.descr.path(),
                self.kind,
                values.kind()
            )));
        }
        let given = match values {
            Values::Indexed { rows, .. } => Some(rows.len()),
            Values::Int64(v) => Some(v.len()),
            Values::Int32(v) => Some(v.len()),
            _ => None,
        };
        if given.is_some_and(|n| n != rows) {
            return Err(ParquetError::General(format!(
                "column {}: {} values for {rows} rows",
                self.descr.path(),
                given.unwrap_or_default()
            )));
        }
        match values {
            Values::Indexed {
                table,
                rows,
                lasting,
            } => {
                let entries = table.len();
                if let Some(entry) = rows.iter().copied().find(|r| *r as usize >= entries) {
                    return Err(ParquetError::General(format!(
                        "column {}: a row refers to entry {entry} of a {entries}-entry table",
                        self.descr.path(),
                    )));
                }
                if !lasting || entries < self.ids_of_table.len() {
                    self.ids_of_table.clear();
                }
                self.ids_of_table.resize(entries, UNSEEN);
                self.push_indexed(*table, rows, compressor)?;
            }
            Values::String(value) => {
                static ZEROS: [u32; 4_096] = [0; 4_096];
                let table = vec![*value];
                self.ids_of_table.clear();
                self.ids_of_table.push(UNSEEN);
                let mut left = rows;
                while left > 0 {
                    let n = left.min(ZEROS.len());
                    self.push_indexed(&table, &ZEROS[..n], compressor)?;
                    left -= n;
                }
            }
            Values::Int64(values) => {
                self.push_plain_numbers(values, |v, out| out.extend(v.to_le_bytes()), compressor)?
            }
            Values::Int32(values) => {
                self.push_plain_numbers(values, |v, out| out.extend(v.to_le_bytes()), compressor)?
            }
            Values::Bool(_) | Values::Null => {
                // A flag is the same on every row; flags are bit-packed when the page is
                // written, and null rows hold no value at all.
                let flag = match values {
                    Values::Bool(flag) => Some(*flag),
                    _ => None,
                };
                self.count_in_statistics(flag.map(i64::from));
                let mut left = rows;
                while left > 0 {
                    let n = left.min(PAGE_ROWS - self.page.rows);
                    if let Some(flag) = flag {
                        self.page.flags.extend(std::iter::repeat_n(flag, n));
                    }
                    self.rows_done(n, compressor)?;
                    left -= n;
                }
            }
        }
        Ok(())
    }

    /// Appends numbers that hardly repeat, PLAIN (after any dictionary ids of this chunk).
    fn push_plain_numbers<T: Copy + Into<i64>>(
        &mut self,
        values: &[T],
        put: impl Fn(T, &mut Vec<u8>),
        compressor: &mut zstd::bulk::Compressor<'static>,
    ) -> Result<()> {
        self.go_plain(compressor)?;
        let mut rest = values;
        while !rest.is_empty() {
            let (page, after) = rest.split_at(rest.len().min(PAGE_ROWS - self.page.rows));
            for &v in page {
                put(v, &mut self.page.plain);
                self.count_in_statistics(Some(v.into()));
            }
            self.rows_done(page.len(), compressor)?;
            rest = after;
        }
        Ok(())
    }

    /// Appends rows that hold entries `rows[i]` of `table` (every entry is known to exist, and
    /// `ids_of_table` has a place for each).
    fn push_indexed(
        &mut self,
        table: &dyn ValueTable,
        rows: &[u32],
        compressor: &mut zstd::bulk::Compressor<'static>,
    ) -> Result<()> {
        let mut i = 0;
        while i < rows.len() {
            if self.plain {
                let entry = rows[i] as usize;
                table.put_plain(entry, &mut self.page.plain);
                self.count_in_statistics(table.number(entry));
                self.rows_done(1, compressor)?;
                i += 1;
                continue;
            }
            let end = rows.len().min(i + PAGE_ROWS - self.page.rows);
            let mut k = i;
            while k < end {
                let entry = rows[k] as usize;
                let mut id = self.ids_of_table[entry];
                if id == UNSEEN {
                    match self.dictionary.intern(table, entry) {
                        Some(new) => {
                            id = new;
                            self.ids_of_table[entry] = id;
                            // Each value written is seen here once per chunk at least.
                            self.count_in_statistics(table.number(entry));
                        }
                        None => break,
                    }
                }
                self.page.ids.push(id);
                k += 1;
            }
            self.rows_done(k - i, compressor)?;
            if k < end {
                // The dictionary is full.
                self.go_plain(compressor)?;
            }
            i = k;
        }
        Ok(())
    }

    /// The rest of the chunk is PLAIN (after dictionary ids, the pending page is written).
    fn go_plain(&mut self, compressor: &mut zstd::bulk::Compressor<'static>) -> Result<()> {
        if !self.page.ids.is_empty() {
            self.write_page(compressor)?;
        }
        self.plain = true;
        Ok(())
    }

    fn count_in_statistics(&mut self, number: Option<i64>) {
        if let Some(v) = number {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
    }

    /// Counts `n` rows into the pending page (which they fit), writing it when full.
    fn rows_done(
        &mut self,
        n: usize,
        compressor: &mut zstd::bulk::Compressor<'static>,
    ) -> Result<()> {
        self.page.rows += n;
        if self.page.rows == PAGE_ROWS || self.page.plain.len() >= PAGE_BYTES {
            self.write_page(compressor)?;
        }
        Ok(())
    }

    /// Encodes, compresses and stores the pending page.
    fn write_page(&mut self, compressor: &mut zstd::bulk::Compressor<'static>) -> Result<()> {
        let page = std::mem::take(&mut self.page);
        let null = self.kind == ColumnKind::Null;
        let mut buf = Vec::with_capacity(16 + page.plain.len() + page.ids.len() * 2);
        // Definition levels (v1 pages: a 4-byte length, then the RLE run): all set or all null.
        let mut levels = Vec::with_capacity(8);
        put_rle_run(&mut levels, page.rows, u32::from(!null), 1);
        buf.extend_from_slice(&(levels.len() as u32).to_le_bytes());
        buf.extend_from_slice(&levels);
        let encoding = if !page.ids.is_empty() {
            let width = bit_width(self.dictionary.len().saturating_sub(1) as u32);
            buf.push(width);
            put_hybrid(&mut buf, &page.ids, width);
            // As parquet-rs writes them: RLE_DICTIONARY data pages, a PLAIN dictionary page.
            Encoding::RLE_DICTIONARY
        } else if !page.flags.is_empty() {
            // PLAIN booleans: bits, least significant first, with no run header.
            let mut bytes = vec![0u8; page.flags.len().div_ceil(8)];
            for (i, _) in page.flags.iter().enumerate().filter(|(_, f)| **f) {
                bytes[i / 8] |= 1 << (i % 8);
            }
            buf.extend_from_slice(&bytes);
            Encoding::PLAIN
        } else {
            buf.extend_from_slice(&page.plain);
            Encoding::PLAIN
        };
        let first_row = self.rows;
        self.rows += page.rows;
        let data = Page::DataPage {
            buf: Bytes::from(compressor.compress(&buf)?),
            num_values: page.rows as u32,
            encoding,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        };
        let spec = SerializedPageWriter::new(&mut self.pages)
            .write_page(CompressedPage::new(data, buf.len()))?;
        self.uncompressed_bytes += spec.uncompressed_size as i64;
        self.locations.push(PageLocation {
            offset: spec.offset as i64,
            compressed_page_size: spec.compressed_size as i32,
            first_row_index: first_row as i64,
        });
        match self.data_pages.iter_mut().find(|(e, _)| *e == encoding) {
            Some((_, count)) => *count += 1,
            None => self.data_pages.push((encoding, 1)),
        }
        // Keep the page buffers' capacity for the next page.
        self.page = PendingPage {
            ids: reuse(page.ids),
            plain: reuse(page.plain),
            flags: reuse(page.flags),
            rows: 0,
        };
        Ok(())
    }

    /// Ends the chunk: its bytes (dictionary page first) and metadata, ready to be appended to
    /// a row group. The chunk is then empty, for the next row group.
    fn finish_chunk(
        &mut self,
        compressor: &mut zstd::bulk::Compressor<'static>,
    ) -> Result<(Bytes, ColumnCloseResult)> {
        if self.page.rows > 0 {
            self.write_page(compressor)?;
        }
        let data =
            std::mem::replace(&mut self.pages, TrackedWrite::new(Vec::new())).into_inner()?;
        let mut chunk = TrackedWrite::new(Vec::with_capacity(data.len() + 64));
        let mut uncompressed = self.uncompressed_bytes;
        let dictionary_used = self
            .data_pages
            .iter()
            .any(|(e, _)| *e == Encoding::RLE_DICTIONARY);
        if dictionary_used {
            let dictionary = Page::DictionaryPage {
                buf: Bytes::from(compressor.compress(&self.dictionary.plain)?),
                num_values: self.dictionary.len() as u32,
                encoding: Encoding::PLAIN,
                is_sorted: false,
            };
            let spec = SerializedPageWriter::new(&mut chunk)
                .write_page(CompressedPage::new(dictionary, self.dictionary.plain.len()))?;
            uncompressed += spec.uncompressed_size as i64;
        }
        let data_offset = chunk.bytes_written() as i64;
        std::io::Write::write_all(&mut chunk, &data)?;
        let bytes = Bytes::from(chunk.into_inner()?);

        let mut locations = std::mem::take(&mut self.locations);
        for location in &mut locations {
            location.offset += data_offset;
        }
        let dictionary_page = dictionary_used.then_some(PageEncodingStats {
            page_type: PageType::DICTIONARY_PAGE,
            encoding: Encoding::PLAIN,
            count: 1,
        });
        let page_encodings: Vec<PageEncodingStats> = dictionary_page
            .into_iter()
            .chain(
                self.data_pages
                    .drain(..)
                    .map(|(encoding, count)| PageEncodingStats {
                        page_type: PageType::DATA_PAGE,
                        encoding,
                        count,
                    }),
            )
            .collect();
        // The chunk's encodings: its pages', and RLE for the definition levels of each page.
        let mut encodings: Vec<Encoding> = Vec::new();
        let levels = (!page_encodings.is_empty()).then_some(Encoding::RLE);
        for encoding in levels
            .into_iter()
            .chain(page_encodings.iter().map(|p| p.encoding))
        {
            if !encodings.contains(&encoding) {
                encodings.push(encoding);
            }
        }
        let mut metadata = ColumnChunkMetaData::builder(Arc::clone(&self.descr))
            .set_compression(compression())
            .set_encodings(encodings)
            .set_page_encoding_stats(page_encodings)
            .set_num_values(self.rows as i64)
            .set_total_compressed_size(bytes.len() as i64)
            .set_total_uncompressed_size(uncompressed)
            .set_data_page_offset(data_offset)
            .set_dictionary_page_offset(dictionary_used.then_some(0));
        if let Some(statistics) = self.statistics() {
            metadata = metadata.set_statistics(statistics);
        }
        let close = ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: self.rows as u64,
            metadata: metadata.build()?,
            bloom_filter: None,
            column_index: None,
            offset_index: Some(OffsetIndexMetaData {
                page_locations: locations,
                unencoded_byte_array_data_bytes: None,
            }),
        };

        self.dictionary.clear();
        self.ids_of_table.clear();
        self.plain = false;
        self.rows = 0;
        self.uncompressed_bytes = 0;
        self.min = i64::MAX;
        self.max = i64::MIN;
        Ok((bytes, close))
    }

    /// Chunk statistics as the generator has always written them: min, max and null count on
    /// numbers, times and flags; none on strings (a comparison per value, and nothing prunes
    /// on them).
    fn statistics(&self) -> Option<Statistics> {
        let nulls = Some(0);
        match self.kind {
            ColumnKind::String => None,
            ColumnKind::Int64 => Some(Statistics::new(
                Some(self.min),
                Some(self.max),
                None,
                nulls,
                false,
            )),
            ColumnKind::Int32 => Some(Statistics::new(
                Some(self.min as i32),
                Some(self.max as i32),
                None,
                nulls,
                false,
            )),
            ColumnKind::Bool => Some(Statistics::new(
                Some(self.min != 0),
                Some(self.max != 0),
                None,
                nulls,
                false,
            )),
            ColumnKind::Null => {
                let nulls = Some(self.rows as u64);
                match self.descr.physical_type() {
                    PhysicalType::BOOLEAN => {
                        Some(Statistics::new::<bool>(None, None, None, nulls, false))
                    }
                    PhysicalType::INT32 => {
                        Some(Statistics::new::<i32>(None, None, None, nulls, false))
                    }
                    PhysicalType::INT64 => {
                        Some(Statistics::new::<i64>(None, None, None, nulls, false))
                    }
                    PhysicalType::DOUBLE => {
                        Some(Statistics::new::<f64>(None, None, None, nulls, false))
                    }
                    PhysicalType::FLOAT => {
                        Some(Statistics::new::<f32>(None, None, None, nulls, false))
                    }
                    // Strings get none, as above.
                    _ => None,
                }
            }
        }
    }
}

fn reuse<T>(mut buffer: Vec<T>) -> Vec<T> {
    buffer.clear();
    buffer
}

/// Bits needed for values up to `max`.
fn bit_width(max: u32) -> u8 {
    (32 - max.leading_zeros()) as u8
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// An RLE run of the hybrid encoding: `count` times `value`.
fn put_rle_run(out: &mut Vec<u8>, count: usize, value: u32, width: u8) {
    put_varint(out, (count as u64) << 1);
    let bytes = (width as usize).div_ceil(8);
    out.extend_from_slice(&value.to_le_bytes()[..bytes]);
}

/// One bit-packed run of the hybrid encoding (header included); pads the last group of 8.
fn put_bit_packed(out: &mut Vec<u8>, values: impl ExactSizeIterator<Item = u32>, width: u8) {
    let groups = values.len().div_ceil(8);
    put_varint(out, ((groups as u64) << 1) | 1);
    let mut buffer = 0u64;
    let mut bits = 0u32;
    let padding = groups * 8 - values.len();
    for value in values.chain(std::iter::repeat_n(0, padding)) {
        buffer |= (value as u64) << bits;
        bits += width as u32;
        while bits >= 8 {
            out.push(buffer as u8);
            buffer >>= 8;
            bits -= 8;
        }
    }
    // 8 values of `width` bits always end on a byte boundary.
    debug_assert_eq!(bits, 0);
}

/// The RLE/bit-packed hybrid encoding of `values`: runs of 8 or more equal values as RLE
/// runs, the rest bit-packed.
fn put_hybrid(out: &mut Vec<u8>, values: &[u32], width: u8) {
    if width == 0 {
        // One dictionary entry: every value is 0.
        put_rle_run(out, values.len(), 0, 0);
        return;
    }
    let n = values.len();
    // Values from `packed_from` on are not written yet and go bit-packed.
    let mut packed_from = 0;
    let mut i = 0;
    while i < n {
        let value = values[i];
        let mut end = i + 1;
        while end < n && values[end] == value {
            end += 1;
        }
        if end - i >= 8 {
            // A bit-packed run holds whole groups of 8: borrow the run's first values to
            // fill the last group.
            let pending = i - packed_from;
            let fill = (8 - pending % 8) % 8;
            if pending > 0 {
                put_bit_packed(out, values[packed_from..i + fill].iter().copied(), width);
            }
            put_rle_run(out, end - i - fill, value, width);
            packed_from = end;
        }
        i = end;
    }
    if packed_from < n {
        put_bit_packed(out, values[packed_from..].iter().copied(), width);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use datafusion::arrow::array::{
        Array, BooleanArray, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
    };
    use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::parquet::arrow::arrow_reader::{
        ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
    };
    use datafusion::parquet::file::metadata::{PageIndexPolicy, RowGroupMetaData};
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};

    /// A small deterministic generator for test data.
    struct Mix(u64);
    impl Mix {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("few", DataType::Utf8, true),
            Field::new("many", DataType::Utf8, true),
            Field::new("constant", DataType::Utf8, true),
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("port", DataType::Int32, true),
            Field::new("flag", DataType::Boolean, true),
            Field::new("nothing", DataType::Utf8, true),
            Field::new("no_number", DataType::Float64, true),
            Field::new("pid", DataType::Int64, true),
        ])
    }

    const KINDS: [ColumnKind; 9] = [
        ColumnKind::String,
        ColumnKind::String,
        ColumnKind::String,
        ColumnKind::Int64,
        ColumnKind::Int32,
        ColumnKind::Bool,
        ColumnKind::Null,
        ColumnKind::Null,
        ColumnKind::Int64,
    ];

    /// What a test file holds, column by column.
    #[derive(Default)]
    struct Expected {
        few: Vec<String>,
        many: Vec<String>,
        times: Vec<i64>,
        ports: Vec<i32>,
        pids: Vec<i64>,
    }

    /// Writes `batches` batches of `rows` rows; returns the file and the expected columns.
    fn write(
        batches: usize,
        rows: usize,
        group_rows: usize,
    ) -> (tempfile::NamedTempFile, Expected) {
        let file = tempfile::NamedTempFile::new().unwrap();
        let schema = schema();
        let mut writer =
            TableWriter::new(file.reopen().unwrap(), &schema, &KINDS, group_rows).unwrap();
        // A lasting table that grows by three entries a batch.
        let few_table: Vec<String> = (0..37 + 3 * batches)
            .map(|i| format!("value-{i}"))
            .collect();
        let mut mix = Mix(7);
        let mut expected = Expected::default();
        let mut serial = 0u64;
        for batch in 0..batches {
            let few_len = 37 + 3 * batch as u64;
            // Runs long and short, so both halves of the hybrid encoding are used.
            let few_rows: Vec<u32> = (0..rows)
                .map(|i| {
                    if (i / 50) % 3 == 0 {
                        5
                    } else {
                        (mix.next() % few_len) as u32
                    }
                })
                .collect();
            // Long, mostly distinct strings: the dictionary overflows and the chunk goes PLAIN.
            let many_table: Vec<String> = (0..rows)
                .map(|_| {
                    serial += 1;
                    format!(
                        "{serial:08}-{}",
                        "x".repeat(40 + (mix.next() % 40) as usize)
                    )
                })
                .collect();
            let many_rows: Vec<u32> = (0..rows).map(|i| (i - i % 2) as u32).collect();
            let time: Vec<i64> = (0..rows).map(|_| mix.next() as i64 - (1 << 30)).collect();
            let port: Vec<i32> = (0..rows).map(|_| (mix.next() % 70_000) as i32).collect();
            // Repeated numbers, dictionary-encoded in even batches and PLAIN in odd ones (a
            // chunk may switch to PLAIN, never back).
            let pid_table = Longs((0..50).map(|k| k * 4 - 40 + batch as i64).collect());
            let pid_rows: Vec<u32> = (0..rows).map(|_| (mix.next() % 50) as u32).collect();
            let pid: Vec<i64> = pid_rows.iter().map(|r| pid_table.0[*r as usize]).collect();
            let few_refs: Vec<&str> = few_table[..few_len as usize]
                .iter()
                .map(String::as_str)
                .collect();
            let many_refs: Vec<&str> = many_table.iter().map(String::as_str).collect();
            let mut done = 0;
            while done < rows {
                let take = writer.room_in_group().min(rows - done);
                let part = done..done + take;
                writer
                    .append(
                        &[
                            Values::Indexed {
                                table: &few_refs,
                                rows: &few_rows[part.clone()],
                                lasting: true,
                            },
                            Values::Indexed {
                                table: &many_refs,
                                rows: &many_rows[part.clone()],
                                lasting: false,
                            },
                            Values::String("Tcp"),
                            Values::Int64(&time[part.clone()]),
                            Values::Int32(&port[part.clone()]),
                            Values::Bool(batch % 2 == 1),
                            Values::Null,
                            Values::Null,
                            if batch % 2 == 0 {
                                Values::Indexed {
                                    table: &pid_table,
                                    rows: &pid_rows[part.clone()],
                                    lasting: false,
                                }
                            } else {
                                Values::Int64(&pid[part.clone()])
                            },
                        ],
                        take,
                    )
                    .unwrap();
                done += take;
            }
            expected
                .few
                .extend(few_rows.iter().map(|r| few_table[*r as usize].clone()));
            expected
                .many
                .extend(many_rows.iter().map(|r| many_table[*r as usize].clone()));
            expected.times.extend(time);
            expected.ports.extend(port);
            expected.pids.extend(pid);
        }
        writer.close().unwrap();
        (file, expected)
    }

    fn read(file: &tempfile::NamedTempFile, selection: Option<RowSelection>) -> Vec<RecordBatch> {
        // Required: the test fails if the offset index is missing or unreadable.
        let options = ArrowReaderOptions::new().with_offset_index_policy(PageIndexPolicy::Required);
        let mut builder =
            ParquetRecordBatchReaderBuilder::try_new_with_options(file.reopen().unwrap(), options)
                .unwrap()
                .with_batch_size(1 << 20);
        if let Some(selection) = selection {
            builder = builder.with_row_selection(selection);
        }
        builder.build().unwrap().map(|b| b.unwrap()).collect()
    }

    #[test]
    fn what_is_written_reads_back() {
        let (file, expected) = write(5, 30_011, 64_000);
        let batches = read(&file, None);
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 150_055);
        let batch =
            datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        let strings = |i: usize| -> Vec<String> {
            let a = batch
                .column(i)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            assert_eq!(a.null_count(), 0);
            a.iter().map(|v| v.unwrap().to_string()).collect()
        };
        assert_eq!(strings(0), expected.few);
        assert_eq!(strings(1), expected.many);
        assert!(strings(2).iter().all(|v| v == "Tcp"));
        let t = batch
            .column(3)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(t.values().to_vec(), expected.times);
        let p = batch
            .column(4)
            .as_any()
            .downcast_ref::<Int32Array>()
            .unwrap();
        assert_eq!(p.values().to_vec(), expected.ports);
        let f = batch
            .column(5)
            .as_any()
            .downcast_ref::<BooleanArray>()
            .unwrap();
        // Odd batches are flagged.
        assert_eq!((f.null_count(), f.true_count()), (0, 2 * 30_011));
        assert!(f.value(30_011) && !f.value(30_010) && !f.value(60_022));
        assert_eq!(batch.column(6).null_count(), rows);
        assert_eq!(batch.column(7).null_count(), rows);
        let pids = batch
            .column(8)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(pids.values().to_vec(), expected.pids);

        // The footer: row groups as asked, a dictionary on `few`, the PLAIN fallback on
        // `many`, and statistics that match the data.
        let reader = SerializedFileReader::new(file.reopen().unwrap()).unwrap();
        let metadata = reader.metadata();
        let groups: Vec<i64> = metadata.row_groups().iter().map(|g| g.num_rows()).collect();
        assert_eq!(groups, vec![64_000, 64_000, 22_055]);
        let first = metadata.row_group(0);
        assert!(first.column(0).dictionary_page_offset().is_some());
        // The page encodings: `few`'s data pages all dictionary-encoded, `many`'s not.
        let data_pages = |group: &RowGroupMetaData, column: usize| {
            let mask = group
                .column(column)
                .page_encoding_stats_mask()
                .expect("page encodings");
            mask.encodings().collect::<Vec<_>>()
        };
        assert_eq!(data_pages(first, 0), [Encoding::RLE_DICTIONARY]);
        assert!(data_pages(first, 1).contains(&Encoding::PLAIN));
        assert!(first.column(1).encodings().any(|e| e == Encoding::PLAIN));
        // The second row group's pids: dictionary-encoded (batch 2), then PLAIN (batch 3).
        let second = metadata.row_group(1);
        assert!(second.column(8).dictionary_page_offset().is_some());
        assert!(second.column(8).encodings().any(|e| e == Encoding::PLAIN));
        for (group, column, values) in [
            (first, 3, &expected.times[..64_000]),
            (second, 3, &expected.times[64_000..128_000]),
            (first, 8, &expected.pids[..64_000]),
            (second, 8, &expected.pids[64_000..128_000]),
        ] {
            let min = *values.iter().min().unwrap();
            let max = *values.iter().max().unwrap();
            match group.column(column).statistics().unwrap() {
                Statistics::Int64(s) => {
                    assert_eq!((*s.min_opt().unwrap(), *s.max_opt().unwrap()), (min, max));
                    assert_eq!(s.null_count_opt(), Some(0));
                }
                other => panic!("unexpected statistics {other:?}"),
            }
        }
        assert!(first.column(0).statistics().is_none());
        assert_eq!(
            first
                .column(6)
                .statistics()
                .and_then(|s| s.null_count_opt()),
            None
        );
        assert_eq!(
            first
                .column(7)
                .statistics()
                .and_then(|s| s.null_count_opt()),
            Some(64_000)
        );
    }

    /// The offset index lets a reader skip pages: selecting a few rows far into the file reads
    /// the right ones.
    #[test]
    fn pages_can_be_skipped_through_the_offset_index() {
        let (file, expected) = write(3, 50_000, 100_000);
        let selection = RowSelection::from(vec![
            RowSelector::skip(45_123),
            RowSelector::select(3),
            RowSelector::skip(100_000 - 45_126 + 2_000),
            RowSelector::select(2),
        ]);
        let batches = read(&file, Some(selection));
        let batch =
            datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        let rows = [45_123, 45_124, 45_125, 102_000, 102_001];
        assert_eq!(batch.num_rows(), rows.len());
        let few_read = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let many_read = batch
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let t = batch
            .column(3)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(few_read.value(i), expected.few[*row]);
            assert_eq!(many_read.value(i), expected.many[*row]);
            assert_eq!(t.value(i), expected.times[*row]);
        }
        let reader = SerializedFileReader::new(file.reopen().unwrap()).unwrap();
        assert!(
            reader
                .metadata()
                .row_group(0)
                .column(3)
                .offset_index_offset()
                .is_some()
        );
    }

    #[test]
    fn the_hybrid_encoding_round_trips() {
        let mut mix = Mix(3);
        for width in [1u8, 2, 3, 5, 7, 8, 9, 13, 16, 17, 20, 31] {
            for len in [1usize, 7, 8, 9, 15, 16, 17, 100, 1_001] {
                let max = if width == 32 {
                    u32::MAX
                } else {
                    (1u32 << width) - 1
                };
                let values: Vec<u32> = (0..len)
                    .map(|i| match (i / 11) % 3 {
                        0 => max,
                        1 => (mix.next() as u32) & max,
                        _ => (i as u32 / 4) & max,
                    })
                    .collect();
                let mut encoded = Vec::new();
                put_hybrid(&mut encoded, &values, width);
                assert_eq!(
                    decode_hybrid(&encoded, width, len),
                    values,
                    "width {width}, len {len}"
                );
            }
        }
        let mut encoded = Vec::new();
        put_hybrid(&mut encoded, &[0; 1000], 0);
        assert_eq!(encoded, vec![0xd0, 0x0f]);
    }

    /// A straightforward reading of the hybrid encoding, as the format describes it.
    fn decode_hybrid(mut data: &[u8], width: u8, len: usize) -> Vec<u32> {
        let mut out = Vec::new();
        let varint = |data: &mut &[u8]| {
            let (mut value, mut shift) = (0u64, 0);
            loop {
                let b = data[0];
                *data = &data[1..];
                value |= ((b & 0x7f) as u64) << shift;
                shift += 7;
                if b < 0x80 {
                    return value;
                }
            }
        };
        while out.len() < len {
            let header = varint(&mut data);
            if header & 1 == 0 {
                let bytes = (width as usize).div_ceil(8);
                let mut value = [0u8; 4];
                value[..bytes].copy_from_slice(&data[..bytes]);
                data = &data[bytes..];
                out.extend(std::iter::repeat_n(
                    u32::from_le_bytes(value),
                    (header >> 1) as usize,
                ));
            } else {
                let count = (header >> 1) as usize * 8;
                let bytes = count * width as usize / 8;
                for k in 0..count {
                    let mut value = 0u32;
                    for b in 0..width as usize {
                        let bit = k * width as usize + b;
                        value |= (((data[bit / 8] >> (bit % 8)) & 1) as u32) << b;
                    }
                    out.push(value);
                }
                data = &data[bytes..];
            }
        }
        assert!(data.is_empty(), "bytes left over");
        out.truncate(len);
        out
    }
}
