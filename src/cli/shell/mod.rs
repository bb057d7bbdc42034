//! `huntlake sql`: SQL over the lake, typed into an interactive shell or given with `-c`, `-f`
//! or on standard input. The four Defender tables are registered under their own names (as
//! Kusto views; `raw.<Table>` holds the files as they are), with the rule's steps and the
//! KQL-compatible functions beside them.

mod completion;
pub mod display;
mod meta;
mod repl;
pub mod statements;
pub mod steps;

use std::fs::File;
use std::io::{BufRead, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use datafusion::prelude::SessionContext;

use super::args::{LakeArgs, RuleArgs, SessionArgs};
use crate::error::{HuntError, QueryContext, Result};
use crate::lake::{Lake, LakeOptions, LakeSource};
use crate::output::Format;
use crate::plan::{SessionOptions, new_session};
use crate::rule::RuleParams;
use crate::rule::detect::name_the_file;
use crate::time::{format_rfc3339, now_nanos};
pub use statements::{Command, StatementBuffer};
pub use steps::RuleStep;

#[derive(Args, Debug, Clone)]
pub struct SqlArgs {
    #[command(flatten)]
    pub lake: LakeArgs,

    /// The rule's parameters, for its steps as tables (GetServices, RareServices), \rule and
    /// \detect.
    #[command(flatten)]
    pub rule: RuleArgs,

    #[command(flatten)]
    pub session: SessionArgs,

    /// Run this SQL (or \command) and exit. Repeatable; run before any -f file.
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    pub commands: Vec<String>,

    /// Run the statements in FILE and exit. Repeatable.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// How results are printed: table (cut at --max-rows), csv, json or ndjson (every row).
    /// Default: table on a terminal, ndjson when standard output is a pipe or a file.
    #[arg(long)]
    pub format: Option<Format>,

    /// Rows a table shows (the rest are counted); 0 shows them all.
    #[arg(long, value_name = "N", default_value_t = 40)]
    pub max_rows: usize,

    /// Print no row counts or times after results.
    #[arg(short, long)]
    pub quiet: bool,

    /// `substring(s, start, length)` and `substr(...)` count from 1, as in SQL. Default: from
    /// 0, as Kusto's `substring` (`kql_substring` is Kusto's either way).
    #[arg(long)]
    pub sql_substring: bool,

    /// Read the state of daily runs (`detect --state`) in this folder as the tables
    /// StateAlerts and StateRuns.
    #[arg(long, value_name = "PATH|URL")]
    pub state: Option<String>,
}

/// The tables of a detection state, as StateAlerts and StateRuns.
async fn register_state(ctx: &SessionContext, root: &str) -> Result<()> {
    let (alerts, runs) = crate::output::state::State::inspect(root).await?;
    for (name, batches) in [("StateAlerts", alerts), ("StateRuns", runs)] {
        let schema = match batches.first() {
            Some(batch) => batch.schema(),
            None => continue,
        };
        let table = datafusion::datasource::MemTable::try_new(schema, vec![batches])
            .context(format!("reading the state {root}"))?;
        ctx.register_table(name, Arc::new(table))
            .context(format!("reading the state {root}"))?;
    }
    Ok(())
}

/// What the caller does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// The shell's settings that meta commands change.
#[derive(Debug, Clone)]
pub struct Settings {
    pub format: Format,
    /// Rows a table shows; None: all.
    pub max_rows: Option<usize>,
    pub timing: bool,
    pub quiet: bool,
}

/// An open lake and a session over it.
pub struct Shell {
    ctx: SessionContext,
    lake: Lake,
    lake_source: LakeSource,
    /// The rule's parameters: `now()` for ago() and the rule's steps, and the shell's options.
    params: RuleParams,
    /// The shell's own flags, which `\detect` takes unless given others.
    lake_args: LakeArgs,
    session_args: SessionArgs,
    steps: Vec<Arc<RuleStep>>,
    pub settings: Settings,
    /// `\o FILE`: results go there instead of standard output.
    output: Option<(PathBuf, BufWriter<File>)>,
}

impl Shell {
    /// Opens the lake and registers its tables, the rule's steps and the functions.
    pub async fn open(args: &SqlArgs) -> Result<Shell> {
        if args.format == Some(Format::Parquet) {
            return Err(HuntError::usage(
                "--format parquet: the shell prints table, csv, json or ndjson \
                 (COPY (SELECT ...) TO 'file.parquet' writes Parquet)",
            ));
        }
        if let Some(format) = args.format.filter(|f| f.is_alert()) {
            return Err(HuntError::usage(format!(
                "--format {}: alerts are made from detections (huntlake detect --format {0}); \
                 the shell prints table, csv, json or ndjson",
                format.name()
            )));
        }
        let options = args.rule.options()?;
        let mut session = SessionOptions {
            information_schema: true,
            kusto_substring: !args.sql_substring,
            ..args.session.session()?
        };
        if let Some(cluster) = &session.cluster {
            cluster.check_workers().await?;
        }
        let lake_source = args.lake.source();
        let lake = Lake::open(
            &lake_source,
            &LakeOptions {
                time_column: args.lake.time_column.clone(),
                skip_bad_files: args.lake.skip_bad_files,
                // Ad-hoc queries have no window: every file stays queryable.
                window: None,
                allow_missing_tables: true,
            },
        )
        .await?;
        for note in &lake.notes {
            eprintln!("{note}");
        }
        for skipped in lake.tables.iter().flat_map(|t| &t.skipped) {
            eprintln!(
                "note: skipped {} file {}: {}",
                skipped.table, skipped.file, skipped.reason
            );
        }
        // Kusto's now(): the one given or the lake's; else each query's start (see ago()).
        let fixed_now = args.lake.as_of.or(lake.reference_time);
        session.as_of = fixed_now;
        let ctx = new_session(&session)?;
        lake.register(&ctx).await?;
        if let Some(root) = &args.state {
            register_state(&ctx, root).await?;
        }
        crate::functions::register_kql(&ctx, fixed_now);
        let params = RuleParams::new(fixed_now.unwrap_or_else(now_nanos), options);
        let steps = steps::register_steps(&ctx, &params, &args.session.materialize()).await?;
        let format = args.format.unwrap_or_else(|| {
            if std::io::stdout().is_terminal() {
                Format::Table
            } else {
                Format::Ndjson
            }
        });
        Ok(Shell {
            ctx,
            lake,
            lake_source,
            params,
            lake_args: args.lake.clone(),
            session_args: args.session.clone(),
            steps,
            settings: Settings {
                format,
                max_rows: (args.max_rows > 0).then_some(args.max_rows),
                timing: true,
                quiet: args.quiet,
            },
            output: None,
        })
    }

    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// One line about what is open, for the interactive banner.
    pub fn describe(&self) -> String {
        let rows: u64 = self.lake.tables.iter().map(|t| t.rows()).sum();
        let files: usize = self.lake.tables.iter().map(|t| t.files.len()).sum();
        format!(
            "lake {} ({} tables, {rows} rows in {files} files), as of {}",
            self.lake_source,
            self.lake.tables.len(),
            format_rfc3339(self.params.as_of)
        )
    }

    /// Runs one command.
    pub async fn execute(&mut self, command: &Command) -> Result<Flow> {
        match command {
            Command::Sql(sql) if is_quit_word(sql) => Ok(Flow::Quit),
            Command::Sql(sql) => match self.run_sql(sql).await {
                Ok(()) => Ok(Flow::Continue),
                Err(e) => Err(name_the_file(&self.lake, e).await),
            },
            Command::Meta(line) => self.meta(line).await,
        }
    }

    async fn run_sql(&mut self, sql: &str) -> Result<()> {
        let started = Instant::now();
        let df = self.ctx.sql(sql).await.context("query")?;
        let no_columns = df.schema().fields().is_empty();
        let stream = df.execute_stream().await.context("query")?;
        if no_columns {
            // DDL (CREATE VIEW, SET, ...): nothing to print, but its errors are the user's.
            drain(stream).await?;
            self.note(&display::footer_ok(self.elapsed(started)));
            return Ok(());
        }
        let printed = self.print(stream).await?;
        let mut footer = display::footer(printed, self.elapsed(started));
        if let Some((path, _)) = &self.output {
            footer.push_str(&format!(", written to {}", path.display()));
        }
        self.note(&footer);
        Ok(())
    }

    /// Prints a result to `\o`'s file or standard output, in the shell's format.
    async fn print(
        &mut self,
        stream: datafusion::execution::SendableRecordBatchStream,
    ) -> Result<display::Printed> {
        let (format, max_rows) = (self.settings.format, self.settings.max_rows);
        match &mut self.output {
            // A file gets every row.
            Some((_, file)) => display::print_stream(stream, format, None, file).await,
            None => {
                let mut stdout = BufWriter::new(std::io::stdout());
                display::print_stream(stream, format, max_rows, &mut stdout).await
            }
        }
    }

    fn elapsed(&self, started: Instant) -> Option<std::time::Duration> {
        self.settings.timing.then(|| started.elapsed())
    }

    /// A row count or time, on standard error so that results on standard output stay clean.
    fn note(&self, text: &str) {
        if !self.settings.quiet {
            eprintln!("{text}");
        }
    }

    /// The names the completion offers: tables, columns and functions.
    pub async fn completion_words(&self) -> Vec<String> {
        completion::words(&self.ctx).await
    }
}

/// Runs a statement whose result has no columns to its end, failing with its first error.
async fn drain(mut stream: datafusion::execution::SendableRecordBatchStream) -> Result<()> {
    while let Some(batch) = futures::StreamExt::next(&mut stream).await {
        batch.context("query")?;
    }
    Ok(())
}

fn is_quit_word(sql: &str) -> bool {
    matches!(sql.trim().to_ascii_lowercase().as_str(), "quit" | "exit")
}

/// `huntlake sql`.
pub async fn run(args: SqlArgs) -> Result<()> {
    let mut shell = Shell::open(&args).await?;
    let scripted = !args.commands.is_empty() || !args.files.is_empty();
    if scripted {
        for text in &args.commands {
            if run_script(&mut shell, text.as_bytes(), "-c").await? == Flow::Quit {
                return Ok(());
            }
        }
        for path in &args.files {
            let file = File::open(path).map_err(|source| HuntError::Io {
                context: format!("reading {}", path.display()),
                source,
            })?;
            let origin = path.display().to_string();
            if run_script(&mut shell, std::io::BufReader::new(file), &origin).await? == Flow::Quit {
                return Ok(());
            }
        }
        return Ok(());
    }
    if std::io::stdin().is_terminal() {
        return repl::interactive(&mut shell).await;
    }
    run_script(&mut shell, std::io::stdin().lock(), "standard input")
        .await
        .map(|_| ())
}

/// Runs the commands read from `input`, stopping at the first error. Lines are read as they
/// come, so a long script or an endless pipe is never held whole.
async fn run_script(shell: &mut Shell, input: impl BufRead, origin: &str) -> Result<Flow> {
    let mut buffer = StatementBuffer::new();
    for line in input.lines() {
        let line = line.map_err(|source| HuntError::Io {
            context: format!("reading {origin}"),
            source,
        })?;
        for command in buffer.push(&format!("{line}\n")) {
            if shell.execute(&command).await? == Flow::Quit {
                return Ok(Flow::Quit);
            }
        }
    }
    match buffer.finish() {
        Some(command) => shell.execute(&command).await,
        None => Ok(Flow::Continue),
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        if let Some((_, file)) = &mut self.output {
            let _ = file.flush();
        }
    }
}

/// The rule steps, for `\d`.
impl Shell {
    fn step(&self, name: &str) -> Option<&Arc<RuleStep>> {
        self.steps
            .iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_statement_without_columns_reports_its_errors() {
        use datafusion::arrow::datatypes::Schema;
        use datafusion::common::DataFusionError;
        use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
        let failing = futures::stream::iter(vec![Err(DataFusionError::Execution(
            "the view's query failed".into(),
        ))]);
        let stream = Box::pin(RecordBatchStreamAdapter::new(
            Arc::new(Schema::empty()),
            failing,
        ));
        let error = drain(stream).await.unwrap_err().to_string();
        assert!(error.contains("the view's query failed"), "{error}");
    }

    #[test]
    fn quit_words() {
        assert!(is_quit_word(" Quit "));
        assert!(is_quit_word("exit"));
        assert!(!is_quit_word("exit 1"));
    }
}
