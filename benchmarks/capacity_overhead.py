"""Benchmark: what the capacity sweep's measurement adds over the engine calls it measures.

Run on demand (not a test): `python benchmarks/capacity_overhead.py [--engines ...] [--dims ...] [--n-values ...]`;
without options it runs the notebook's default sweep. The sweep's wall time is set against the time its children
spent inside the engines (build and save, load, timed queries). The difference splits into the inputs (generating
the vectors and the exact top-k that recall needs, which any recall measurement pays) and the harness (child
processes, RSS probes, disk accounting, rows written). Figures go to benchmarks/results/capacity_overhead_<N>.json,
the sweep's rows to capacity_sweep_<N>.jsonl beside it (N: the largest index size). Target: harness overhead <= 5 %.
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import papermill  # noqa: E402

from workbench.core.files import atomic_path, write_json_atomic  # noqa: E402
from workbench.run.results import package_versions  # noqa: E402
from workbench.index import sweep  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "04_hnsw_capacity.ipynb"
TARGET = 0.05
ENGINE_SECONDS = ("build_s", "load_s", "query_s")  # time inside engine calls, measured in the children


def notebook_defaults() -> dict:
    """The default sweep: the literals of the notebook's parameters cell."""
    return {name: ast.literal_eval(info["default"]) for name, info in papermill.inspect_notebook(str(NOTEBOOK)).items()}


def main() -> None:
    defaults = notebook_defaults()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", default=defaults["engines"])
    parser.add_argument("--dims", nargs="+", type=int, default=defaults["dims"])
    parser.add_argument("--n-values", nargs="+", type=int, default=defaults["n_values"])
    parser.add_argument("--queries", type=int, default=defaults["n_queries"])
    args = parser.parse_args()
    config = sweep.sweep_config(args.engines, args.dims, args.n_values, "synthetic", defaults["M"],
                                defaults["ef_construction"], defaults["ef_search"], defaults["k"], args.queries)
    inputs = []
    prepare = sweep.prepare_vectors

    def timed_prepare(*a, **k):
        start = time.perf_counter()
        try:
            return prepare(*a, **k)
        finally:
            inputs.append(time.perf_counter() - start)

    sweep.prepare_vectors = timed_prepare
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        table = sweep.run_sweep(config, out)
        wall = time.perf_counter() - start
        rows = (Path(out) / sweep.SWEEP_FILE).read_text(encoding="utf-8")
    with atomic_path(RESULTS / f"capacity_sweep_{max(args.n_values)}.jsonl") as tmp:
        tmp.write_text(rows, encoding="utf-8")
    ok = table[table["status"] == "ok"]
    engine, inputs_s = float(ok[list(ENGINE_SECONDS)].to_numpy().sum()), sum(inputs)
    harness = (wall - inputs_s - engine) / engine
    per_engine = {name: float(g[list(ENGINE_SECONDS)].to_numpy().sum()) for name, g in ok.groupby("engine")}
    figures = {"engines": args.engines, "dims": args.dims, "n_values": args.n_values, "queries": args.queries,
               "points": len(table), "points_ok": len(ok), "sweep_wall_s": wall, "engine_s": engine,
               "inputs_s": inputs_s, "engine_s_by_engine": per_engine, "overhead_total": wall / engine - 1,
               "overhead_harness": harness, "target": TARGET, "meets_target": harness <= TARGET,
               "cpu_count": os.cpu_count(), "machine": platform.machine(), "packages": package_versions()}
    write_json_atomic(RESULTS / f"capacity_overhead_{max(args.n_values)}.json", figures)
    print(f"{len(ok)} points: sweep {wall:.1f} s, inside the engines {engine:.1f} s, vectors and exact top-k "
          f"{inputs_s:.1f} s; overhead {wall / engine - 1:.1%} in total, {harness:.1%} harness "
          f"(target <= {TARGET:.0%})")


if __name__ == "__main__":
    main()
