"""The report benchmark: a triage report of about 10,000 detections.

Generates a lake with many planted rare services (unless it is there already), then times
`huntlake detect` and `huntlake report` on it (release build, same threads), measures the
HTML file, and opens it in headless Chromium: the page's own script records when it has run
(`data-ready-ms` on <html>, milliseconds from navigation start, after the whole page was parsed
and its script ran), and the wall time of Chromium loading, laying out and painting the page
(a screenshot of its first screen) is compared with the same for an empty page. (`--dump-dom`
is not timed: printing a DOM that holds tens of megabytes of script data takes Chromium far
longer than opening the page.)

Usage: benches/report.py [--lake target/bench-lakes/lake-report] [--repeat 3]
Needs Chromium (`apt-get install chromium`, or HUNTLAKE_CHROMIUM).
"""
import argparse
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
AS_OF = "2026-11-19T00:00:00Z"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def timed(cmd, **kwargs):
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{proc.stderr}")
    return elapsed, proc


def chromium():
    path = os.environ.get("HUNTLAKE_CHROMIUM", "/usr/bin/chromium")
    if not os.path.exists(path):
        sys.exit("Chromium is needed: apt-get install chromium, or set HUNTLAKE_CHROMIUM")
    return path


def open_in_chromium(page):
    with tempfile.TemporaryDirectory() as profile:
        shot = pathlib.Path(profile) / "shot.png"
        elapsed, _ = timed([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                            "--window-size=1280,900", f"--screenshot={shot}", page.as_uri()])
    with tempfile.TemporaryDirectory() as profile:
        _, proc = timed([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                         "--dump-dom", page.as_uri()])
    ready = re.search(r'data-ready-ms="(\d+)"', proc.stdout)
    return elapsed, int(ready.group(1)) if ready else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lake", default=str(ROOT / "target" / "bench-lakes" / "lake-report"))
    parser.add_argument("--huntlake", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    huntlake = args.huntlake or os.path.join(target, "release", "huntlake")
    lake = pathlib.Path(args.lake)
    if not (lake / "manifest.json").exists():
        print(f"generating {lake} ...", file=sys.stderr)
        timed([huntlake, "generate", "--out", lake, "--devices", "1000", "--days", "15",
               "--as-of", AS_OF, "--seed", "7", "--rare-rate", "0.8",
               "--process-per-day", "40", "--network-per-day", "40", "--file-per-day", "40",
               "--image-per-day", "40", "--threads", str(args.threads)])
    common = ["--lake", str(lake), "--as-of", AS_OF, "--threads", str(args.threads)]
    out = pathlib.Path(tempfile.mkdtemp(prefix="huntlake-report-bench-"))
    page = out / "report.html"
    detect_times, report_times, open_times, ready_times = [], [], [], []
    rows = 0
    for _ in range(args.repeat):
        seconds, proc = timed([huntlake, "detect", *common, "--format", "ndjson"])
        detect_times.append(seconds)
        rows = len(proc.stdout.splitlines())
        seconds, _ = timed([huntlake, "report", *common, "--out", page])
        report_times.append(seconds)
    empty = out / "empty.html"
    empty.write_text("<!DOCTYPE html><html><body></body></html>")
    baseline = statistics.median(open_in_chromium(empty)[0] for _ in range(args.repeat))
    for _ in range(args.repeat):
        seconds, ready = open_in_chromium(page)
        open_times.append(seconds - baseline)
        ready_times.append(ready)
    size = page.stat().st_size
    print(f"lake: {lake}")
    print(f"detections: {rows}")
    print(f"detect (median of {args.repeat}): {statistics.median(detect_times):.2f} s")
    print(f"report (median of {args.repeat}): {statistics.median(report_times):.2f} s "
          f"({statistics.median(report_times) / statistics.median(detect_times):.2f}x detect)")
    print(f"report file: {size / 1e6:.1f} MB")
    print(f"chromium: page script done at {statistics.median(ready_times)} ms; "
          f"opened and painted in {statistics.median(open_times):.2f} s over an empty page "
          f"({baseline:.2f} s)")


if __name__ == "__main__":
    main()
