//! The interactive shell: line editing and history (rustyline), statements over several lines
//! until their `;`, tab completion, Ctrl-C to cancel a query, Ctrl-D to leave.

use std::path::PathBuf;

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Config, Context, Editor, Helper};

use super::statements::{StatementBuffer, needs_more_input};
use super::{Flow, Shell, completion};
use crate::error::{HuntError, Result};

const PROMPT: &str = "huntlake> ";

struct ShellHelper {
    words: Vec<String>,
}

impl Completer for ShellHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(completion::complete(line, pos, &self.words))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Validator for ShellHelper {
    /// Enter inside an unfinished statement starts a new line of it.
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(
            if needs_more_input(ctx.input()) && !super::is_quit_word(ctx.input()) {
                ValidationResult::Incomplete
            } else {
                ValidationResult::Valid(None)
            },
        )
    }
}

impl Helper for ShellHelper {}

/// Where history is kept: `$HUNTLAKE_HISTORY`, else `~/.huntlake_history`.
fn history_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("HUNTLAKE_HISTORY") {
        return (!path.is_empty()).then(|| PathBuf::from(path));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".huntlake_history"))
}

pub async fn interactive(shell: &mut Shell) -> Result<()> {
    let readline_error = |e: ReadlineError| HuntError::Io {
        context: "reading the terminal".into(),
        source: std::io::Error::other(e),
    };
    let config = Config::builder()
        .max_history_size(10_000)
        .map_err(readline_error)?
        .history_ignore_dups(true)
        .map_err(readline_error)?
        .auto_add_history(false)
        .build();
    let mut editor: Editor<ShellHelper, FileHistory> =
        Editor::with_config(config).map_err(readline_error)?;
    editor.set_helper(Some(ShellHelper {
        words: shell.completion_words().await,
    }));
    let history = history_path();
    if let Some(path) = &history
        && path.exists()
        && let Err(e) = editor.load_history(path)
    {
        eprintln!("note: history {} not read: {e}", path.display());
    }

    println!(
        "huntlake sql: {}\nEnd statements with ;  \\? for help, \\q or Ctrl-D to quit.",
        shell.describe()
    );
    loop {
        let text = match editor.readline(PROMPT) {
            Ok(text) => text,
            // Ctrl-C while typing drops the line.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(readline_error(e)),
        };
        if text.trim().is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(text.as_str());
        if let Some(path) = &history
            && let Err(e) = editor.save_history(path)
        {
            eprintln!("note: history {} not saved: {e}", path.display());
        }
        let mut buffer = StatementBuffer::new();
        let mut commands = buffer.push(&text);
        commands.extend(buffer.finish());
        for command in commands {
            let outcome = tokio::select! {
                outcome = shell.execute(&command) => outcome,
                _ = tokio::signal::ctrl_c() => {
                    // Dropping the query's future stops its plan.
                    eprintln!("note: cancelled");
                    break;
                }
            };
            match outcome {
                Ok(Flow::Quit) => return Ok(()),
                Ok(Flow::Continue) => {}
                Err(e) => eprintln!("huntlake: error: {e}"),
            }
        }
        // Statements may have created tables or views.
        if let Some(helper) = editor.helper_mut() {
            helper.words = shell.completion_words().await;
        }
    }
    Ok(())
}
