"""Checks that two lakes hold the same rows: per Defender table, DuckDB's row count and the sum
of a hash of every row (order-free), side by side. Used to check that a generator change writes
the same data (BENCHMARKS.md, "Generator throughput").

    benches/.venv/bin/python benches/compare_lakes.py LAKE_A LAKE_B

Exits 1 if any table differs. (benches/macro.sh installs the pinned duckdb into benches/.venv.)
"""
import sys

import duckdb

TABLES = ["DeviceProcessEvents", "DeviceNetworkEvents", "DeviceFileEvents", "DeviceImageLoadEvents"]


def fingerprint(con, root, table):
    return con.execute(
        "SELECT count(*), sum(hash(r)::HUGEINT) FROM read_parquet(?) r",
        [f"{root}/{table}/**/*.parquet"],
    ).fetchone()


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    same = True
    for table in TABLES:
        a, b = (fingerprint(con, root, table) for root in sys.argv[1:])
        print(f"{table}: {a[0]:,} rows; {'same' if a == b else f'DIFFERENT: {a} vs {b}'}")
        same &= a == b
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
