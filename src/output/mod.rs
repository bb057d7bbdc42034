//! Writing results for tools: csv, json, ndjson and parquet (the table for people is drawn by
//! the command line), and detections as alerts (Sentinel's shape, OCSF findings) with the
//! state that lets daily runs report each instance once. Files are written beside their
//! destination and renamed into place, so a failed run leaves no partial file behind.

pub mod alerts;
pub mod atomic;
pub mod cells;
pub mod report;
pub mod state;

use std::io::{BufWriter, IsTerminal, Write};
use std::path::Path;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use crate::error::{HuntError, Result};

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A table for people (drawn by the command line, cells cut to fit).
    Table,
    Csv,
    Json,
    Ndjson,
    Parquet,
    /// Detections only: one Sentinel `SecurityAlert` row per detection, as NDJSON.
    Sentinel,
    /// Detections only: one OCSF 1.8.0 Detection Finding per detection, as NDJSON.
    Ocsf,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Format::Table,
        Format::Csv,
        Format::Json,
        Format::Ndjson,
        Format::Parquet,
        Format::Sentinel,
        Format::Ocsf,
    ];

    /// The format's name, as flags spell it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Parquet => "parquet",
            Format::Sentinel => "sentinel",
            Format::Ocsf => "ocsf",
        }
    }

    /// Whether the format turns detections into alerts (and so is for `detect` only).
    pub fn is_alert(self) -> bool {
        matches!(self, Format::Sentinel | Format::Ocsf)
    }

    /// The format named `name` (ASCII case ignored).
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The format to write in: `flag`, else the output file's extension, else a table on a
    /// terminal and NDJSON down a pipe or into a file.
    pub fn choose(flag: Option<Format>, output: Option<&Path>) -> Format {
        flag.or_else(|| output.and_then(Format::from_extension))
            .unwrap_or_else(|| {
                if output.is_none() && std::io::stdout().is_terminal() {
                    Format::Table
                } else {
                    Format::Ndjson
                }
            })
    }

    /// The format a destination's extension implies, if any.
    pub fn from_extension(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            "ndjson" | "jsonl" => Some(Format::Ndjson),
            "parquet" => Some(Format::Parquet),
            "txt" => Some(Format::Table),
            _ => None,
        }
    }
}

/// Writes `batches` in `format` (not [`Format::Table`]) to `output` (a file) or to standard
/// output.
pub fn write_results(batches: &[RecordBatch], format: Format, output: Option<&Path>) -> Result<()> {
    match prepare_results(batches, format, output)? {
        Some(pending) => pending.persist(),
        None => Ok(()),
    }
}

/// As [`write_results`], but a file is left beside its destination until
/// [`atomic::Pending::persist`]; standard output is written at once (and `None` returned).
pub fn prepare_results(
    batches: &[RecordBatch],
    format: Format,
    output: Option<&Path>,
) -> Result<Option<atomic::Pending>> {
    match output {
        Some(path) => atomic::prepare(path, |file| write_to(batches, format, file)).map(Some),
        None => {
            if format == Format::Parquet {
                return Err(HuntError::usage(
                    "--format parquet needs --output FILE (Parquet is not written to a terminal)",
                ));
            }
            let stdout = std::io::stdout();
            let mut lock = BufWriter::new(stdout.lock());
            write_to(batches, format, &mut lock)
                .and_then(|()| lock.flush().map_err(|e| io_error("standard output", e)))?;
            Ok(None)
        }
    }
}

/// Writes one line per alert (`lines`) to `out`.
pub fn write_lines(lines: &[String], out: &mut dyn Write) -> Result<()> {
    let io = |e| io_error("alerts", e);
    for line in lines {
        writeln!(out, "{line}").map_err(io)?;
    }
    out.flush().map_err(io)
}

fn write_to(batches: &[RecordBatch], format: Format, out: &mut dyn Write) -> Result<()> {
    let io = |e| io_error("results", e);
    match format {
        Format::Ndjson | Format::Json | Format::Csv => {
            let mut rows = RowWriter::new(format, out);
            for batch in batches {
                rows.write(batch)?;
            }
            rows.finish()?;
        }
        Format::Table | Format::Sentinel | Format::Ocsf => {
            return Err(HuntError::Internal(format!(
                "the {} format is not written from plain results",
                format.name()
            )));
        }
        Format::Parquet => {
            let schema = match batches.first() {
                Some(b) => b.schema(),
                None => return Ok(()),
            };
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .build();
            let parquet_err = |e| io_error("Parquet output", std::io::Error::other(e));
            // Detections are few: encode in memory (the writer wants a `Send` sink).
            let mut buffer = Vec::new();
            let mut writer =
                ArrowWriter::try_new(&mut buffer, schema, Some(props)).map_err(parquet_err)?;
            for batch in batches {
                writer.write(batch).map_err(parquet_err)?;
            }
            writer.close().map_err(parquet_err)?;
            out.write_all(&buffer).map_err(io)?;
        }
    }
    Ok(())
}

/// Writes rows as they come, batch by batch, in a text format for tools (CSV, JSON, NDJSON):
/// what the shell streams and what `detect` writes.
pub struct RowWriter<'a> {
    format: Format,
    out: &'a mut dyn Write,
    rows: usize,
    header_written: bool,
}

impl<'a> RowWriter<'a> {
    /// `format` must be CSV, JSON or NDJSON.
    pub fn new(format: Format, out: &'a mut dyn Write) -> Self {
        RowWriter {
            format,
            out,
            rows: 0,
            header_written: false,
        }
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let io = |e| io_error("results", e);
        match self.format {
            Format::Ndjson => {
                for row in 0..batch.num_rows() {
                    writeln!(self.out, "{}", json_object(batch, row)).map_err(io)?;
                }
            }
            Format::Json => {
                for row in 0..batch.num_rows() {
                    let sep = if self.rows + row == 0 {
                        "[\n  "
                    } else {
                        ",\n  "
                    };
                    write!(self.out, "{sep}{}", json_object(batch, row)).map_err(io)?;
                }
            }
            Format::Csv => {
                let csv_err = |e: csv::Error| io_error("CSV output", std::io::Error::other(e));
                let mut writer = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(&mut *self.out);
                if !self.header_written {
                    let names = batch
                        .schema()
                        .fields()
                        .iter()
                        .map(|f| f.name().clone())
                        .collect::<Vec<_>>();
                    writer.write_record(&names).map_err(csv_err)?;
                    self.header_written = true;
                }
                for row in 0..batch.num_rows() {
                    let record = batch
                        .columns()
                        .iter()
                        .map(|c| cells::text_value(c, row))
                        .collect::<Vec<_>>();
                    writer.write_record(&record).map_err(csv_err)?;
                }
                writer.flush().map_err(io)?;
            }
            Format::Table | Format::Parquet | Format::Sentinel | Format::Ocsf => {
                return Err(HuntError::Internal(format!(
                    "{} output cannot be streamed row by row",
                    self.format.name()
                )));
            }
        }
        self.rows += batch.num_rows();
        Ok(())
    }

    /// Ends the output (closes a JSON array) and returns the number of rows written.
    pub fn finish(self) -> Result<usize> {
        let io = |e| io_error("results", e);
        if self.format == Format::Json {
            let end = if self.rows == 0 { "[]" } else { "\n]" };
            writeln!(self.out, "{end}").map_err(io)?;
        }
        self.out.flush().map_err(io)?;
        Ok(self.rows)
    }
}

/// One row as a JSON object, keys in column order.
pub fn json_object(batch: &RecordBatch, row: usize) -> String {
    let mut text = String::from("{");
    for (i, (field, column)) in batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .enumerate()
    {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&serde_json::Value::String(field.name().clone()).to_string());
        text.push(':');
        text.push_str(&cells::json_value(column, row).to_string());
    }
    text.push('}');
    text
}

fn io_error(what: &str, source: std::io::Error) -> HuntError {
    HuntError::Io {
        context: format!("writing {what}"),
        source,
    }
}
