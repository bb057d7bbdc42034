//! Results as a table for people: wide cells cut, one line per row.

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use datafusion::arrow::record_batch::RecordBatch;

use crate::output::cells;

/// How wide a table cell may be before it is cut.
pub const CELL_WIDTH: usize = 48;

/// An empty table in huntlake's style.
pub fn plain_table() -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    table
}

/// `batches` as a table, cells cut at [`CELL_WIDTH`] characters.
pub fn render(batches: &[RecordBatch]) -> String {
    let mut table = plain_table();
    if let Some(first) = batches.first() {
        table.set_header(first.schema().fields().iter().map(|f| f.name().clone()));
    }
    for batch in batches {
        for row in 0..batch.num_rows() {
            table.add_row(
                batch
                    .columns()
                    .iter()
                    .map(|c| truncate(&cells::text_value(c, row), CELL_WIDTH)),
            );
        }
    }
    table.to_string()
}

/// One line of at most `width` characters: line breaks become spaces, and other control
/// characters (a value from the lake may hold terminal escape sequences) are shown escaped
/// (`\u{1b}`), never sent to the terminal.
fn truncate(text: &str, width: usize) -> String {
    let mut one_line = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' => one_line.push(' '),
            c if c.is_control() => one_line.extend(c.escape_unicode()),
            c => one_line.push(c),
        }
    }
    if one_line.chars().count() <= width {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(width - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_one_line_cut_and_never_carry_control_characters() {
        assert_eq!(truncate("a\nb", 10), "a b");
        assert_eq!(truncate("\u{1b}[2Jx", 20), "\\u{1b}[2Jx");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
