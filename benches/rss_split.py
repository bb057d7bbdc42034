#!/usr/bin/env python3
"""Peak memory of a command, split into anonymous memory and file-backed pages.

/usr/bin/time's maximum resident set counts the pages of the binary a run touched, which move
with every rebuild; this samples /proc/PID/status every half millisecond and prints the peak
of each part. Linux only.

    benches/rss_split.py --repeat 3 -- target/release/huntlake detect \
        --lake target/bench-lakes/lake-S --as-of 2026-11-19T00:00:00Z --threads 2 --format ndjson
"""
import argparse
import subprocess
import time


def peaks(command):
    """Runs `command` (its output discarded) and gives its peak RssAnon and RssFile, in MiB."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    anon = file = 0
    while process.poll() is None:
        try:
            with open(f"/proc/{process.pid}/status") as status:
                for line in status:
                    if line.startswith("RssAnon:"):
                        anon = max(anon, int(line.split()[1]))
                    elif line.startswith("RssFile:"):
                        file = max(file, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.0005)
    if process.wait() != 0:
        raise SystemExit(f"{command[0]} exited with {process.returncode}")
    return anon / 1024, file / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to measure after --")
    for _ in range(args.repeat):
        anon, file = peaks(command)
        print(f"RssAnon {anon:7.1f} MiB  RssFile {file:7.1f} MiB")


if __name__ == "__main__":
    main()
