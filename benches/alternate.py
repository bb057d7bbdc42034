#!/usr/bin/env python3
"""Wall time of several commands run in turn, round after round, as medians.

Two builds (or one build with and without a setting) compared on a short run move with the
machine more than with the change; running them alternately puts each round of every command
in the same moment. Each command is one argument, split like a shell line; leading
`NAME=VALUE` words set environment variables for it. Output is discarded.

    benches/alternate.py --rounds 40 -- 'OLD/huntlake detect' 'NEW/huntlake detect'
    benches/alternate.py --rounds 15 -- \
        'huntlake detect --lake target/bench-lakes/lake-S' \
        'DATAFUSION_OPTIMIZER_REPARTITION_AGGREGATIONS=false huntlake detect --lake target/bench-lakes/lake-S'
"""

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import time

ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def parse(line):
    """`line` as (environment, argv): its leading NAME=VALUE words, then the command."""
    words = shlex.split(line)
    env = dict(os.environ)
    while words and ASSIGNMENT.match(words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    if not words:
        sys.exit(f"alternate.py: no command in {line!r}")
    return env, words


def run_once(env, argv):
    """Seconds of wall time for one run; a failing run stops the comparison."""
    started = time.perf_counter()
    finished = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - started
    if finished.returncode != 0:
        sys.exit(
            f"alternate.py: {shlex.join(argv)} exited with {finished.returncode}:\n"
            + finished.stderr.decode(errors="replace")
        )
    return took


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="rounds (default 30)")
    parser.add_argument("commands", nargs="+", help="each command as one argument")
    args = parser.parse_args()
    commands = [(line, *parse(line)) for line in args.commands]
    times = {line: [] for line, _, _ in commands}
    for _ in range(args.rounds):
        for line, env, argv in commands:
            times[line].append(run_once(env, argv))
    for line, _, _ in commands:
        runs = sorted(times[line])
        quartile = len(runs) // 4
        print(
            f"median {statistics.median(runs) * 1000:8.1f} ms  "
            f"min {runs[0] * 1000:8.1f}  p25 {runs[quartile] * 1000:8.1f}  "
            f"p75 {runs[len(runs) - 1 - quartile] * 1000:8.1f}  {line}"
        )


if __name__ == "__main__":
    main()
