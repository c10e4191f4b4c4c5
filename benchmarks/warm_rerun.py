"""Benchmark: how long `workbench run` takes when nothing changed (target: 5 s or less on 2 cores).

Run on demand (not a test): `python benchmarks/warm_rerun.py [--suite suites/default.yaml] [--reports reports]`.
The suite is run once first so that every cell is complete (minutes when the reports folder is empty; seconds
when it is up to date), then once more, timed: that second run should skip every cell, the studies that read
other runs (07) included. Wall time and the cells that ran go to benchmarks/results/warm_rerun.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from workbench.core.files import write_json_atomic
from workbench.core.paths import PROJECT_ROOT

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_S = 5.0


def _run(suite: str, reports: str) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "workbench", "run", suite, "--reports", reports], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="suites/default.yaml")
    parser.add_argument("--reports", default="reports")
    args = parser.parse_args()
    _run(args.suite, args.reports)  # every cell complete
    seconds, out = _run(args.suite, args.reports)
    ran = [line.split(":")[0] for line in out.splitlines() if ": running " in line]
    figures = {"suite": args.suite, "seconds": seconds, "cells_that_ran": ran, "target_s": TARGET_S,
               "machine": f"{platform.node()} ({os.cpu_count()} cores)"}
    RESULTS.mkdir(exist_ok=True)
    write_json_atomic(RESULTS / "warm_rerun.json", figures)
    print(f"warm re-run of {args.suite}: {seconds:.1f} s (target {TARGET_S:g} s); cells that ran: {ran or 'none'}")


if __name__ == "__main__":
    main()
