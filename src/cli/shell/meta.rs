//! The shell's backslash commands.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;

use super::{Flow, Shell};
use crate::cli::args::DetectArgs;
use crate::cli::detect::{Delivered, deliver, prevalence_for, report, run_with_bar};
use crate::cli::table::plain_table;
use crate::error::{HuntError, QueryContext, Result};
use crate::lake::{DefenderTable, RAW_SCHEMA};
use crate::output::Format;
use crate::output::alerts;
use crate::output::state::State;
use crate::rule::{RuleOptions, steps};
use crate::time::now_nanos;
use std::time::Instant;

/// The commands, for `\?` and completion.
pub const COMMANDS: [(&str, &str); 10] = [
    ("\\?", "this help"),
    (
        "\\d [TABLE]",
        "list the tables with their row counts, or a table's columns and types",
    ),
    (
        "\\timing [on|off]",
        "show each query's time (on by default)",
    ),
    (
        "\\format [table|csv|json|ndjson]",
        "how results are printed",
    ),
    (
        "\\maxrows [N|all]",
        "rows a table shows (the rest are counted)",
    ),
    (
        "\\o [FILE]",
        "write results to FILE (every row); \\o alone goes back to the screen",
    ),
    ("\\rule", "print the rule's SQL and its parameters"),
    (
        "\\detect [flags]",
        "run the detection (detect's flags: --lookback 30d, --allow NAME, ...; \\detect --help); \
         its rows stay queryable as Detections",
    ),
    ("\\q", "quit (also Ctrl-D, quit, exit)"),
    (
        "Ctrl-C",
        "cancel the running query, or clear the line being typed",
    ),
];

/// The table `\detect` leaves its rows in.
pub const DETECTIONS_TABLE: &str = "Detections";

#[derive(Parser)]
#[command(name = "\\detect", no_binary_name = true, disable_version_flag = true)]
struct DetectCommand {
    #[command(flatten)]
    args: DetectArgs,
}

impl Shell {
    pub(super) async fn meta(&mut self, line: &str) -> Result<Flow> {
        let line = line.trim();
        let (name, rest) = match line.find(char::is_whitespace) {
            Some(i) => (&line[..i], line[i..].trim()),
            None => (line, ""),
        };
        match name {
            "q" | "quit" => return Ok(Flow::Quit),
            "?" | "h" | "help" => self.help(),
            "d" if rest.is_empty() => self.list_tables().await?,
            "d" => self.describe_table(rest).await?,
            "timing" => {
                self.settings.timing = on_off(rest, self.settings.timing, "\\timing")?;
                println!("timing {}", if self.settings.timing { "on" } else { "off" });
            }
            "format" => {
                if !rest.is_empty() {
                    let format = Format::from_name(rest)
                        .filter(|f| *f != Format::Parquet && !f.is_alert())
                        .ok_or_else(|| {
                            HuntError::usage(format!(
                                "\\format {rest}: expected table, csv, json or ndjson"
                            ))
                        })?;
                    self.settings.format = format;
                }
                println!("format {}", self.settings.format.name());
            }
            "maxrows" => {
                match rest {
                    "" => {}
                    "all" | "0" => self.settings.max_rows = None,
                    n => {
                        let n: usize = n.parse().map_err(|_| {
                            HuntError::usage(format!("\\maxrows {n}: expected a number or all"))
                        })?;
                        self.settings.max_rows = Some(n);
                    }
                }
                match self.settings.max_rows {
                    Some(n) => println!("tables show {n} rows"),
                    None => println!("tables show every row"),
                }
            }
            "o" => self.redirect(rest)?,
            "rule" => self.print_rule(),
            "detect" => self.detect(rest).await?,
            _ => {
                return Err(HuntError::usage(format!(
                    "unknown command \\{name}; \\? lists the commands"
                )));
            }
        }
        Ok(Flow::Continue)
    }

    fn help(&self) {
        let mut table = plain_table();
        table.set_header(["command", "what it does"]);
        for (command, what) in COMMANDS {
            table.add_row([command, what]);
        }
        println!(
            "SQL statements end with ;  Tables: the four Defender tables by name (Kusto view: \
             strings never null, 100-ns datetimes), raw.<Table> (the files as they are), \
             GetServices and RareServices (the rule's steps, computed on first use).\n{table}"
        );
    }

    async fn list_tables(&self) -> Result<()> {
        let mut table = plain_table();
        table.set_header(["table", "kind", "rows", "files"]);
        for t in &self.lake.tables {
            let (rows, files) = (t.rows().to_string(), t.files.len().to_string());
            table.add_row([
                t.table.name().to_string(),
                "Defender table (Kusto view)".into(),
                rows.clone(),
                files.clone(),
            ]);
            table.add_row([
                format!("{RAW_SCHEMA}.{}", t.table.name()),
                "Parquet files as stored".into(),
                rows,
                files,
            ]);
        }
        for step in &self.steps {
            table.add_row([
                step.name().to_string(),
                format!("rule step (sql/{})", step.file()),
                step.rows()
                    .map_or("computed on first use".into(), |n| n.to_string()),
                String::new(),
            ]);
        }
        // The user's own tables and views.
        let known =
            |name: &str| DefenderTable::from_name(name).is_some() || self.step(name).is_some();
        let mut others: Vec<String> = self
            .ctx
            .catalog("datafusion")
            .and_then(|c| c.schema("public"))
            .map(|s| s.table_names())
            .unwrap_or_default()
            .into_iter()
            .filter(|n| !known(n))
            .collect();
        others.sort();
        for name in others {
            let provider = self.ctx.table_provider(name.as_str()).await.ok();
            let rows = match provider.as_ref().and_then(|p| p.statistics()) {
                Some(stats) => stats
                    .num_rows
                    .get_value()
                    .map_or(String::new(), |n| n.to_string()),
                None => String::new(),
            };
            let kind = provider.map_or(String::new(), |p| {
                format!("{:?}", p.table_type()).to_lowercase()
            });
            table.add_row([name, kind, rows, String::new()]);
        }
        println!("{table}");
        Ok(())
    }

    async fn describe_table(&self, name: &str) -> Result<()> {
        let reference = TableReference::from(name);
        let provider = self
            .ctx
            .table_provider(reference.clone())
            .await
            .context(format!("\\d {name}"))?;
        let defender = DefenderTable::from_name(reference.table()).or_else(|| {
            DefenderTable::ALL
                .into_iter()
                .find(|t| t.name().eq_ignore_ascii_case(reference.table()))
        });
        let mut table = plain_table();
        table.set_header(["#", "column", "type", "Arrow type", "nullable"]);
        for (i, field) in provider.schema().fields().iter().enumerate() {
            let kusto = defender
                .and_then(|t| t.column(field.name()))
                .map(|c| c.kusto_type.kusto_name().to_string())
                .unwrap_or_else(|| type_label(field.data_type()));
            table.add_row([
                (i + 1).to_string(),
                field.name().clone(),
                kusto,
                field.data_type().to_string(),
                if field.is_nullable() { "yes" } else { "no" }.into(),
            ]);
        }
        println!("{table}");
        Ok(())
    }

    fn redirect(&mut self, path: &str) -> Result<()> {
        if let Some((_, mut file)) = self.output.take() {
            let _ = file.flush();
        }
        if path.is_empty() {
            println!("results go to the screen");
            return Ok(());
        }
        let path = PathBuf::from(path);
        let file = File::create(&path).map_err(|e| HuntError::Output {
            path: path.clone(),
            message: e.to_string(),
        })?;
        println!("results go to {} (every row)", path.display());
        self.output = Some((path, BufWriter::new(file)));
        Ok(())
    }

    fn print_rule(&self) {
        let params = &self.params;
        println!(
            "-- The rule as `detect` runs it (keyed plan). Parameters are bound, never spliced:\n\
             --   $since     = {} (as of {} minus the {} lookback)\n\
             --   $allowlist = {:?}\n\
             --   $threshold = {}\n\
             --   $rare_services, $rare_devices = the distinct ServiceProcess and DeviceName \
             values of RareServices\n\
             --   $min_pid, $max_pid = the range of the rare instances' ServiceProcessID\n\
             -- (the shell's parameters: huntlake sql --lookback, --threshold, --allow, --allowlist)\n",
            crate::time::format_rfc3339(params.since()),
            crate::time::format_rfc3339(params.as_of),
            crate::time::format_span(params.options.lookback),
            params.options.allowlist,
            params.options.threshold,
        );
        for step in steps::KEYED_PLAN {
            println!(
                "-- ===== sql/{} =====\n{}\n",
                step.file,
                step.sql.trim_end()
            );
        }
    }

    async fn detect(&mut self, flags: &str) -> Result<()> {
        let words = shlex::split(flags)
            .ok_or_else(|| HuntError::usage(format!("\\detect {flags}: unbalanced quotes")))?;
        let matches = match DetectCommand::command().try_get_matches_from(words) {
            Ok(matches) => matches,
            Err(e) if !e.use_stderr() => {
                // --help
                println!("{e}");
                return Ok(());
            }
            Err(e) => {
                return Err(HuntError::usage(
                    e.render().to_string().trim_end().to_string(),
                ));
            }
        };
        let command = DetectCommand::from_arg_matches(&matches)
            .map_err(|e| HuntError::usage(e.render().to_string().trim_end().to_string()))?;
        let mut args = command.args;
        let given_lake = args.lake.lake.is_some();
        self.inherit_unset_flags(&matches, &mut args);
        let (mut request, output) = args.into_request()?;
        request.event_times = output.needs_event_times();
        request.rule = self.rule_options_for(&matches, request.rule);
        if !given_lake {
            request.lake = self.lake_source.clone();
            // The shell's now(), unless another lake (with its own reference time) is named.
            if request.as_of.is_none() {
                request.as_of = Some(self.params.as_of);
            }
        }
        if output.fail_on_detection {
            return Err(HuntError::usage(
                "\\detect: --fail-on-detection sets huntlake detect's exit code; the shell has none",
            ));
        }
        let state = match &output.state {
            Some(root) => Some(State::open(root, &request.rule, output.reset_state).await?),
            None => None,
        };
        let (started, clock) = (now_nanos(), Instant::now());
        let detection = run_with_bar(&request).await?;

        let rows = alerts::with_alert_ids(&detection.batches)?;
        let schema = rows[0].schema();
        let table = MemTable::try_new(schema, vec![rows]).context("keeping the detections")?;
        let _ = self.ctx.deregister_table(DETECTIONS_TABLE);
        self.ctx
            .register_table(DETECTIONS_TABLE, Arc::new(table))
            .context("keeping the detections")?;

        let to_tools = output.output.is_some()
            || output.state.is_some()
            || output.with_prevalence
            || output
                .format
                .is_some_and(|f| f == Format::Parquet || f.is_alert());
        let mut delivered = Delivered::default();
        if to_tools {
            let mut output = output.clone();
            output.format = Some(Format::choose(output.format, output.output.as_deref()));
            if output.output.is_none() && output.format == Some(Format::Table) {
                output.format = Some(self.settings.format);
            }
            let prevalence = prevalence_for(&request, &detection, &output).await?;
            delivered = deliver(&detection, &output, prevalence, state, started, clock).await?;
        } else {
            let saved = self.settings.format;
            if let Some(format) = output.format {
                self.settings.format = format;
            }
            let df = self
                .ctx
                .table(DETECTIONS_TABLE)
                .await
                .context("reading the detections")?;
            let stream = df.execute_stream().await.context("reading the detections");
            let printed = match stream {
                Ok(stream) => self.print(stream).await,
                Err(e) => Err(e),
            };
            self.settings.format = saved;
            printed?;
        }
        report(
            &detection,
            &output,
            &format!(
                "{} (SELECT * FROM {DETECTIONS_TABLE} to query them)",
                delivered.summary()
            ),
        );
        if request.rule != self.params.options {
            eprintln!(
                "note: this detection's parameters differ from the shell's; the tables {} keep \
                 the shell's (lookback {}, threshold {}); restart huntlake sql with the same \
                 flags to query them with these",
                steps::MATERIALIZED.map(|s| s.name).join(" and "),
                crate::time::format_span(self.params.options.lookback),
                self.params.options.threshold,
            );
        }
        Ok(())
    }

    /// `\detect` reads the lake and uses resources as the shell does, but for the flags given.
    fn inherit_unset_flags(&self, matches: &ArgMatches, args: &mut DetectArgs) {
        let typed = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
        let (lake, session) = (&self.lake_args, &self.session_args);
        let given = args.lake.time_column.take();
        args.lake.time_column = given_or(typed("time_column"), given, &lake.time_column);
        let given = args.lake.skip_bad_files;
        args.lake.skip_bad_files = given_or(typed("skip_bad_files"), given, &lake.skip_bad_files);
        let given = args.session.memory_limit;
        args.session.memory_limit = given_or(typed("memory_limit"), given, &session.memory_limit);
        let given = args.session.materialize_budget;
        args.session.materialize_budget = given_or(
            typed("materialize_budget"),
            given,
            &session.materialize_budget,
        );
        let given = args.session.spill_dir.take();
        args.session.spill_dir = given_or(typed("spill_dir"), given, &session.spill_dir);
        let given = args.session.threads;
        args.session.threads = given_or(typed("threads"), given, &session.threads);
        let given = std::mem::take(&mut args.session.workers);
        args.session.workers = given_or(typed("workers"), given, &session.workers);
        let given = args.session.scratch.take();
        args.session.scratch = given_or(typed("scratch"), given, &session.scratch);
    }

    /// The rule's options for a `\detect`: each flag the user gave, else the shell's.
    fn rule_options_for(&self, matches: &ArgMatches, given: RuleOptions) -> RuleOptions {
        let typed = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
        let shell = &self.params.options;
        RuleOptions {
            lookback: given_or(typed("lookback"), given.lookback, &shell.lookback),
            threshold: given_or(typed("threshold"), given.threshold, &shell.threshold),
            allowlist: given_or(
                typed("allow") || typed("allowlist"),
                given.allowlist,
                &shell.allowlist,
            ),
            keep_empty_in_sets: given_or(
                typed("drop_empty_in_sets"),
                given.keep_empty_in_sets,
                &shell.keep_empty_in_sets,
            ),
            null_keys_match: given_or(
                typed("null_keys_match"),
                given.null_keys_match,
                &shell.null_keys_match,
            ),
        }
    }
}

/// The value a flag was given on `\detect`'s line, else the shell's own.
fn given_or<T: Clone>(typed: bool, given: T, shell: &T) -> T {
    if typed { given } else { shell.clone() }
}

fn on_off(arg: &str, current: bool, command: &str) -> Result<bool> {
    match arg.to_ascii_lowercase().as_str() {
        "" => Ok(!current),
        "on" | "true" => Ok(true),
        "off" | "false" => Ok(false),
        other => Err(HuntError::usage(format!(
            "{command} {other}: expected on or off"
        ))),
    }
}

/// A Kusto-like name for an Arrow type, for tables that are not Defender tables.
fn type_label(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Dictionary(_, value) => type_label(value),
        DataType::Int64 | DataType::UInt64 | DataType::UInt32 => "long".into(),
        DataType::Int32 | DataType::Int16 | DataType::Int8 | DataType::UInt16 | DataType::UInt8 => {
            "int".into()
        }
        DataType::Float64 | DataType::Float32 => "real".into(),
        DataType::Boolean => "bool".into(),
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => "datetime".into(),
        DataType::Duration(_) | DataType::Interval(_) => "timespan".into(),
        DataType::List(_) | DataType::LargeList(_) | DataType::ListView(_) => "dynamic".into(),
        other => other.to_string(),
    }
}
