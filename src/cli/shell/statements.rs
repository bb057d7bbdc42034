//! Splitting shell input into commands: SQL statements end at a `;` outside quotes and
//! comments; a line starting with `\` is a meta command and ends with the line.

/// One command of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A SQL statement, without its terminating `;`.
    Sql(String),
    /// A meta command line, without its leading `\`.
    Meta(String),
}

/// Accumulates input lines and hands out the complete commands in it.
#[derive(Debug, Default)]
pub struct StatementBuffer {
    pending: String,
}

impl StatementBuffer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `text` (one or more lines) and returns the commands it completes.
    pub fn push(&mut self, text: &str) -> Vec<Command> {
        let mut commands = Vec::new();
        for line in text.split_inclusive('\n') {
            if self.pending.trim().is_empty() {
                let trimmed = line.trim();
                if let Some(meta) = trimmed.strip_prefix('\\') {
                    self.pending.clear();
                    let meta = meta.trim_end_matches(';').trim();
                    commands.push(Command::Meta(meta.to_string()));
                    continue;
                }
            }
            self.pending.push_str(line);
            let (statements, rest) = split_statements(&self.pending);
            commands.extend(statements.into_iter().map(Command::Sql));
            self.pending = rest;
        }
        commands
    }

    /// The unfinished statement at the end of the input, if it holds more than blanks and
    /// comments (a script's last statement may lack its `;`).
    pub fn finish(&mut self) -> Option<Command> {
        let rest = std::mem::take(&mut self.pending);
        (!is_blank(&rest)).then(|| Command::Sql(rest.trim().to_string()))
    }

    /// True while a statement is started but not ended.
    pub fn is_incomplete(&self) -> bool {
        !is_blank(&self.pending)
    }
}

/// True when `text` needs more input to end its statement: it holds SQL after its last `;`
/// (outside quotes and comments). A meta command is always complete.
pub fn needs_more_input(text: &str) -> bool {
    if text.trim_start().starts_with('\\') {
        return false;
    }
    let (_, rest) = split_statements(text);
    !is_blank(&rest)
}

/// True when `text` holds nothing but whitespace and comments.
fn is_blank(text: &str) -> bool {
    let mut scanner = Scanner::new(text);
    while let Some(token) = scanner.next_token() {
        if let Token::Code | Token::Quoted = token {
            return false;
        }
    }
    true
}

/// The complete statements in `text` (trimmed, without `;`, blank ones dropped) and the rest.
fn split_statements(text: &str) -> (Vec<String>, String) {
    let mut statements = Vec::new();
    let mut start = 0;
    let mut scanner = Scanner::new(text);
    while let Some(token) = scanner.next_token() {
        if let Token::Semicolon(at) = token {
            let statement = &text[start..at];
            if !is_blank(statement) {
                statements.push(statement.trim().to_string());
            }
            start = at + 1;
        }
    }
    (statements, text[start..].to_string())
}

enum Token {
    Semicolon(usize),
    Code,
    Quoted,
    Comment,
    Space,
}

/// A minimal SQL lexer: enough to find the `;` that end statements.
struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Scanner { text, pos: 0 }
    }

    fn next_token(&mut self) -> Option<Token> {
        let rest = &self.text[self.pos..];
        let c = rest.chars().next()?;
        let at = self.pos;
        if rest.starts_with("--") {
            self.pos += rest.find('\n').map_or(rest.len(), |i| i + 1);
            return Some(Token::Comment);
        }
        if let Some(body) = rest.strip_prefix("/*") {
            self.pos += body.find("*/").map_or(rest.len(), |i| i + 4);
            return Some(Token::Comment);
        }
        if c == '\'' || c == '"' {
            // A doubled quote inside is an escaped quote; an unclosed quote runs to the end.
            let mut i = 1;
            let bytes = rest.as_bytes();
            let quote = c as u8;
            loop {
                match rest[i..].find(c) {
                    None => {
                        self.pos += rest.len();
                        break;
                    }
                    Some(j) => {
                        i += j + 1;
                        if bytes.get(i) == Some(&quote) {
                            i += 1;
                        } else {
                            self.pos += i;
                            break;
                        }
                    }
                }
            }
            return Some(Token::Quoted);
        }
        self.pos += c.len_utf8();
        Some(match c {
            ';' => Token::Semicolon(at),
            c if c.is_whitespace() => Token::Space,
            _ => Token::Code,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(s: &str) -> Command {
        Command::Sql(s.into())
    }

    #[test]
    fn statements_end_at_semicolons_outside_quotes_and_comments() {
        let mut buffer = StatementBuffer::new();
        assert_eq!(
            buffer.push("SELECT 1; SELECT ';' -- a ; here\n"),
            vec![sql("SELECT 1")]
        );
        assert!(buffer.is_incomplete());
        assert_eq!(
            buffer.push("  , 'it''s;' /* ; */;\n"),
            vec![sql("SELECT ';' -- a ; here\n  , 'it''s;' /* ; */")]
        );
        assert!(!buffer.is_incomplete());
        assert_eq!(
            buffer.push("SELECT \"a;b\" FROM t;"),
            vec![sql("SELECT \"a;b\" FROM t")]
        );
    }

    #[test]
    fn meta_commands_are_whole_lines_only_between_statements() {
        let mut buffer = StatementBuffer::new();
        assert_eq!(
            buffer.push("\\d DeviceProcessEvents\nSELECT 1;\n"),
            vec![
                Command::Meta("d DeviceProcessEvents".into()),
                sql("SELECT 1")
            ]
        );
        // Inside a statement a backslash line is SQL text, not a command.
        assert_eq!(buffer.push("SELECT\n"), vec![]);
        assert_eq!(buffer.push("\\q\n;"), vec![sql("SELECT\n\\q")]);
        assert_eq!(
            buffer.push("\\timing;\n"),
            vec![Command::Meta("timing".into())]
        );
    }

    #[test]
    fn the_last_statement_may_lack_its_semicolon() {
        let mut buffer = StatementBuffer::new();
        assert_eq!(buffer.push("SELECT 1;\nSELECT 2\n"), vec![sql("SELECT 1")]);
        assert_eq!(buffer.finish(), Some(sql("SELECT 2")));
        assert_eq!(buffer.push("-- only a comment\n;;  \n"), vec![]);
        assert_eq!(buffer.finish(), None);
    }

    #[test]
    fn multi_line_input_is_incomplete_until_its_semicolon() {
        assert!(needs_more_input("SELECT *\nFROM t"));
        assert!(needs_more_input("SELECT ';'"));
        assert!(needs_more_input("SELECT 1; SELECT 2"));
        assert!(!needs_more_input("SELECT *\nFROM t;"));
        assert!(!needs_more_input("SELECT 1; -- done"));
        assert!(!needs_more_input("\\d"));
        assert!(!needs_more_input("   "));
    }
}
