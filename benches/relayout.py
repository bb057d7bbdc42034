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
            write_large(files, dest / table / "part-00000.parquet")
        else:
            sys.exit(f"unknown layout {layout}: pyarrow, duckdb, spark or large")
    shutil.copy(source / "manifest.json", dest / "manifest.json")


def write_large(files, out):
    """One file of row groups of about ROW_GROUP_BYTES, written as the days stream by: at M a
    table is larger than memory, so at most one row group and one day are held at a time."""
    out.parent.mkdir(parents=True, exist_ok=True)
    writer, pending, rows_per_group = None, [], None
    for f in files:
        day = pq.read_table(f)
        if writer is None:
            writer = pq.ParquetWriter(out, day.schema)
            rows_per_group = max(1, ROW_GROUP_BYTES // max(1, day.nbytes // max(1, day.num_rows)))
        pending.append(day)
        buffered = pa.concat_tables(pending)
        while buffered.num_rows >= rows_per_group:
            writer.write_table(buffered.slice(0, rows_per_group), row_group_size=rows_per_group)
            buffered = buffered.slice(rows_per_group)
        pending = [buffered]
    if writer is not None:
        rest = pa.concat_tables(pending)
        if rest.num_rows:
            writer.write_table(rest, row_group_size=rows_per_group)
        writer.close()


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
