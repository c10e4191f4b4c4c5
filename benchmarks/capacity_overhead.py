"""Benchmark: what the capacity sweep's measurement adds over calling the engine directly.

Run on demand (not a test): `python benchmarks/capacity_overhead.py [--engine hnswlib] [--n 20000] [--dim 384]`.
Times one sweep point (two clean child processes, RSS probes, disk accounting, exact search for recall)
against the same build, save, load and single queries done in-process, and writes the figures to
benchmarks/results/capacity_overhead.json. Target: overhead <= 5 %.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from workbench.capacity import HnswParams, make_engine  # noqa: E402
from workbench.resources import run_in_child  # noqa: E402
from workbench.results import package_versions, write_json_atomic  # noqa: E402
from workbench.studies import capacity as study  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "capacity_overhead.json"
TARGET = 0.05


def raw_seconds(point: dict) -> float:
    """Build, save, load and query one at a time with the engine alone, in this process."""
    base, queries = study.point_vectors(point, "base"), study.point_vectors(point, "queries")
    params = HnswParams(**point["params"])
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        make_engine(point["engine"], point["dim"], params).build(base, folder)
        engine = make_engine(point["engine"], point["dim"], params)
        engine.load(folder)
        for row in queries:
            engine.query(row[None], point["k"])
        return time.perf_counter() - start


def measured_seconds(point: dict) -> float:
    """The same point through the sweep's measurement (children, probes, exact search, recall)."""
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        study.measure_point(point, Path(scratch))
        return time.perf_counter() - start


def child_start_seconds() -> float:
    """Wall time of one clean spawned child doing nothing: the fixed part of the overhead."""
    start = time.perf_counter()
    run_in_child(os.getpid)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="hnswlib")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    config = study.sweep_config([args.engine], [args.dim], [args.n // 2, args.n], "synthetic", 16, 100, 50, 10,
                                args.queries)
    point = config.points()[-1]
    raw_seconds(point)  # warm the engine import and the file cache once
    raw, measured, child = raw_seconds(point), measured_seconds(point), child_start_seconds()
    overhead = measured / raw - 1
    figures = {"engine": args.engine, "n": args.n, "dim": args.dim, "queries": args.queries,
               "raw_s": raw, "measured_s": measured, "overhead": overhead, "target": TARGET,
               "meets_target": overhead <= TARGET, "child_start_s": child,
               "overhead_without_two_child_starts": (measured - 2 * child) / raw - 1,
               "cpu_count": os.cpu_count(), "machine": platform.machine(),
               "packages": package_versions()}
    write_json_atomic(RESULTS, figures)
    print(f"{args.engine} n={args.n} d={args.dim}: raw {raw:.2f} s, measured {measured:.2f} s, "
          f"overhead {overhead:.1%} (target <= {TARGET:.0%}); one child start {child:.2f} s")


if __name__ == "__main__":
    main()
