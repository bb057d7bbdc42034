//! Query results as the shell shows them: a table cut at a row limit (the rest only counted),
//! or every row streamed as CSV, JSON or NDJSON.

use std::io::Write;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use crate::cli::table::render as render_table;
use crate::error::{HuntError, QueryContext, Result};
use crate::output::{Format, RowWriter, cells};

/// How many rows a result had, and how many were shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Printed {
    pub rows: usize,
    pub shown: usize,
}

/// Prints every batch of `stream` to `out` in `format`. In a table at most `max_rows` rows are
/// kept (None: all); the others are read and counted, so the count is the result's.
pub async fn print_stream(
    mut stream: SendableRecordBatchStream,
    format: Format,
    max_rows: Option<usize>,
    out: &mut dyn Write,
) -> Result<Printed> {
    let what = "running the query";
    match format {
        Format::Table if is_explain(&stream.schema()) => print_plans(stream, out).await,
        Format::Table => {
            let schema = stream.schema();
            let limit = max_rows.unwrap_or(usize::MAX);
            let mut kept: Vec<RecordBatch> = Vec::new();
            let (mut rows, mut shown) = (0usize, 0usize);
            while let Some(batch) = stream.next().await {
                let batch = batch.context(what)?;
                rows += batch.num_rows();
                if shown < limit {
                    let take = batch.num_rows().min(limit - shown);
                    kept.push(batch.slice(0, take));
                    shown += take;
                }
            }
            if kept.is_empty() {
                kept.push(RecordBatch::new_empty(schema));
            }
            writeln!(out, "{}", render_table(&kept)).map_err(write_error)?;
            out.flush().map_err(write_error)?;
            Ok(Printed { rows, shown })
        }
        Format::Csv | Format::Json | Format::Ndjson => {
            let schema = stream.schema();
            let mut writer = RowWriter::new(format, out);
            let mut any = false;
            while let Some(batch) = stream.next().await {
                let batch = batch.context(what)?;
                if batch.num_rows() > 0 || !any {
                    writer.write(&batch)?;
                    any = true;
                }
            }
            if !any {
                // The CSV header of an empty result.
                writer.write(&RecordBatch::new_empty(schema))?;
            }
            let rows = writer.finish()?;
            Ok(Printed { rows, shown: rows })
        }
        Format::Parquet => Err(HuntError::usage(
            "the shell writes table, csv, json or ndjson (use `detect --output FILE.parquet` \
             or COPY ... TO 'file.parquet' for Parquet)",
        )),
        Format::Sentinel | Format::Ocsf => Err(HuntError::usage(format!(
            "{} turns detections into alerts: use it with \\detect or huntlake detect",
            format.name()
        ))),
    }
}

/// EXPLAIN's result: plans are read whole, not cut into table cells.
fn is_explain(schema: &datafusion::arrow::datatypes::Schema) -> bool {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    names == ["plan_type", "plan"]
}

async fn print_plans(
    mut stream: SendableRecordBatchStream,
    out: &mut dyn Write,
) -> Result<Printed> {
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch.context("running the query")?;
        for row in 0..batch.num_rows() {
            let plan_type = cells::text_value(batch.column(0), row);
            let plan = cells::text_value(batch.column(1), row);
            writeln!(out, "-- {plan_type}\n{}\n", plan.trim_end()).map_err(write_error)?;
            rows += 1;
        }
    }
    out.flush().map_err(write_error)?;
    Ok(Printed { rows, shown: rows })
}

fn write_error(source: std::io::Error) -> HuntError {
    HuntError::Io {
        context: "writing results".into(),
        source,
    }
}

/// The footer after a result: `3 rows in 0.012 s`, and what was left out.
pub fn footer(printed: Printed, elapsed: Option<std::time::Duration>) -> String {
    let mut text = match printed.rows {
        1 => "1 row".to_string(),
        n => format!("{n} rows"),
    };
    if printed.shown < printed.rows {
        text.push_str(&format!(
            " ({} shown; \\maxrows N or all to change)",
            printed.shown
        ));
    }
    if let Some(elapsed) = elapsed {
        text.push_str(&format!(" in {:.3} s", elapsed.as_secs_f64()));
    }
    text
}

/// The footer after a statement that returns no rows (CREATE VIEW, SET, ...).
pub fn footer_ok(elapsed: Option<std::time::Duration>) -> String {
    match elapsed {
        Some(elapsed) => format!("OK in {:.3} s", elapsed.as_secs_f64()),
        None => "OK".into(),
    }
}
