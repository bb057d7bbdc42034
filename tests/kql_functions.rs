//! The KQL-compatible functions (`huntlake::register_kql`), through SQL on a real
//! `SessionContext`. Each function gets the examples of its page in Microsoft's Kusto
//! reference, quoted in comments, and the edge cases a naive translation gets wrong (the
//! semantics are stated in docs/sql-functions.md).

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, DictionaryArray, Int64Array, LargeStringArray, RecordBatch,
    StringArray, StringViewArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use huntlake::parse_datetime;
use huntlake::{register_all, register_kql};

const AS_OF: &str = "2024-10-09T14:41:10Z";

fn session(as_of: Option<i64>, partitions: usize) -> SessionContext {
    let ctx =
        SessionContext::new_with_config(SessionConfig::new().with_target_partitions(partitions));
    register_all(&ctx);
    register_kql(&ctx, as_of);
    ctx
}

fn fixed() -> SessionContext {
    session(Some(parse_datetime(AS_OF).unwrap()), 4)
}

/// Every cell of the result as text (`NULL` for null), row by row.
async fn rows_in(ctx: &SessionContext, sql: &str) -> Vec<Vec<String>> {
    let batches = ctx
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for batch in &batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    out
}

async fn rows(sql: &str) -> Vec<Vec<String>> {
    rows_in(&fixed(), sql).await
}

/// The single row of `sql`.
async fn row(sql: &str) -> Vec<String> {
    let mut all = rows(sql).await;
    assert_eq!(all.len(), 1, "{sql}");
    all.remove(0)
}

/// The error `sql` fails with, at planning or execution.
async fn error_of(ctx: &SessionContext, sql: &str) -> String {
    match ctx.sql(sql).await {
        Err(e) => e.to_string(),
        Ok(df) => match df.collect().await {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{sql} should fail"),
        },
    }
}

fn strs(values: &[&str]) -> Vec<String> {
    values.iter().map(|s| s.to_string()).collect()
}

/// A table `t` with a group key, a string with nulls and blanks, a flag and a number.
fn events(ctx: &SessionContext) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("g", DataType::Int64, false),
        Field::new("x", DataType::Utf8, true),
        Field::new("flag", DataType::Boolean, true),
        Field::new("n", DataType::Int64, true),
    ]));
    let g: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 1, 1, 1, 2, 2, 2, 3]));
    let x: ArrayRef = Arc::new(StringArray::from(vec![
        Some("b"),
        Some("a"),
        Some("b"),
        None,
        Some(""),
        Some("z"),
        Some("z"),
        None,
        None,
    ]));
    let flag: ArrayRef = Arc::new(BooleanArray::from(vec![
        Some(true),
        Some(false),
        Some(true),
        Some(true),
        None,
        Some(true),
        Some(false),
        Some(true),
        Some(true),
    ]));
    let n: ArrayRef = Arc::new(Int64Array::from(vec![
        Some(1),
        Some(2),
        Some(2),
        None,
        Some(3),
        Some(-1),
        Some(-11),
        Some(0),
        None,
    ]));
    let batch = RecordBatch::try_new(schema.clone(), vec![g, x, flag, n]).unwrap();
    let table = MemTable::try_new(schema, vec![vec![batch]]).unwrap();
    ctx.register_table("t", Arc::new(table)).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Aggregates
// ---------------------------------------------------------------------------------------------

/// make-list-aggregation-function: "Creates a dynamic array of all the values of expr in the
/// group"; nulls are skipped, duplicates and `""` kept. One partition: arrival order.
#[tokio::test]
async fn make_list_keeps_duplicates_and_blanks_in_arrival_order() {
    let ctx = session(None, 1);
    events(&ctx);
    let got = rows_in(
        &ctx,
        "SELECT g, make_list(x), make_list(x, 2), make_list(n) FROM t GROUP BY g ORDER BY g",
    )
    .await;
    assert_eq!(
        got,
        vec![
            strs(&["1", "[b, a, b, ]", "[b, a]", "[1, 2, 2, 3]"]),
            strs(&["2", "[z, z]", "[z, z]", "[-1, -11, 0]"]),
            strs(&["3", "[]", "[]", "[]"]),
        ]
    );
    // Without GROUP BY (the one-group accumulator).
    assert_eq!(
        rows_in(&ctx, "SELECT make_list(x) FROM t").await,
        vec![strs(&["[b, a, b, , z, z]"])]
    );
}

/// make-list-if-aggregation-function / make-set-if-aggregation-function: rows whose predicate
/// is false or null are left out.
#[tokio::test]
async fn conditional_aggregates_drop_false_and_null_conditions() {
    for partitions in [1, 4] {
        let ctx = session(None, partitions);
        events(&ctx);
        let got = rows_in(
            &ctx,
            "SELECT g, make_set_if(x, flag), make_list_if(x, flag), make_set_if(x, flag, 1), \
                    make_set_if(x, isnotempty(x)) \
             FROM t GROUP BY g ORDER BY g",
        )
        .await;
        assert_eq!(
            got,
            vec![
                // Row 5 ("" with a null flag) is out; row 2 ("a", false) too.
                strs(&["1", "[b]", "[b, b]", "[b]", "[a, b]"]),
                strs(&["2", "[z]", "[z]", "[z]", "[z]"]),
                strs(&["3", "[]", "[]", "[]", "[]"]),
            ],
            "{partitions} partitions"
        );
    }
}

/// dcount-aggregation-function: Kusto estimates; we count exactly. Nulls are not values, `""`
/// is one.
#[tokio::test]
async fn dcount_is_exact() {
    let ctx = session(None, 4);
    events(&ctx);
    assert_eq!(
        rows_in(
            &ctx,
            "SELECT g, dcount(x), dcount(n), dcount(x, 4) FROM t GROUP BY g ORDER BY g"
        )
        .await,
        vec![
            strs(&["1", "3", "3", "3"]),
            strs(&["2", "1", "3", "1"]),
            strs(&["3", "0", "0", "0"]),
        ]
    );
    // An HLL estimate would be off by a few percent here.
    assert_eq!(
        rows_in(
            &ctx,
            "SELECT dcount(value % 77777), dcount(CAST(value % 1234 AS VARCHAR)) \
             FROM generate_series(1, 200000)"
        )
        .await,
        vec![strs(&["77777", "1234"])]
    );
    // Many groups through the groups accumulator, counted both ways.
    assert_eq!(
        rows_in(
            &ctx,
            "SELECT count(*) FROM (SELECT value % 5000 AS k, dcount(value % 7) AS d, \
                    count(DISTINCT value % 7) AS c FROM generate_series(1, 100000) GROUP BY k) \
             WHERE d = c"
        )
        .await,
        vec![strs(&["5000"])]
    );
}

#[tokio::test]
async fn aggregate_argument_errors_name_the_function() {
    let ctx = session(None, 1);
    events(&ctx);
    let e = error_of(&ctx, "SELECT make_set_if(x, n) FROM t").await;
    assert!(e.contains("make_set_if") && e.contains("boolean"), "{e}");
    let e = error_of(&ctx, "SELECT make_list(x, 0) FROM t").await;
    assert!(e.contains("make_list") && e.contains("at least 1"), "{e}");
    let e = error_of(&ctx, "SELECT dcount(x, 'high') FROM t").await;
    assert!(e.contains("dcount") && e.contains("accuracy"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// String predicates
// ---------------------------------------------------------------------------------------------

/// datatypes-string-operators, "What is a term?": in "Kusto: ad67d136-c1db-4f9f-88ef-
/// d94f3b6b0b5a;KustoExplorerQueryRun" the terms are Kusto, KustoExplorerQueryRun, ad67d136,
/// c1db, 4f9f, 88ef and d94f3b6b0b5a. And the operator table: `"North America" has "america"`,
/// `"North America" !has "amer"`, `"North America" has_cs "America"`, `!has_cs "amer"`,
/// `has_any ("south", "north")`.
#[tokio::test]
async fn has_matches_whole_terms() {
    let s = "'Kusto: ad67d136-c1db-4f9f-88ef-d94f3b6b0b5a;KustoExplorerQueryRun'";
    assert_eq!(
        row(&format!(
            "SELECT has({s}, 'c1db'), has({s}, 'KUSTO'), has({s}, 'kustoexplorerqueryrun'), \
                    has({s}, 'Explorer'), has({s}, 'c1db-4f9f'), has({s}, 'db-4f'), \
                    has({s}, ';')"
        ))
        .await,
        strs(&["true", "true", "true", "false", "true", "false", "true"])
    );
    assert_eq!(
        row(
            "SELECT has('North America', 'america'), NOT has('North America', 'amer'), \
                    has_cs('North America', 'America'), has_cs('North America', 'america'), \
                    has_any('North America', 'south', 'north'), \
                    has_any('North America', make_array('south', 'east'))"
        )
        .await,
        strs(&["true", "true", "true", "false", "true", "false"])
    );
    // Term boundaries: punctuation separates terms; a punctuation-only needle is `contains`.
    assert_eq!(
        row(
            "SELECT has('hello-world', 'world'), has('helloworld', 'world'), has('a.b', '.'), \
                    has('ab', '.'), has('svchost.exe', '.exe'), has('svchost.exe', 'host.exe'), \
                    has(NULL, 'a'), has('', 'a'), has('x', NULL)"
        )
        .await,
        strs(&[
            "true", "false", "true", "false", "true", "false", "false", "false", "true"
        ])
    );
}

/// startswith-operator, endswith-operator (and their _cs forms), contains-cs-operator:
/// `"Fabrikam" startswith "fab"` true, `"Fabrikam" startswith_cs "fab"` false,
/// `"Fabrikam" endswith "Kam"` true, `"Fabrikam" endswith_cs "Kam"` false,
/// `"Fabrikam" contains_cs "brik"` true, `contains_cs "BRIK"` false. Folding is ASCII only.
#[tokio::test]
async fn prefixes_suffixes_and_ascii_folding() {
    assert_eq!(
        row(
            "SELECT startswith('Fabrikam', 'fab'), startswith_cs('Fabrikam', 'fab'), \
                    endswith('Fabrikam', 'Kam'), endswith_cs('Fabrikam', 'Kam'), \
                    contains_cs('Fabrikam', 'brik'), contains_cs('Fabrikam', 'BRIK'), \
                    startswith('', ''), endswith(NULL, '')"
        )
        .await,
        strs(&[
            "true", "false", "true", "false", "true", "false", "true", "true"
        ])
    );
    // U+017F (long s) folds to 's' and U+212A (Kelvin) to 'k' in Unicode, not in Kusto.
    assert_eq!(
        row(
            "SELECT startswith('ſtart', 'st'), endswith('svc\u{212A}', 'k'), \
                    has('\u{212A}ernel', 'kernel'), has('ÄBC def', 'äbc'), has('ÄBC def', 'ÄBC')"
        )
        .await,
        strs(&["false", "false", "false", "false", "true"])
    );
}

// ---------------------------------------------------------------------------------------------
// ago, now, spans
// ---------------------------------------------------------------------------------------------

/// ago-function: "Subtracts the given timespan from the current UTC time", e.g. `ago(1h)`,
/// `ago(1d)`; now-function: one instant for the whole query. Here now is the session's as-of.
#[tokio::test]
async fn ago_subtracts_from_the_as_of_instant() {
    assert_eq!(
        row(
            "SELECT tostring(ago('1h')), tostring(ago('14d')), tostring(ago('1.5h')), \
                    tostring(ago('100ms')), tostring(ago(INTERVAL '1 hour')), \
                    tostring(ago('-1d')), tostring(now()), now() = ago('0s'), \
                    arrow_typeof(ago('1d'))"
        )
        .await,
        strs(&[
            "2024-10-09T13:41:10.0000000Z",
            "2024-09-25T14:41:10.0000000Z",
            "2024-10-09T13:11:10.0000000Z",
            "2024-10-09T14:41:09.9000000Z",
            "2024-10-09T13:41:10.0000000Z",
            "2024-10-10T14:41:10.0000000Z",
            "2024-10-09T14:41:10.0000000Z",
            "true",
            "Timestamp(ns, \"UTC\")",
        ])
    );
    // Per-row spans, including a null one, and a duration.
    let got =
        rows("SELECT tostring(ago(s)) FROM (VALUES ('30m'), ('10s'), (NULL), ('2d')) v(s)").await;
    assert_eq!(
        got,
        vec![
            strs(&["2024-10-09T14:11:10.0000000Z"]),
            strs(&["2024-10-09T14:41:00.0000000Z"]),
            strs(&[""]),
            strs(&["2024-10-07T14:41:10.0000000Z"]),
        ]
    );
    assert_eq!(
        row("SELECT tostring(ago(arrow_cast(60, 'Duration(Second)')))").await,
        strs(&["2024-10-09T14:40:10.0000000Z"])
    );
}

/// Without an as-of, `ago` uses the query's start time: one instant for every row and every
/// call in the query, and DataFusion's `now()` stays.
#[tokio::test]
async fn ago_without_as_of_is_one_instant_per_query() {
    let ctx = session(None, 4);
    let got = rows_in(
        &ctx,
        "SELECT count(DISTINCT ago(s)), count(*), \
                bool_and(ago('1d') + INTERVAL '1 day' <= now()), \
                bool_and(ago('1d') + INTERVAL '1 day' > now() - INTERVAL '100 nanoseconds') \
         FROM (SELECT '1h' AS s FROM generate_series(1, 50000))",
    )
    .await;
    assert_eq!(got, vec![strs(&["1", "50000", "true", "true"])]);
    assert_eq!(
        rows_in(&ctx, "SELECT arrow_typeof(now())").await,
        vec![strs(&["Timestamp(ns)"])]
    );
}

#[tokio::test]
async fn bad_spans_are_errors_naming_the_text() {
    let ctx = fixed();
    let e = error_of(&ctx, "SELECT ago('14x')").await;
    assert!(e.contains("ago") && e.contains("'14x'"), "{e}");
    let e = error_of(&ctx, "SELECT ago(s) FROM (VALUES ('1h'), ('soon')) v(s)").await;
    assert!(e.contains("'soon'"), "{e}");
    let e = error_of(&ctx, "SELECT ago(INTERVAL '1 month')").await;
    assert!(e.contains("months"), "{e}");
    let e = error_of(&ctx, "SELECT ago(5)").await;
    assert!(e.contains("ago") && e.contains("timespan"), "{e}");
    let e = error_of(&ctx, "SELECT bin(now(), 'fortnight')").await;
    assert!(e.contains("bin") && e.contains("'fortnight'"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// bin
// ---------------------------------------------------------------------------------------------

/// bin-function: `bin(4.5, 1)` → 4, `bin(time(16d), 7d)` → 14:00:00:00,
/// `bin(datetime(1970-05-11 13:45:07), 1d)` → 1970-05-11T00:00:00Z. "Null values, a null bin
/// size, or a negative bin size will result in null."
#[tokio::test]
async fn bin_docs_examples() {
    assert_eq!(
        row("SELECT bin(4.5, 1), tostring(bin(INTERVAL '16 days', '7d')), \
                    tostring(bin(TIMESTAMP '1970-05-11 13:45:07', '1d')), \
                    bin(NULL, 1), bin(5, -1), bin(5, NULL), bin(TIMESTAMP '2024-01-01', NULL) IS NULL")
            .await,
        strs(&["4.0", "14.00:00:00", "1970-05-11T00:00:00.0000000Z", "NULL", "NULL", "NULL", "true"])
    );
}

#[tokio::test]
async fn bin_floors_numbers_and_datetimes() {
    assert_eq!(
        row(
            "SELECT bin(-1, 10), bin(10, 10), bin(-10, 10), bin(CAST(7 AS INT), 5), \
                    arrow_typeof(bin(CAST(7 AS INT), 5)), bin(-0.5, 1), bin(7, 2.5), bin(5, 0)"
        )
        .await,
        strs(&["-10", "10", "-10", "5", "Int64", "-1.0", "5.0", "NULL"])
    );
    // Datetimes: hour and day bins agree with Unix-epoch flooring; a week bin starts on a Monday
    // (Kusto counts from 0001-01-01, a Monday), not on a Thursday like 1970-01-01.
    assert_eq!(
        row(
            "SELECT tostring(bin(to_timestamp('2024-10-09T14:41:10.1234567Z'), '1h')), \
                    tostring(bin(to_timestamp('2024-10-09T14:41:10Z'), INTERVAL '15 minutes')), \
                    tostring(bin(to_timestamp('2024-10-09T14:41:10Z'), '7d')), \
                    tostring(bin(to_timestamp('1969-12-31T23:59:59Z'), '1d')), \
                    arrow_typeof(bin(to_timestamp_millis('2024-10-09T14:41:10Z'), '1h'))"
        )
        .await,
        strs(&[
            "2024-10-09T14:00:00.0000000Z",
            "2024-10-09T14:30:00.0000000Z",
            "2024-10-07T00:00:00.0000000Z",
            "1969-12-31T00:00:00.0000000Z",
            "Timestamp(ns, \"UTC\")",
        ])
    );
    let e = error_of(&fixed(), "SELECT bin('x', 1)").await;
    assert!(e.contains("bin(value, size)"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// iff, isempty, strcat, tostring
// ---------------------------------------------------------------------------------------------

/// iff-function: `iff(floor(x) % 2 == 0, "even", "odd")`-style choices; a null condition takes
/// the else branch.
#[tokio::test]
async fn iff_takes_else_on_false_and_null() {
    assert_eq!(
        row(
            "SELECT iff(true, 'a', 'b'), iff(false, 'a', 'b'), iff(NULL, 'a', 'b'), \
                    iff(1 > 2, 1, 2.5), iff(true, NULL, 'x') IS NULL"
        )
        .await,
        strs(&["a", "b", "b", "2.5", "true"])
    );
    let ctx = fixed();
    events(&ctx);
    assert_eq!(
        rows_in(&ctx, "SELECT iff(flag, x, 'no') FROM t WHERE g = 1").await,
        vec![
            strs(&["b"]),
            strs(&["no"]),
            strs(&["b"]),
            strs(&["NULL"]),
            strs(&["no"])
        ]
    );
}

/// isempty-function: `isempty("")` true, `isempty("x")` false, `isempty([])`-style nulls true,
/// `isempty(1)` false.
#[tokio::test]
async fn isempty_is_null_or_blank() {
    assert_eq!(
        row("SELECT isempty(''), isempty('x'), isempty(' '), isempty(NULL), \
                    isempty(CAST(NULL AS BIGINT)) AS typed_null, isempty(1), isnotempty(''), isnotempty('x'), \
                    isnotempty(NULL)")
            .await,
        strs(&["true", "false", "false", "true", "true", "false", "false", "true", "false"])
    );
}

/// strcat-function: `strcat("hello", " ", "world")` → "hello world"; 1 to 64 arguments;
/// non-strings through tostring; null reads as "".
#[tokio::test]
async fn strcat_concatenates_tostrings() {
    assert_eq!(
        row(
            "SELECT strcat('hello', ' ', 'world'), strcat(NULL, 'a', 1, true, 1.5, NULL), \
                    strcat(NULL), strcat(to_timestamp('2024-10-09T14:41:10Z'))"
        )
        .await,
        strs(&[
            "hello world",
            "a1true1.5",
            "",
            "2024-10-09T14:41:10.0000000Z"
        ])
    );
    let many = vec!["'x'"; 64].join(", ");
    assert_eq!(
        row(&format!("SELECT length(strcat({many}))")).await,
        strs(&["64"])
    );
    let too_many = vec!["'x'"; 65].join(", ");
    let e = error_of(&fixed(), &format!("SELECT strcat({too_many})")).await;
    assert!(e.contains("strcat takes 1 to 64"), "{e}");
}

/// tostring-function: `tostring(123)` → "123"; null → ""; datetimes with 7 fractional digits.
#[tokio::test]
async fn tostring_prints_the_kusto_way() {
    assert_eq!(
        row(
            "SELECT tostring(123), tostring(NULL), tostring(true), tostring(1.5), tostring(1e20), \
                    tostring(to_timestamp('2024-10-09T14:41:10.1234567Z')), \
                    tostring(make_array('a', 'b')), tostring(INTERVAL '90 minutes'), \
                    tostring(CAST(NULL AS VARCHAR)) = ''"
        )
        .await,
        strs(&[
            "123",
            "",
            "true",
            "1.5",
            "1E+20",
            "2024-10-09T14:41:10.1234567Z",
            "[\"a\",\"b\"]",
            "01:30:00",
            "true",
        ])
    );
}

// ---------------------------------------------------------------------------------------------
// indexof, substring
// ---------------------------------------------------------------------------------------------

/// indexof-function, its examples:
/// idx1 = indexof("abcdefg","cde") → 2; idx2 = indexof("abcdefg","cde",1,4) → 2;
/// idx3 = indexof("abcdefg","cde",1,2) → -1; idx4 = indexof("abcdefg","cde",3,4) → -1;
/// idx5 = indexof("abcdefg","cde",-5) → 2; idx6 = indexof(1234567,5,1,4) → 4;
/// idx7 = indexof("abcdefg","cde",2,-1) → 2; idx8 = indexof("abcdefgabcdefg", "cde", 1, 10, 2)
/// → 9; idx9 = indexof("abcdefgabcdefg", "cde", 1, -1, 3) → -1.
#[tokio::test]
async fn indexof_docs_examples() {
    assert_eq!(
        row(
            "SELECT indexof('abcdefg','cde'), indexof('abcdefg','cde',1,4), \
                    indexof('abcdefg','cde',1,2), indexof('abcdefg','cde',3,4), \
                    indexof('abcdefg','cde',-5), indexof(1234567,5,1,4), \
                    indexof('abcdefg','cde',2,-1), indexof('abcdefgabcdefg', 'cde', 1, 10, 2), \
                    indexof('abcdefgabcdefg', 'cde', 1, -1, 3)"
        )
        .await,
        strs(&["2", "2", "-1", "-1", "2", "4", "2", "9", "-1"])
    );
}

/// "Returns null if: start is less than 0 [after counting from the end], occurrence is less
/// than 0, length is less than -1." Positions count characters, not bytes.
#[tokio::test]
async fn indexof_nulls_and_code_points() {
    assert_eq!(
        row(
            "SELECT indexof('abc', 'b', -10), indexof('abc', 'b', 0, -2), \
                    indexof('abc', 'b', 0, -1, -1), indexof('abc', 'b', 0, -1, 0), \
                    indexof('abc', 'x'), indexof('abc', 'a', 5), indexof(NULL, 'a'), \
                    indexof('abc', ''), indexof('äbc', 'c'), indexof('€€x€', '€', 1), \
                    indexof('日本語テキスト', 'テ', -4), indexof('abc', 'b', NULL)"
        )
        .await,
        strs(&[
            "NULL", "NULL", "NULL", "-1", "-1", "-1", "-1", "0", "2", "1", "3", "NULL"
        ])
    );
}

/// substring-function: `substring("123456", 1)` → "23456", `substring("123456", 2, 2)` → "34",
/// `substring("ABCD", 0, 2)` → "AB", `substring("123456", -2, 2)` → "56". In SQL the function is
/// `kql_substring` (see the next test for why).
#[tokio::test]
async fn substring_docs_examples_and_edges() {
    assert_eq!(
        row(
            "SELECT kql_substring('123456', 1), kql_substring('123456', 2, 2), \
                    kql_substring('ABCD', 0, 2), kql_substring('123456', -2, 2)"
        )
        .await,
        strs(&["23456", "34", "AB", "56"])
    );
    assert_eq!(
        row(
            "SELECT kql_substring('äöü€x', 1, 3), kql_substring('abc', -10), \
                    kql_substring('abc', 3), kql_substring('abc', 1, 0), kql_substring(NULL, 0), \
                    kql_substring(12345, 1, 2), kql_substring('abc', NULL) = ''"
        )
        .await,
        strs(&["öü€", "abc", "", "", "", "23", "true"])
    );
}

/// SQL parses `substring(...)` and `substr(...)`, with commas or with FROM/FOR, as syntax that
/// DataFusion plans straight to its 1-based `substr`: no function registry lookup, so no UDF
/// can take the name over. Kusto's 0-based one is `kql_substring`; the SQL forms stay SQL's.
#[tokio::test]
async fn kql_substring_is_0_based_and_sql_substring_stays_1_based() {
    assert_eq!(
        row(
            "SELECT kql_substring('abcdef', 1, 2) AS k, substring('abcdef', 1, 2) AS s, \
                    substr('abcdef', 1, 2) AS s2, SUBSTRING('abcdef' FROM 1 FOR 2) AS f, \
                    SUBSTRING('abcdef' FROM 2) AS f2"
        )
        .await,
        strs(&["bc", "ab", "ab", "ab", "bcdef"])
    );
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

/// extract-json-function: `extract_json("$.name", '{"name": "John", "age": 30, "city": "New
/// York"}', typeof(string))` → John. jsonpath: `$`, `.name`, `['name']`, `[n]`.
#[tokio::test]
async fn extract_json_paths() {
    let doc = r#"'{"name": "John", "age": 30, "city": "New York", "a b": {"c": [10, {"d": true}]}, "n": null}'"#;
    assert_eq!(
        row(&format!(
            "SELECT extract_json('$.name', {doc}), extract_json('$.age', {doc}), \
                    extract_json('$[''a b''].c[1].d', {doc}), extract_json('$[\"a b\"].c', {doc}), \
                    extract_json('$.missing', {doc}), extract_json('$.n', {doc}), \
                    extract_json('$.name', 'not json'), extractjson('$.city', {doc}), \
                    extract_json('$.name', NULL)"
        ))
        .await,
        strs(&[
            "John",
            "30",
            "true",
            "[10,{\"d\":true}]",
            "NULL",
            "NULL",
            "NULL",
            "New York",
            "NULL"
        ])
    );
    let e = error_of(&fixed(), "SELECT extract_json('name', '{}')").await;
    assert!(e.contains("extract_json") && e.contains("'name'"), "{e}");
}

/// parse-json-function: valid JSON is parsed; invalid JSON is kept as a string.
#[tokio::test]
async fn parse_json_normalizes() {
    assert_eq!(
        row(
            r#"SELECT parse_json('{ "b" : 1, "a" : [1, 2.5, "x"] }'), parse_json('"text"'),
                   parse_json('not json'), parse_json(''), parse_json(NULL), parse_json('null'),
                   parse_json(' 42 '), todynamic('[true]')"#
        )
        .await,
        strs(&[
            "{\"a\":[1,2.5,\"x\"],\"b\":1}",
            "text",
            "not json",
            "NULL",
            "NULL",
            "NULL",
            "42",
            "[true]"
        ])
    );
}

// ---------------------------------------------------------------------------------------------
// Columns of every string layout, with nulls
// ---------------------------------------------------------------------------------------------

/// The scalar functions over columns (not literals): Utf8, LargeUtf8, Utf8View and dictionary
/// strings with nulls, per-row needles and positions.
#[tokio::test]
async fn functions_over_columns_of_every_string_layout() {
    let values = [
        Some("C:\\Windows\\System32\\svchost.exe"),
        None,
        Some(""),
        Some("ws1.corp.example"),
        Some("Ärger-Datei.EXE"),
    ];
    let schema = Arc::new(Schema::new(vec![
        Field::new("u", DataType::Utf8, true),
        Field::new("l", DataType::LargeUtf8, true),
        Field::new("v", DataType::Utf8View, true),
        Field::new(
            "d",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            true,
        ),
        Field::new("needle", DataType::Utf8, true),
        Field::new("pos", DataType::Int64, true),
    ]));
    let dict: DictionaryArray<Int32Type> = values.iter().copied().collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(values.to_vec())),
            Arc::new(LargeStringArray::from(values.to_vec())),
            Arc::new(StringViewArray::from(values.to_vec())),
            Arc::new(dict),
            Arc::new(StringArray::from(vec![
                Some("SVCHOST"),
                Some("x"),
                None,
                Some("corp"),
                Some("datei"),
            ])),
            Arc::new(Int64Array::from(vec![
                Some(3),
                Some(0),
                Some(0),
                None,
                Some(-3),
            ])),
        ],
    )
    .unwrap();
    let ctx = fixed();
    ctx.register_table(
        "s",
        Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap()),
    )
    .unwrap();
    // Row 1 is a null string, read as "". Row 2 has a null needle, read as "": an empty needle
    // is found everywhere, so has(.., '') and has_any(.., '') are true.
    let expected = vec![
        strs(&[
            "true",
            "true",
            "true",
            "false",
            "true",
            "-1",
            "Windows\\System32\\svchost.exe",
            "false",
            "C:\\+",
        ]),
        strs(&[
            "false", "false", "true", "false", "true", "-1", "", "true", "+",
        ]),
        strs(&[
            "true", "false", "true", "false", "true", "-1", "", "true", "+",
        ]),
        strs(&[
            "true", "false", "true", "true", "true", "6", "", "false", "ws1+",
        ]),
        strs(&[
            "true", "true", "true", "false", "true", "1", "EXE", "false", "Ärg+",
        ]),
    ];
    for column in ["u", "l", "v", "d"] {
        let sql = format!(
            "SELECT has({c}, needle), has({c}, '.exe'), endswith({c}, ''), has_cs({c}, 'corp'), \
                    has_any({c}, 'datei', 'svchost', ''), indexof({c}, 'r'), kql_substring({c}, pos), \
                    isempty({c}), strcat(kql_substring({c}, 0, 3), '+') \
             FROM s",
            c = column
        );
        let got = rows_in(&ctx, &sql).await;
        assert_eq!(got, expected, "column {column}");
    }
}
