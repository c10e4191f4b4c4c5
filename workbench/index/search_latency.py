"""Exact search against HNSW: single-query latency per storage precision as the item count grows.

Both engines are faiss, built and queried in this process on the same vectors, so the curves differ
only by the search. The crossover N is where HNSW starts to answer faster: between the measured sizes
that bracket it, or where the fitted lines (exact in N, HNSW in ln N) meet when none do.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.core.precision import ENGINE_PRECISION, StoragePrecision
from workbench.core.progress import progress_bar
from workbench.core.resources import dir_size_bytes, latency_summary, sample_latency_ms
from workbench.index.engines import HnswParams, make_engine, recall_at_k
from workbench.index.fits import latency_fit
from workbench.index.planner import crossover_n
from workbench.index.timing import time_queries
from workbench.index.vectors import tile_vectors

ENGINES = ("flat", "faiss")  # exact search, then faiss HNSW


def check_latency_precisions(precisions, dim: int) -> list[StoragePrecision]:
    """Precisions both faiss engines store; binary needs a dimension divisible by 8."""
    for p in precisions:
        if p not in ENGINE_PRECISION:
            raise ValueError(f"latency_precisions: {p!r} is not one the faiss engines store; choose from "
                             f"{', '.join(ENGINE_PRECISION)}")
    if "binary" in precisions and dim % 8:
        raise ValueError(f"binary storage needs a dimension divisible by 8; the model's is {dim}: drop binary from "
                         "latency_precisions")
    return list(precisions)


def latency_curve(real: np.ndarray, n_values, precisions, params: HnswParams = HnswParams(), n_queries: int = 200,
                  k: int = 10) -> pd.DataFrame:
    """Per N, precision and engine: build time, bytes per item on disk, p50/p95 ms per query, recall@k.

    Items and queries are the real vectors tiled to N with small perturbations (as study 04 does). Recall
    is HNSW's against exact search at the same precision (1 for exact search by construction): tiled
    copies are near-duplicates, so recall against float32 would measure the tiling, not the precision.
    """
    precisions = check_latency_precisions(precisions, real.shape[1])
    rows = []
    points = [(n, p, e) for n in sorted(int(n) for n in n_values) for p in precisions for e in ENGINES]
    with progress_bar(len(points), "flat vs HNSW", unit="index") as bar, \
            tempfile.TemporaryDirectory(prefix="search-latency-") as scratch:
        for n in sorted({p[0] for p in points}):
            base, queries = tile_vectors(real, n, seed=1), tile_vectors(real, n_queries, seed=2)
            exact: dict[StoragePrecision, np.ndarray] = {}
            for _, precision, name in (p for p in points if p[0] == n):
                engine = make_engine(name, base.shape[1], params, precision=ENGINE_PRECISION[precision])
                folder = Path(scratch) / f"{name}-{precision}-{n}"
                build_s = sample_latency_ms(lambda: engine.build(base, folder), repeats=1, warmup=0)[0] / 1e3
                found, samples = time_queries(engine, queries, k)
                summary = latency_summary(samples)
                exact.setdefault(precision, found)  # ENGINES lists exact search first
                rows.append({"engine": name, "precision": precision, "n": n, "build_s": build_s,
                             "disk_bytes_per_item": dir_size_bytes(folder) / n, "p50_ms": summary["p50_ms"],
                             "p95_ms": summary["p95_ms"], "recall10": recall_at_k(found, exact[precision])})
                engine.close()
                bar.update()
    return pd.DataFrame(rows)


def measured_crossover(n, exact_ms, hnsw_ms) -> float | None:
    """N where exact search stops being faster, interpolated in ln N between the two measured sizes that bracket
    it; None when the measurements do not bracket a crossover (then only the fitted lines can place it)."""
    n, gap = np.asarray(n, dtype=float), np.asarray(exact_ms, dtype=float) - np.asarray(hnsw_ms, dtype=float)
    order = np.argsort(n)
    n, gap = n[order], gap[order]
    slower = np.flatnonzero(gap > 0)
    if len(slower) == 0 or slower[0] == 0:
        return None
    i = slower[0]
    t = gap[i - 1] / (gap[i - 1] - gap[i])
    return float(math.exp(math.log(n[i - 1]) + t * (math.log(n[i]) - math.log(n[i - 1]))))


def crossover_table(curve: pd.DataFrame) -> pd.DataFrame:
    """Per precision: the N above which HNSW answers faster than exact search (p95), measured where the timed sizes
    bracket it, else from the fitted lines (exact a + b N, HNSW a + b ln N), and labelled which."""
    rows = []
    for precision, g in curve.groupby("precision", sort=False):
        flat = g[g["engine"] == "flat"].sort_values("n")
        hnsw = g[g["engine"] != "flat"].sort_values("n")
        if flat["n"].nunique() < 2 or list(flat["n"]) != list(hnsw["n"]):
            continue
        lo, hi = int(flat["n"].min()), int(flat["n"].max())
        n = measured_crossover(flat["n"], flat["p95_ms"], hnsw["p95_ms"])
        where = "interpolated between measured sizes"
        if n is None and flat["p95_ms"].iloc[0] > hnsw["p95_ms"].iloc[0]:
            n, where = math.nan, f"below {lo:,}: HNSW was faster at every size measured"
        elif n is None:
            fitted = crossover_n(latency_fit("flat", flat["n"], flat["p95_ms"]),
                                 latency_fit(hnsw["engine"].iloc[0], hnsw["n"], hnsw["p95_ms"]))
            n, where = ((fitted, "extrapolated beyond the measured sizes (fitted lines)") if hi < fitted < math.inf
                        else (math.nan, f"beyond {hi:,}: exact search was faster at every size measured"))
        rows.append({"precision": precision, "crossover N": n, "measured N": f"{lo:,}–{hi:,}", "where": where,
                     "exact p95 at largest N (ms)": float(flat["p95_ms"].iloc[-1]),
                     "HNSW p95 at largest N (ms)": float(hnsw["p95_ms"].iloc[-1])})
    return pd.DataFrame(rows)
