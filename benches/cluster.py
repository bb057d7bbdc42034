"""The cluster benchmark: huntlake detect in one process against 1, 2 and 3 local workers.

On one machine no speed-up is possible; what this measures is the overhead of cutting the plan
into stages and moving data between processes over Arrow Flight. For each configuration it
starts fresh `huntlake worker` processes on 127.0.0.1 (ports chosen by the system), runs
`huntlake detect --workers ...` under /usr/bin/time, reads every worker's peak RSS (VmHWM)
before stopping it, and takes the bytes moved between processes from the summary line. The
detections of every configuration must be byte-identical to the single process's.

Usage: benches/cluster.py [--lakes target/bench-lakes] [--scales M] [--repeat 3]
(the lakes as benches/macro.py generates them; run that first).
"""
import argparse
import os
import pathlib
import re
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
AS_OF = "2026-11-19T00:00:00Z"


def start_worker(huntlake, threads):
    worker = subprocess.Popen(
        [huntlake, "worker", "--listen", "127.0.0.1:0", "--threads", str(threads)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = worker.stderr.readline()
    url = next((w for w in first.split() if w.startswith("http://")), None)
    if url is None:
        sys.exit(f"the worker did not start: {first}")
    return worker, url


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run(huntlake, lake, planner_threads, workers, out):
    urls = []
    started = [start_worker(huntlake, 1) for _ in range(workers)]
    urls = [url for _, url in started]
    cmd = [huntlake, "detect", "--lake", str(lake), "--as-of", AS_OF, "--format", "ndjson",
           "--threads", str(planner_threads)]
    if urls:
        cmd += ["--workers", ",".join(urls)]
    time_file = "/tmp/huntlake-cluster-time.txt"
    with open(out, "w") as stdout:
        proc = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", time_file] + cmd,
                              stdout=stdout, stderr=subprocess.PIPE, text=True)
    worker_rss = [peak_rss_mib(w.pid) for w, _ in started]
    for w, _ in started:
        w.terminate()
        w.wait()
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
    seconds, kib = open(time_file).read().split()[-2:]
    summary = proc.stderr.strip().splitlines()[-1]
    moved = re.search(r"([\d.]+) (B|KiB|MiB|GiB) moved between processes", summary)
    scale = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
    moved_bytes = float(moved.group(1)) * scale[moved.group(2)] if moved else 0.0
    return float(seconds), int(kib) / 1024, worker_rss, moved_bytes


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lakes", default=str(ROOT / "target" / "bench-lakes"))
    parser.add_argument("--scales", nargs="*", default=["M"])
    parser.add_argument("--huntlake", default=None, help="the huntlake binary (default: release build)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    huntlake = args.huntlake or str(pathlib.Path(target) / "release" / "huntlake")
    # The planner plans with 2 partitions in every configuration: the partitions become the
    # tasks datafusion-distributed spreads over the workers (planned with 1, the plan has no
    # shuffle to cut at and runs almost whole in the planner).
    configs = [
        ("one process, 2 threads", 2, 0),
        ("1 worker × 1 thread", 2, 1),
        ("2 workers × 1 thread", 2, 2),
        ("3 workers × 1 thread", 2, 3),
    ]
    print(f"machine: {os.cpu_count()} cores; as of {AS_OF}; median of {args.repeat} runs, "
          f"fresh workers for each", file=sys.stderr)
    print("| scale | configuration | wall s | ÷ one process | planner peak RSS MiB "
          "| workers' peak RSS MiB | moved between processes | detections |")
    print("|---|---|---:|---:|---:|---|---:|---|")
    for scale in args.scales:
        lake = pathlib.Path(args.lakes) / f"lake-{scale}"
        if not (lake / "manifest.json").exists():
            sys.exit(f"no lake at {lake}: run benches/macro.py {scale} first")
        baseline = None
        reference = None
        for name, planner_threads, workers in configs:
            out = lake / f"cluster-{workers}.ndjson"
            samples = [run(huntlake, lake, planner_threads, workers, out) for _ in range(args.repeat)]
            seconds = statistics.median(s[0] for s in samples)
            planner_rss = max(s[1] for s in samples)
            worker_rss = [max(s[2][i] for s in samples) for i in range(workers)]
            moved = statistics.median(s[3] for s in samples)
            text = out.read_text()
            if reference is None:
                reference, baseline = text, seconds
            same = "identical" if text == reference else "DIFFERENT"
            print(f"{scale} {name}: {seconds:.2f} s, moved {moved / (1 << 20):.1f} MiB", file=sys.stderr)
            rss = ", ".join(f"{r:.0f}" for r in worker_rss) or "–"
            print(f"| {scale} | {name} | {seconds:.2f} | {seconds / baseline:.2f} | {planner_rss:.0f} "
                  f"| {rss} | {moved / (1 << 20):.1f} MiB | {len(text.splitlines())}, {same} |")


if __name__ == "__main__":
    main()
