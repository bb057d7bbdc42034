"""What the rule must read, timed in DuckDB: the floor of benches/duckdb/floor.sql reads one
column (the parent's name) of the four tables; the rule also outputs ten or so columns of every
row it keeps, and a reader decodes those columns page by page. Where a writer puts a whole
column chunk in one page (DuckDB's COPY, pyarrow's defaults for low-cardinality columns), every
row group holding one rare service's row is decompressed whole for each of those columns, and
no engine can answer the rule in the floor's time.

This script times, in one DuckDB connection (no process start counted), the reads the rule
cannot avoid: GetServices' columns for the rows whose parent is services.exe, and each event
table's key and set columns for the rows of the rare service names (taken from huntlake's own
detections), all inside the window. Next to them: the floor, and huntlake's whole detection.

    benches/.venv/bin/python benches/rule_columns.py --lake target/bench-lakes/lake-M-duckdb
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import time

import duckdb

# The same reference time and window as the macro benchmark's runs on the same lakes.
from macro import AS_OF, ROOT, SINCE

KEYS = """max(length(DeviceName)), max(length(InitiatingProcessFileName)),
    max(length(InitiatingProcessCommandLine)), max(InitiatingProcessCreationTime),
    max(InitiatingProcessId), max(length(InitiatingProcessAccountName)),
    max(length(InitiatingProcessSHA1)), count(*)"""
WINDOW = "TimeGenerated > getvariable('since')"
RARE = "InitiatingProcessFileName IN (SELECT name FROM rare)"
READS = {
    "DeviceProcessEvents": f"""SELECT {KEYS}, max(length(FileName)), max(length(ProcessCommandLine))
        FROM lake_table('DeviceProcessEvents')
        WHERE {WINDOW} AND contains(lower(InitiatingProcessParentFileName), 'services.exe')""",
    "DeviceNetworkEvents": f"""SELECT {KEYS}, max(length(RemoteIP)), max(length(RemoteUrl))
        FROM lake_table('DeviceNetworkEvents') WHERE {WINDOW} AND {RARE}""",
    "DeviceFileEvents": f"""SELECT {KEYS}, max(length(FileName)), max(length(FolderPath)),
        max(length(SHA1)) FROM lake_table('DeviceFileEvents') WHERE {WINDOW} AND {RARE}""",
    "DeviceImageLoadEvents": f"""SELECT {KEYS}, max(length(FileName)), max(length(SHA1))
        FROM lake_table('DeviceImageLoadEvents') WHERE {WINDOW} AND {RARE}""",
}


def best_of(con, sql, repeat):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        con.execute(sql).fetchall()
        times.append(time.perf_counter() - started)
    return min(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lake", required=True, type=pathlib.Path)
    parser.add_argument("--huntlake", default=str(ROOT / "target/release/huntlake"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    detect = [args.huntlake, "detect", "--lake", str(args.lake), "--as-of", AS_OF,
              "--format", "ndjson", "--threads", str(args.threads)]
    detections = subprocess.run(detect, capture_output=True, text=True, check=True).stdout
    rare = sorted({json.loads(line)["ServiceProcess"] for line in detections.splitlines() if line})
    walls = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        subprocess.run(detect, capture_output=True, check=True)
        walls.append(time.perf_counter() - started)

    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET VARIABLE lake = ?", [str(args.lake.resolve())])
    con.execute("SET VARIABLE since = ?::TIMESTAMPTZ", [SINCE])
    con.execute((ROOT / "benches/duckdb/common.sql").read_text())
    con.execute("CREATE TEMP TABLE rare(name VARCHAR)")
    con.executemany("INSERT INTO rare VALUES (?)", [[name] for name in rare])
    floor = best_of(con, (ROOT / "benches/duckdb/floor.sql").read_text(), args.repeat)
    reads = {table: best_of(con, sql, args.repeat) for table, sql in READS.items()}
    needed = sum(reads.values())
    huntlake = statistics.median(walls)

    print(f"{args.lake.name}: {len(rare)} rare service names")
    for table, seconds in reads.items():
        print(f"  DuckDB reading the rule's columns of {table}: {seconds:.3f} s")
    print("| lake | huntlake detect s | DuckDB floor s | DuckDB, the rule's reads s "
          "| huntlake ÷ floor | huntlake ÷ the rule's reads |")
    print(f"| {args.lake.name} | {huntlake:.2f} | {floor:.2f} | {needed:.2f} "
          f"| {huntlake / floor:.2f} | {huntlake / needed:.2f} |")


if __name__ == "__main__":
    main()
