"""Runs one of the DuckDB queries of benches/duckdb/ over a lake and writes its rows as
huntlake's ndjson (sets sorted, datetimes with 7 fractional digits) for comparison.

    python duckdb_run.py --query best|literal|floor --lake DIR --since RFC3339 --threads 2 [--out FILE]
"""
import argparse
import datetime as dt
import json
import pathlib
import sys

import duckdb

HERE = pathlib.Path(__file__).resolve().parent / "duckdb"


def kusto_time(value):
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0Z"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--query", required=True, choices=["best", "literal", "floor"])
    parser.add_argument("--lake", required=True)
    parser.add_argument("--since", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out")
    args = parser.parse_args()

    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET VARIABLE lake = ?", [str(pathlib.Path(args.lake).resolve())])
    con.execute("SET VARIABLE since = ?::TIMESTAMPTZ", [args.since])
    con.execute((HERE / "common.sql").read_text())
    result = con.execute((HERE / f"{args.query}.sql").read_text())
    columns = [d[0] for d in result.description]
    rows = result.fetchall()
    if args.query == "floor":
        print(rows[0][0])
        return
    lines = []
    for row in rows:
        obj = {}
        for name, value in zip(columns, row):
            if isinstance(value, list):
                value = sorted(value)
            elif isinstance(value, dt.datetime):
                value = kusto_time(value)
            obj[name] = value
        lines.append(obj)
    keys = columns[:7]
    lines.sort(key=lambda o: tuple("" if o[k] is None else str(o[k]) for k in keys))
    out = open(args.out, "w") if args.out else sys.stdout
    for obj in lines:
        out.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
