//! Tab completion: SQL keywords, table and column names, functions, and backslash commands.

use std::collections::BTreeSet;

use datafusion::prelude::SessionContext;

/// The SQL words worth completing.
const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "ORDER BY",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "JOIN",
    "LEFT JOIN",
    "RIGHT JOIN",
    "FULL JOIN",
    "INNER JOIN",
    "CROSS JOIN",
    "ON",
    "USING",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "LIKE",
    "ILIKE",
    "BETWEEN",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "DISTINCT",
    "UNION",
    "UNION ALL",
    "EXCEPT",
    "INTERSECT",
    "WITH",
    "ASC",
    "DESC",
    "NULLS FIRST",
    "NULLS LAST",
    "COUNT",
    "INTERVAL",
    "TIMESTAMP",
    "CAST",
    "TRY_CAST",
    "EXISTS",
    "CREATE VIEW",
    "CREATE TABLE",
    "DROP VIEW",
    "DROP TABLE",
    "EXPLAIN",
    "ANALYZE",
    "SHOW",
    "SET",
    "TRUE",
    "FALSE",
    "OVER",
    "PARTITION BY",
    "QUALIFY",
    "COPY",
    "TO",
];

/// Every table name (with `raw.` for the raw tables), column name and function name.
pub async fn words(ctx: &SessionContext) -> Vec<String> {
    let mut words = BTreeSet::new();
    if let Some(catalog) = ctx.catalog("datafusion") {
        for schema_name in catalog.schema_names() {
            let Some(schema) = catalog.schema(&schema_name) else {
                continue;
            };
            for table in schema.table_names() {
                let qualified = if schema_name == "public" {
                    table.clone()
                } else {
                    format!("{schema_name}.{table}")
                };
                words.insert(qualified);
                words.insert(table);
            }
        }
    }
    // Columns: from the registered providers, without planning anything.
    let state = ctx.state();
    let tables: Vec<String> = words.iter().cloned().collect();
    for name in tables {
        if let Ok(provider) = ctx.table_provider(name.as_str()).await {
            for field in provider.schema().fields() {
                words.insert(field.name().clone());
            }
        }
    }
    words.extend(state.scalar_functions().keys().cloned());
    words.extend(state.aggregate_functions().keys().cloned());
    words.into_iter().collect()
}

/// The completions of the word that ends at `pos` in `line`: where it starts, and the
/// candidates. Keywords follow the case of what was typed.
pub fn complete(line: &str, pos: usize, words: &[String]) -> (usize, Vec<String>) {
    let before = &line[..pos];
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || matches!(c, '_' | '.' | '\\'))
        .last()
        .map_or(pos, |(i, _)| i);
    let prefix = &before[start..];
    if prefix.is_empty() {
        return (pos, Vec::new());
    }
    if prefix.starts_with('\\') {
        let commands = super::meta::COMMANDS
            .iter()
            .filter_map(|(usage, _)| usage.split_whitespace().next())
            .filter(|c| c.starts_with(prefix))
            .map(str::to_string)
            .collect();
        return (start, commands);
    }
    let lower = prefix.to_ascii_lowercase();
    let typed_lower = prefix.chars().all(|c| !c.is_ascii_uppercase());
    let mut candidates: Vec<String> = words
        .iter()
        .filter(|w| w.to_ascii_lowercase().starts_with(&lower))
        .cloned()
        .collect();
    candidates.extend(
        KEYWORDS
            .iter()
            .filter(|k| k.to_ascii_lowercase().starts_with(&lower))
            .map(|k| {
                if typed_lower {
                    k.to_ascii_lowercase()
                } else {
                    k.to_string()
                }
            }),
    );
    candidates.sort();
    candidates.dedup();
    (start, candidates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_names_keywords_and_commands() {
        let words = vec![
            "DeviceProcessEvents".to_string(),
            "DeviceName".to_string(),
            "raw.DeviceProcessEvents".to_string(),
            "date_bin".to_string(),
        ];
        assert_eq!(
            complete("SELECT * FROM DevicePr", 22, &words),
            (14, vec!["DeviceProcessEvents".to_string()])
        );
        assert_eq!(
            complete("select devicen", 14, &words),
            (7, vec!["DeviceName".to_string()])
        );
        assert_eq!(complete("sel", 3, &words), (0, vec!["select".to_string()]));
        assert_eq!(complete("SEL", 3, &words), (0, vec!["SELECT".to_string()]));
        assert_eq!(
            complete("FROM raw.Dev", 12, &words),
            (5, vec!["raw.DeviceProcessEvents".to_string()])
        );
        assert_eq!(
            complete("\\ti", 3, &words),
            (0, vec!["\\timing".to_string()])
        );
        assert_eq!(complete("SELECT ", 7, &words), (7, vec![]));
    }
}
