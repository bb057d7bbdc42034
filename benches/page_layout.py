"""How a writer laid out one table of a lake: for each column, its compressed and uncompressed
size over every file, and the data pages of one column chunk (values per page). A reader skips
whole pages only; where a column chunk is one page, any kept row decompresses all of it.

    benches/.venv/bin/python benches/page_layout.py target/bench-lakes/lake-M-duckdb/DeviceFileEvents

The page headers are read straight from the file (Thrift compact protocol), since pyarrow does
not expose them.
"""
import argparse
import collections
import pathlib

import pyarrow.parquet as pq

# The columns the rule reads from an event table, and the floor's one column.
RULE_COLUMNS = [
    "InitiatingProcessParentFileName", "InitiatingProcessFileName", "DeviceName",
    "InitiatingProcessCommandLine", "InitiatingProcessCreationTime", "InitiatingProcessId",
    "InitiatingProcessAccountName", "InitiatingProcessSHA1", "FileName", "FolderPath", "SHA1",
    "RemoteIP", "RemoteUrl", "ProcessCommandLine", "TimeGenerated",
]
DATA_PAGE, DICTIONARY_PAGE, DATA_PAGE_V2 = 0, 2, 3


def varint(data, pos):
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def zigzag(n):
    return (n >> 1) ^ -(n & 1)


def skip(data, pos, kind):
    """Skips one Thrift compact value of type `kind`."""
    if kind in (1, 2):  # booleans live in the field header
        return pos
    if kind == 3:  # byte
        return pos + 1
    if kind in (4, 5, 6):  # i16, i32, i64
        return varint(data, pos)[1]
    if kind == 7:  # double
        return pos + 8
    if kind == 8:  # binary
        length, pos = varint(data, pos)
        return pos + length
    if kind in (9, 10):  # list, set
        header = data[pos]
        pos += 1
        count, element = header >> 4, header & 0x0F
        if count == 15:
            count, pos = varint(data, pos)
        for _ in range(count):
            pos = skip(data, pos, element)
        return pos
    if kind == 12:  # struct
        return read_struct(data, pos)[1]
    raise ValueError(f"unexpected Thrift type {kind} at byte {pos}")


def read_struct(data, pos):
    """A Thrift compact struct's integer and struct fields, by field id."""
    fields, field_id = {}, 0
    while True:
        header = data[pos]
        pos += 1
        if header == 0:
            return fields, pos
        kind, delta = header & 0x0F, header >> 4
        if delta:
            field_id += delta
        else:
            raw, pos = varint(data, pos)
            field_id = zigzag(raw)
        if kind in (5, 6):
            raw, pos = varint(data, pos)
            fields[field_id] = zigzag(raw)
        elif kind == 12:
            fields[field_id], pos = read_struct(data, pos)
        else:
            pos = skip(data, pos, kind)


def pages(path, chunk):
    """(page type, values) of each page of a column chunk."""
    start = chunk.data_page_offset
    # Some writers put 0 here for "no dictionary page": a page never starts at the magic bytes.
    if chunk.has_dictionary_page and (chunk.dictionary_page_offset or 0) > 0:
        start = min(start, chunk.dictionary_page_offset)
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(chunk.total_compressed_size)
    out, pos = [], 0
    while pos < len(data):
        header, pos = read_struct(data, pos)
        page_type, compressed = header[1], header[3]
        body = {DATA_PAGE: 5, DICTIONARY_PAGE: 7, DATA_PAGE_V2: 8}.get(page_type)
        values = header.get(body, {}).get(1) if body else None
        out.append((page_type, values))
        pos += compressed
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("table", type=pathlib.Path, help="a table's folder in a lake")
    args = parser.parse_args()
    files = sorted(args.table.rglob("*.parquet"))
    compressed, uncompressed = collections.Counter(), collections.Counter()
    row_groups = 0
    for path in files:
        metadata = pq.ParquetFile(path).metadata
        for i in range(metadata.num_row_groups):
            row_groups += 1
            group = metadata.row_group(i)
            for j in range(group.num_columns):
                column = group.column(j)
                compressed[column.path_in_schema] += column.total_compressed_size
                uncompressed[column.path_in_schema] += column.total_uncompressed_size
    first = pq.ParquetFile(files[0]).metadata.row_group(0)
    chunks = {first.column(j).path_in_schema: first.column(j) for j in range(first.num_columns)}
    print(f"{args.table}: {len(files)} files, {row_groups} row groups; "
          f"row group 0 of {files[0].name} has {first.num_rows} rows")
    print("| column | compressed MB | uncompressed MB | data pages of one chunk (values each) |")
    print("|---|---:|---:|---|")
    for name in RULE_COLUMNS:
        if name not in chunks:
            continue
        data_pages = [v for t, v in pages(files[0], chunks[name]) if t != DICTIONARY_PAGE]
        shown = ", ".join(str(v) for v in data_pages[:4]) + (" ..." if len(data_pages) > 4 else "")
        print(f"| {name} | {compressed[name] / 1e6:.0f} | {uncompressed[name] / 1e6:.0f} "
              f"| {len(data_pages)}: {shown} |")


if __name__ == "__main__":
    main()
