"""The macro benchmark: huntlake detect against DuckDB on the same synthetic lakes.

For each scale it generates a lake (huntlake generate, microsecond-aligned times so that DuckDB,
which holds microseconds, sees the same instants), then times, each with the same thread
count, under /usr/bin/time (wall seconds, peak RSS):
  - huntlake detect
  - DuckDB, the best hand-written SQL (benches/duckdb/best.sql)
  - DuckDB, the literal translation (benches/duckdb/literal.sql; skipped at L)
  - the floor: DuckDB counting the rows whose parent contains services.exe (floor.sql)
checks the result sets are identical and that every planted rare service in the window is
found, and prints a Markdown table. Run it through benches/macro.sh, which installs DuckDB.

`--layouts` also runs each scale on the same rows as other writers lay them out (pyarrow's
defaults, DuckDB's COPY, Spark-style small files, large files with 128 MiB row groups; see
benches/relayout.py, which needs pyarrow). Rewriting is done once and not timed.
"""
import argparse
import datetime as dt
import json
import os
import shutil
import pathlib
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
AS_OF = "2026-11-19T00:00:00Z"
SINCE = "2026-11-05T00:00:00Z"  # AS_OF - 14d
SCALES = {"S": (50, 15), "M": (500, 15), "L": (5000, 15)}


def timed(cmd, out_file=None):
    """Runs cmd under /usr/bin/time; returns (seconds, peak RSS MiB)."""
    time_file = "/tmp/huntlake-bench-time.txt"
    stdout = open(out_file, "w") if out_file else subprocess.DEVNULL
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", "-o", time_file] + cmd,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
    seconds, kib = open(time_file).read().split()[-2:]
    return float(seconds), int(kib) / 1024, proc.stderr


def canonical(path):
    """The rule's rows of an NDJSON file, comparable across engines (huntlake's own AlertId
    column left out: DuckDB's SQL does not compute it)."""
    rows = []
    with open(path) as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                row.pop("AlertId", None)
                rows.append(json.dumps(row, sort_keys=True))
    return sorted(rows)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scales", nargs="*", default=["S"], help="S, M and/or L")
    parser.add_argument("--lakes", default=str(ROOT / "target" / "bench-lakes"))
    parser.add_argument("--huntlake", default=None, help="the huntlake binary (default: release build)")
    parser.add_argument("--python", default=sys.executable, help="a Python with duckdb")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="runs per engine; the median is reported")
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed runs per engine first, so every engine starts with the lake in the page cache")
    parser.add_argument("--engines", default="huntlake,duckdb best SQL,duckdb literal,duckdb floor",
                        help="comma-separated engines to run (e.g. huntlake alone, for a by-hand L rerun)")
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--layouts", default="generator",
                        help="comma-separated: generator (huntlake generate's own files), pyarrow, duckdb, spark, large")
    args = parser.parse_args()

    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    huntlake = args.huntlake or str(pathlib.Path(target) / "release" / "huntlake")
    lakes = pathlib.Path(args.lakes)
    lakes.mkdir(parents=True, exist_ok=True)
    duckdb_run = [args.python, str(ROOT / "benches" / "duckdb_run.py")]

    print(f"machine: {os.cpu_count()} cores, {os.uname().machine}, threads {args.threads}; "
          f"as of {AS_OF}, lookback 14d; median of {args.repeat} runs after {args.warmup} warm-up", file=sys.stderr)
    table = []
    for scale in args.scales:
        devices, days = SCALES[scale]
        lake = lakes / f"lake-{scale}"
        if args.regenerate or not (lake / "manifest.json").exists():
            seconds, rss, err = timed([huntlake, "generate", "--out", str(lake), "--devices", str(devices),
                                       "--days", str(days), "--as-of", AS_OF, "--seed", "1",
                                       "--microsecond-times", "--threads", str(args.threads)])
            print(err.strip().splitlines()[-1], file=sys.stderr)
        for layout in args.layouts.split(","):
            table += run_layout(args, huntlake, duckdb_run, scale, lake, layout)

    print("| scale | rows | layout | engine | wall s | peak RSS MiB | ÷ DuckDB best | ÷ floor | result |")
    print("|---|---:|---|---|---:|---:|---:|---:|---|")
    for scale, rows, layout, name, seconds, rss, ratio, floor_ratio, same in table:
        if name == "detections":
            print(f"| {scale} | {rows:,} | {layout} | {seconds} detections | | | | | {same} |")
        else:
            ratios = " | ".join(f"{r:.2f}" if r else "" for r in (ratio, floor_ratio))
            print(f"| {scale} | {rows:,} | {layout} | {name} | {seconds:.2f} | {rss:.0f} | {ratios} | {same} |")


def run_layout(args, huntlake, duckdb_run, scale, generated, layout):
    """Times every engine on the scale's lake as `layout` lays it out; the table's rows."""
    table = []
    lake = generated
    if layout != "generator":
        lake = generated.with_name(f"{generated.name}-{layout}")
        if args.regenerate and lake.exists():
            shutil.rmtree(lake)
        if not (lake / "manifest.json").exists():
            subprocess.run([args.python, str(ROOT / "benches" / "relayout.py"), str(generated), str(lake), layout],
                           check=True)
    manifest = json.loads((lake / "manifest.json").read_text())
    rows = sum(manifest["rows"].values())
    runs = {
        "huntlake": ([huntlake, "detect", "--lake", str(lake), "--as-of", AS_OF, "--format", "ndjson",
                      "--threads", str(args.threads)], lake / "huntlake.ndjson"),
        "duckdb best SQL": (duckdb_run + ["--query", "best", "--lake", str(lake), "--since", SINCE,
                                          "--threads", str(args.threads)], lake / "duckdb-best.ndjson"),
        "duckdb literal": (duckdb_run + ["--query", "literal", "--lake", str(lake), "--since", SINCE,
                                         "--threads", str(args.threads)], lake / "duckdb-literal.ndjson"),
        "duckdb floor": (duckdb_run + ["--query", "floor", "--lake", str(lake), "--since", SINCE,
                                       "--threads", str(args.threads)], lake / "duckdb-floor.txt"),
    }
    wanted = set(args.engines.split(","))
    if scale == "L":
        wanted.discard("duckdb literal")
    runs = {name: run for name, run in runs.items() if name in wanted}
    results = {}
    for name, (cmd, out) in runs.items():
        for _ in range(args.warmup):
            timed(cmd, str(out))
        samples = [timed(cmd, str(out)) for _ in range(args.repeat)]
        results[name] = (statistics.median(s[0] for s in samples), max(s[1] for s in samples))
        print(f"{scale} {layout} {name}: {results[name][0]:.2f} s, {results[name][1]:.0f} MiB", file=sys.stderr)
    ours = canonical(lake / "huntlake.ndjson")
    same = {name: canonical(out) == ours for name, (cmd, out) in runs.items() if name.startswith("duckdb") and "floor" not in name}
    in_window = [p for p in manifest["planted"] if p["service_process_creation_time"] > SINCE.replace("Z", "")]
    found = {(json.loads(l)["DeviceName"], json.loads(l)["ServiceProcess"], json.loads(l)["ServiceProcessID"]) for l in ours}
    missing = [p for p in in_window if (p["device_name"], p["service_process"], p["service_process_id"]) not in found]
    best = results.get("duckdb best SQL", (None,))[0]
    floor = results.get("duckdb floor", (None,))[0]
    for name, (seconds, rss) in results.items():
        table.append((scale, rows, layout, name, seconds, rss, best and seconds / best,
                      floor and seconds / floor,
                      "" if name not in same else ("identical" if same[name] else "DIFFERENT")))
    table.append((scale, rows, layout, "detections", len(ours), 0, 0, 0,
                  f"{len(in_window) - len(missing)}/{len(in_window)} planted in window found"))
    return table


if __name__ == "__main__":
    main()
