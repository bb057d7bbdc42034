"""Rewrites a lake that `huntlake generate` wrote into the layouts other writers give, same rows.

Real lakes come from Azure Data Explorer / Fabric exports, Spark, Event Hubs capture, pyarrow
and DuckDB, with their own row groups, pages, encodings, statistics and file counts. Layouts:

  pyarrow   one file per table-day, as the generator's, rewritten by pyarrow's defaults
            (snappy, dictionary pages, statistics on every column, no page index)
  duckdb    one file per table-day, rewritten by DuckDB's COPY ... (FORMAT parquet) defaults
            (row groups of 122,880 rows, snappy, bloom filters on dictionary columns)
  spark     many small files, Spark-style: one per table-hour, under date=/hour= folders
            (one per device-hour, as some pipelines write, would be 720,000 files at M;
            one per hour already gives 1,440 files of a few MB at M)
  large     one file per table, row groups of about 128 MiB (uncompressed), by pyarrow

Usage: relayout.py SOURCE_LAKE DEST_LAKE LAYOUT (with a Python that has pyarrow and duckdb).
The manifest.json of the source is copied, so benches/macro.py finds the planted services.
"""
import pathlib
import shutil
import sys

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

TABLES = ["DeviceProcessEvents", "DeviceNetworkEvents", "DeviceFileEvents", "DeviceImageLoadEvents"]
ROW_GROUP_BYTES = 128 << 20


def table_days(source, table):
    return sorted((source / table).glob("date=*/*.parquet"))


def rewrite(source, dest, layout):
    for table in TABLES:
        files = table_days(source, table)
        if layout == "pyarrow":
            for f in files:
                out = dest / table / f.parent.name / f.name
                out.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(pq.read_table(f), out)
        elif layout == "duckdb":
            con = duckdb.connect()
            for f in files:
                out = dest / table / f.parent.name / f.name
                out.parent.mkdir(parents=True, exist_ok=True)
                con.execute(f"COPY (SELECT * FROM read_parquet('{f}')) TO '{out}' (FORMAT parquet)")
        elif layout == "spark":
            for f in files:
                data = pq.read_table(f)
                hours = pc.hour(data.column("TimeGenerated"))
                for hour in range(24):
                    part = data.filter(pc.equal(hours, hour))
                    if part.num_rows == 0:
                        continue
                    out = dest / table / f.parent.name / f"hour={hour:02d}" / "part-00000.snappy.parquet"
                    out.parent.mkdir(parents=True, exist_ok=True)
                    pq.write_table(part, out)
        elif layout == "large":
            data = pa.concat_tables(pq.read_table(f) for f in files)
            per_row = max(1, data.nbytes // max(1, data.num_rows))
            out = dest / table / "part-00000.parquet"
            out.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(data, out, row_group_size=max(1, ROW_GROUP_BYTES // per_row))
        else:
            sys.exit(f"unknown layout {layout}: pyarrow, duckdb, spark or large")
    shutil.copy(source / "manifest.json", dest / "manifest.json")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    source, dest, layout = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
    partial = dest.with_name(dest.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    rewrite(source, partial, layout)
    partial.rename(dest)


if __name__ == "__main__":
    main()
