//! `huntlake sql`, through the binary: `-c`, `-f` and standard input, output formats, meta
//! commands, the rule's steps as tables, errors and exit codes; and the interactive shell driven
//! through a pseudo-terminal (history, multi-line input, completion, Ctrl-C, Ctrl-D).

mod common;

use std::path::{Path, PathBuf};

use common::copy_dir;

use assert_cmd::Command;
use huntlake::{DefenderTable, Lake, LakeOptions};
use predicates::prelude::*;
use serde_json::Value;

fn sample_lake() -> PathBuf {
    common::sample_lake_path()
}

/// `huntlake sql` on the sample lake, quiet, no history file.
fn sql() -> Command {
    let mut command = Command::cargo_bin("huntlake").unwrap();
    command
        .arg("sql")
        .arg("--lake")
        .arg(sample_lake())
        .env("HUNTLAKE_HISTORY", "");
    command
}

/// Row counts from the Parquet footers: an answer that does not go through SQL.
fn footer_rows(table: DefenderTable) -> u64 {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let lake = runtime
        .block_on(Lake::open(&sample_lake().into(), &LakeOptions::default()))
        .unwrap();
    let found = lake.tables.iter().find(|t| t.table == table);
    found.expect("every table is opened").rows()
}

fn stdout_of(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn ndjson(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn piped_sql_prints_the_count_as_a_table_on_request() {
    let expected = footer_rows(DefenderTable::DeviceProcessEvents);
    assert_eq!(expected, 3171);
    sql()
        .args(["--format", "table"])
        .write_stdin("SELECT count(*) AS n FROM DeviceProcessEvents;\n")
        .assert()
        .success()
        .stdout(predicate::str::contains("│ n    │").and(predicate::str::contains("│ 3171 │")))
        .stderr(predicate::str::contains("1 row in "));
}

/// Down a pipe or into a file, every row comes out in a machine format (NDJSON), not a box
/// table cut at --max-rows rows.
#[test]
fn piped_sql_writes_every_row_as_ndjson() {
    let out = stdout_of(sql().args([
        "--max-rows",
        "2",
        "-c",
        "SELECT DeviceName, count(*) AS n FROM DeviceProcessEvents GROUP BY DeviceName \
         ORDER BY DeviceName",
    ]));
    let rows = ndjson(&out);
    assert_eq!(rows.len(), 8, "{out}");
    assert_eq!(rows[0]["DeviceName"], "kiosk-lobby-01");
    assert_eq!(rows[0]["n"], 416);
}

#[test]
fn table_names_work_as_typed_and_in_any_case() {
    let out = stdout_of(sql().args([
        "--format",
        "ndjson",
        "-c",
        "SELECT (SELECT count(*) FROM deviceprocessevents) AS a, \
                (SELECT count(*) FROM DEVICENETWORKEVENTS) AS b, \
                (SELECT count(*) FROM raw.devicefileevents) AS c, \
                (SELECT count(*) FROM DeviceImageLoadEvents) AS d",
    ]));
    assert_eq!(
        ndjson(&out),
        vec![serde_json::json!({
            "a": footer_rows(DefenderTable::DeviceProcessEvents),
            "b": footer_rows(DefenderTable::DeviceNetworkEvents),
            "c": footer_rows(DefenderTable::DeviceFileEvents),
            "d": footer_rows(DefenderTable::DeviceImageLoadEvents),
        })]
    );
}

#[test]
fn commands_files_and_stdin_run_every_statement_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("pivot.sql");
    std::fs::write(
        &script,
        "-- a comment; with a semicolon\n\
         CREATE VIEW psexec AS SELECT * FROM DeviceProcessEvents\n\
           WHERE InitiatingProcessFileName = 'PSEXESVC.exe';\n\
         SELECT FileName, count(*) AS n FROM psexec GROUP BY FileName ORDER BY FileName;\n\
         SELECT 'last' AS x",
    )
    .unwrap();
    let out = stdout_of(
        sql()
            .args([
                "--format",
                "csv",
                "-c",
                "SELECT 1 AS one; SELECT 'a;b' AS two",
                "-f",
            ])
            .arg(&script),
    );
    assert_eq!(out, "one\n1\ntwo\na;b\nFileName,n\ncmd.exe,3\nx\nlast\n");

    let piped = sql()
        .args(["--format", "csv", "-q"])
        .write_stdin("SELECT 2 AS two;\nSELECT\n  3 AS three\n;\n")
        .assert()
        .success()
        .stderr("");
    piped.stdout("two\n2\nthree\n3\n");
}

#[test]
fn the_first_failing_statement_stops_with_exit_code_1() {
    sql()
        .args([
            "-c",
            "SELECT 1 AS ok",
            "-c",
            "SELECT nosuchcolumn FROM DeviceProcessEvents",
            "-c",
            "SELECT 'never' AS reached",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("ok").and(predicate::str::contains("never").not()))
        .stderr(predicate::str::contains("nosuchcolumn"));

    sql()
        .write_stdin("SELECT 1;\nSELEC 2;\nSELECT 3;\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("SELEC"));

    sql()
        .args(["-f", "/no/such/script.sql"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("/no/such/script.sql"));

    sql()
        .args(["-c", "\\nosuch"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("unknown command \\nosuch"));
}

#[test]
fn formats_and_row_limits() {
    let query = "SELECT DeviceName, count(*) AS n FROM DeviceProcessEvents \
                 GROUP BY DeviceName ORDER BY DeviceName";
    let json: Vec<Value> =
        serde_json::from_str(&stdout_of(sql().args(["--format", "json", "-c", query]))).unwrap();
    assert_eq!(json.len(), 8);
    assert_eq!(json[0]["DeviceName"], "kiosk-lobby-01");
    let total: u64 = json.iter().map(|r| r["n"].as_u64().unwrap()).sum();
    assert_eq!(total, footer_rows(DefenderTable::DeviceProcessEvents));

    // A table shows --max-rows rows but counts them all.
    sql()
        .args(["--format", "table", "--max-rows", "3", "-c", query])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("kiosk-lobby-01")
                .and(predicate::str::contains("ws-ops-03").not()),
        )
        .stderr(predicate::str::contains("8 rows (3 shown;"));

    // Wide cells are cut.
    let out = stdout_of(sql().args(["--format", "table", "-c", "SELECT repeat('x', 200) AS wide"]));
    assert!(out.contains(&format!("{}…", "x".repeat(47))), "{out}");
    assert!(!out.contains(&"x".repeat(49)));

    // \format switches, \o writes every row to a file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.ndjson");
    sql()
        .args(["--max-rows", "1", "-q"])
        .write_stdin(format!(
            "\\format ndjson\n\\o {}\n{query};\n\\o\nSELECT 1 AS back;\n",
            file.display()
        ))
        .assert()
        .success()
        .stdout(predicate::str::contains("{\"back\":1}"));
    assert_eq!(ndjson(&std::fs::read_to_string(&file).unwrap()).len(), 8);
}

#[test]
fn meta_commands_describe_the_lake() {
    let out = stdout_of(sql().args(["--format", "table", "-c", "\\d"]));
    for (table, rows) in [("DeviceProcessEvents", 3171), ("DeviceFileEvents", 1038)] {
        let line = out
            .lines()
            .find(|l| l.contains(&format!("│ {table} ")))
            .unwrap_or_else(|| panic!("{table} in {out}"));
        assert!(line.contains(&format!(" {rows} ")), "{line}");
        assert!(line.contains(" 21 "), "{line}");
    }
    assert!(out.contains("raw.DeviceNetworkEvents"));
    assert!(out.contains("GetServices") && out.contains("computed on first use"));

    let out = stdout_of(sql().args(["-c", "\\d DeviceProcessEvents"]));
    let line = out.lines().find(|l| l.contains(" ProcessId ")).unwrap();
    assert!(line.contains("long") && line.contains("Int64"), "{line}");
    let line = out.lines().find(|l| l.contains(" Timestamp ")).unwrap();
    assert!(line.contains("datetime"), "{line}");

    let out = stdout_of(sql().args(["-c", "\\rule"]));
    assert!(
        out.contains("sql/get_services.sql")
            && out.contains("contains_ci(InitiatingProcessParentFileName")
    );
    assert!(out.contains("$since     = 2026-11-05T12:00:00Z"), "{out}");

    // SQL's own catalog commands, and EXPLAIN printed whole (not cut into cells).
    let out = stdout_of(sql().args(["--format", "csv", "-c", "SHOW TABLES"]));
    assert!(
        out.contains("datafusion,public,DeviceProcessEvents,VIEW"),
        "{out}"
    );
    let out = stdout_of(sql().args([
        "--format",
        "table",
        "-c",
        "EXPLAIN SELECT count(*) FROM DeviceProcessEvents WHERE contains_ci(FileName, 'cmd')",
    ]));
    assert!(out.contains("-- physical_plan\n"), "{out}");
    assert!(
        out.contains("DataSourceExec") && out.contains("contains_ci(FileName@"),
        "{out}"
    );

    let out = stdout_of(sql().args(["-c", "\\?"]));
    assert!(out.contains("\\detect") && out.contains("\\timing"));
}

#[test]
fn the_rule_steps_are_tables_and_detect_runs_inside() {
    // GetServices: the service launches in the window (as of the lake's reference time).
    let out = stdout_of(sql().args([
        "--format",
        "ndjson",
        "-c",
        "SELECT ServiceProcess, count(*) AS n FROM GetServices \
         WHERE DeviceName = 'ws-fin-07.contoso.local' AND ServiceProcess = 'PSEXESVC.exe' \
         GROUP BY ServiceProcess",
        "-c",
        "SELECT count(*) AS rare FROM RareServices WHERE ServiceProcess = 'PSEXESVC.exe'",
    ]));
    assert_eq!(
        ndjson(&out),
        vec![
            serde_json::json!({"ServiceProcess": "PSEXESVC.exe", "n": 3}),
            serde_json::json!({"rare": 1}),
        ]
    );

    // \detect gives detect's answer, and keeps it as Detections.
    let expected = stdout_of(
        Command::cargo_bin("huntlake")
            .unwrap()
            .args(["detect", "--format", "ndjson", "--lake"])
            .arg(sample_lake()),
    );
    let out = stdout_of(sql().args([
        "--format",
        "ndjson",
        "-c",
        "\\detect",
        "-c",
        "SELECT count(*) AS n FROM Detections",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    let expected_lines: Vec<&str> = expected.lines().collect();
    assert!(!expected_lines.is_empty());
    assert_eq!(lines[..lines.len() - 1], expected_lines[..]);
    assert_eq!(
        lines.last().unwrap(),
        &format!("{{\"n\":{}}}", expected_lines.len())
    );

    // detect's flags work, with their errors.
    let out = stdout_of(sql().args([
        "--format",
        "ndjson",
        "-c",
        "\\detect --allow psexesvc.exe --format csv",
    ]));
    assert!(out.starts_with("DeviceName,ServiceProcess,"));
    assert!(!out.contains("PSEXESVC.exe"));
    assert_eq!(out.lines().count(), expected_lines.len());
    sql()
        .args(["-c", "\\detect --threshold zero"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--threshold"));
}

#[test]
fn kql_functions_are_there_with_the_shell_as_of() {
    let query = "SELECT substring('abcdef', 1, 2) AS kusto, substr('abcdef', 1, 2) AS sql, \
                 SUBSTRING('abcdef' FROM 1 FOR 2) AS syntax, tostring(ago('14d')) AS since, \
                 has('PSEXESVC.exe -k', 'psexesvc') AS term, \
                 (SELECT dcount(DeviceName) FROM DeviceProcessEvents) AS devices, \
                 (SELECT count(*) FROM GetServices WHERE ServiceProcessCreationTime > ago('14d') \
                     AND startswith(ServiceProcess, 'psexe')) AS psexec";
    let out = stdout_of(sql().args(["--format", "ndjson", "-c", query]));
    assert_eq!(
        ndjson(&out),
        vec![serde_json::json!({
            "kusto": "bc", "sql": "bc", "syntax": "bc",
            "since": "2026-11-05T12:00:00.0000000Z", "term": true, "devices": 8, "psexec": 3,
        })]
    );
    // The parser reads substr() as the same syntax. SQL's meaning on request; kql_substring is
    // Kusto's either way.
    let out = stdout_of(sql().args([
        "--sql-substring",
        "--as-of",
        "2026-11-20T00:00:00Z",
        "--format",
        "csv",
        "-c",
        "SELECT substring('abcdef', 1, 2) AS s, kql_substring('abcdef', 1, 2) AS k, \
         tostring(ago('1d')) AS a",
    ]));
    assert_eq!(out, "s,k,a\nab,bc,2026-11-19T00:00:00.0000000Z\n");
}

#[test]
fn bad_lakes_are_clear_errors_and_bad_files_can_be_set_aside() {
    Command::cargo_bin("huntlake")
        .unwrap()
        .args(["sql", "--lake", "/no/such/lake", "-c", "SELECT 1"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(
            "lake /no/such/lake: does not exist",
        ));

    let dir = tempfile::tempdir().unwrap();
    copy_dir(&sample_lake(), dir.path());
    let bad = dir
        .path()
        .join("DeviceFileEvents/date=2026-11-19/truncated.parquet");
    let good = std::fs::read(
        dir.path()
            .join("DeviceFileEvents/date=2026-11-19/part-00000.parquet"),
    )
    .unwrap();
    std::fs::write(&bad, &good[..good.len() / 3]).unwrap();
    let query = ["-c", "SELECT count(*) AS n FROM DeviceFileEvents"];
    Command::cargo_bin("huntlake")
        .unwrap()
        .env("HUNTLAKE_HISTORY", "")
        .arg("sql")
        .arg("--lake")
        .arg(dir.path())
        .args(query)
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            predicate::str::contains(bad.display().to_string())
                .and(predicate::str::contains("not a readable Parquet file")),
        );
    Command::cargo_bin("huntlake")
        .unwrap()
        .env("HUNTLAKE_HISTORY", "")
        .arg("sql")
        .arg("--lake")
        .arg(dir.path())
        .args(["--skip-bad-files", "--format", "csv"])
        .args(query)
        .assert()
        .success()
        .stdout("n\n1038\n")
        .stderr(predicate::str::contains(format!(
            "note: skipped DeviceFileEvents file {}",
            bad.display()
        )));
}

/// The interactive shell in a pseudo-terminal. Keys are sent as a terminal sends them (Enter is
/// a carriage return), each line once the prompt is back.
mod interactive {
    use super::*;
    use rexpect::session::PtySession;

    const PROMPT: &str = "huntlake> ";

    fn spawn(history: &Path) -> PtySession {
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("huntlake"));
        command
            .arg("sql")
            .arg("--lake")
            .arg(sample_lake())
            .env("HUNTLAKE_HISTORY", history)
            .env("TERM", "xterm");
        let mut session = rexpect::session::spawn_command(command, Some(30_000)).unwrap();
        session.exp_string(PROMPT).unwrap();
        session
    }

    /// Types `keys` (no Enter).
    fn keys(shell: &mut PtySession, keys: &str) {
        shell.send(keys).unwrap();
        shell.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    /// Types `line` and Enter, then waits for `expect` in the output.
    fn enter(shell: &mut PtySession, line: &str, expect: &str) {
        keys(shell, &format!("{line}\r"));
        if !expect.is_empty() {
            shell.exp_string(expect).unwrap();
        }
    }

    /// Types `line` and Enter and waits for the next prompt.
    fn run(shell: &mut PtySession, line: &str, expect: &str) {
        enter(shell, line, expect);
        shell.exp_string(PROMPT).unwrap();
    }

    fn quit_with_ctrl_d(mut shell: PtySession) {
        keys(&mut shell, "\x04");
        shell.exp_eof().unwrap();
    }

    #[test]
    fn multi_line_statements_meta_commands_and_history() {
        let dir = tempfile::tempdir().unwrap();
        let history = dir.path().join("history");
        let mut shell = spawn(&history);
        enter(&mut shell, "SELECT count(*) AS n", "");
        enter(&mut shell, "FROM DeviceNetworkEvents", "");
        run(&mut shell, ";", "2806");
        run(&mut shell, "\\timing off", "timing off");
        enter(&mut shell, "SELECT 41 + 1 AS answer;", "42");
        shell.exp_regex("1 row\r?\n").unwrap();
        shell.exp_string(PROMPT).unwrap();
        run(&mut shell, "SELECT nosuch;", "error:");
        // Still running after an error; Ctrl-D quits.
        run(&mut shell, "SELECT 'alive' AS still;", "alive");
        quit_with_ctrl_d(shell);

        let saved = std::fs::read_to_string(&history).unwrap();
        assert!(saved.contains("SELECT 41 + 1 AS answer;"), "{saved}");
        assert!(saved.contains("FROM DeviceNetworkEvents"), "{saved}");

        // The next shell has it: Up brings back the last statement.
        let mut shell = spawn(&history);
        keys(&mut shell, "\x1b[A");
        run(&mut shell, "", "alive");
        enter(&mut shell, "\\q", "");
        shell.exp_eof().unwrap();
    }

    #[test]
    fn ctrl_c_cancels_the_query_and_keeps_the_shell() {
        let dir = tempfile::tempdir().unwrap();
        let mut shell = spawn(&dir.path().join("history"));
        // Ctrl-C on a half-typed line drops it.
        keys(&mut shell, "SELECT 'dropped' AS d");
        keys(&mut shell, "\x03");
        shell.exp_string(PROMPT).unwrap();
        run(&mut shell, "SELECT 'kept' AS k;", "kept");
        // A query that would run for minutes.
        enter(
            &mut shell,
            "SELECT count(*) FROM range(10000000000) a, range(10) b WHERE a.value % 7 = b.value;",
            "",
        );
        std::thread::sleep(std::time::Duration::from_millis(1500));
        keys(&mut shell, "\x03");
        shell.exp_string("cancelled").unwrap();
        shell.exp_string(PROMPT).unwrap();
        run(&mut shell, "SELECT 'after' AS a;", "after");
        enter(&mut shell, "quit", "");
        shell.exp_eof().unwrap();
    }

    #[test]
    fn tab_completes_tables_columns_and_commands() {
        let dir = tempfile::tempdir().unwrap();
        let mut shell = spawn(&dir.path().join("history"));
        keys(&mut shell, "SELECT count(*) AS n FROM DeviceFileEv\t");
        run(&mut shell, ";", "1038");
        keys(&mut shell, "SELECT ServiceProcessCmd\t FROM GetServ\t");
        run(
            &mut shell,
            " WHERE ServiceProcess = 'PSEXESVC.exe' LIMIT 1;",
            "C:\\Windows\\PSEXESVC.exe",
        );
        keys(&mut shell, "\\tim\t");
        run(&mut shell, "", "timing off");
        quit_with_ctrl_d(shell);
    }
}

/// The shell takes the rule's flags: its step tables, `\rule` and `\detect` follow them, and a
/// `\detect` with other parameters says the step tables keep the shell's.
#[test]
fn the_rule_steps_follow_the_shells_rule_flags() {
    let rare = |flags: &[&str]| {
        let out = stdout_of(sql().args(flags).args([
            "-q",
            "-c",
            "SELECT count(DISTINCT ServiceProcess) AS s FROM RareServices",
        ]));
        ndjson(&out)[0]["s"].as_u64().unwrap()
    };
    // The 30-day window reaches svchosts.exe (2026-11-01); a threshold of 2 leaves nothing.
    assert_eq!(rare(&[]), 3);
    assert_eq!(rare(&["--lookback", "30d"]), 4);
    assert_eq!(rare(&["--threshold", "2"]), 0);
    assert_eq!(rare(&["--allow", "PSEXESVC.exe"]), 2);

    let out = stdout_of(sql().args(["--lookback", "30d", "--threshold", "4", "-c", "\\rule"]));
    assert!(
        out.contains(
            "$since     = 2026-10-20T12:00:00Z (as of 2026-11-19T12:00:00Z minus the 30d lookback)"
        ),
        "{out}"
    );
    assert!(out.contains("$threshold = 4"), "{out}");

    // \detect without rule flags takes the shell's; with others, it says what the tables keep.
    let output = sql()
        .args(["--lookback", "30d", "-c", "\\detect --format ndjson"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(ndjson(&String::from_utf8(output.stdout).unwrap()).len(), 5);
    assert!(!String::from_utf8(output.stderr).unwrap().contains("differ"));
    let output = sql()
        .args(["-c", "\\detect --format ndjson --lookback 30d"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(ndjson(&String::from_utf8(output.stdout).unwrap()).len(), 5);
    assert!(String::from_utf8(output.stderr).unwrap().contains(
        "note: this detection's parameters differ from the shell's; the tables GetServices \
             and RareServices keep the shell's (lookback 14d, threshold 6)"
    ));
}

/// `\detect` reads the lake as the shell does: a shell opened with --skip-bad-files runs its
/// detection without the bad file too, unless told otherwise.
#[test]
fn detect_in_the_shell_reads_the_lake_as_the_shell_does() {
    let lake = tempfile::tempdir().unwrap();
    copy_dir(&sample_lake(), lake.path());
    let bad = lake
        .path()
        .join("DeviceFileEvents/date=2026-11-18/garbage.parquet");
    std::fs::write(&bad, b"not parquet at all").unwrap();
    let shell = || {
        let mut command = Command::cargo_bin("huntlake").unwrap();
        command
            .args(["sql", "--skip-bad-files", "--lake"])
            .arg(lake.path())
            .env("HUNTLAKE_HISTORY", "");
        command
    };
    let output = shell()
        .args(["-c", "\\detect --format ndjson"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(ndjson(&String::from_utf8(output.stdout).unwrap()).len(), 4);
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("the result excludes the 1 skipped file")
    );
}
