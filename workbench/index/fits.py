"""Fits over a capacity sweep: bytes per item on disk and in RAM, alpha, and p95 latency against N.

HNSW latency grows with log N; exact (flat) search scores every item, so its latency is a line in N.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from workbench.core.fitting import fit_linear, predict
from workbench.core.units import MILLION
from workbench.index.engines import GRAPH_ENGINES

NOT_APPLICABLE = "not applicable: exact search has no graph"  # the α of an engine that stores only the vectors

LINEAR_LATENCY_ENGINES = ("flat",)  # engines whose query cost is proportional to N


def latency_fit(engine: str, n, p95_ms) -> dict:
    """p95 latency as a + b ln N for HNSW engines, a + b N for exact search; the fit records which."""
    linear = engine in LINEAR_LATENCY_ENGINES
    fit = fit_linear(np.asarray(n, dtype=float) if linear else np.log(np.asarray(n, dtype=float)), p95_ms)
    return {**fit, "growth": "linear" if linear else "log"}


def latency_at(fit: dict, n: float) -> tuple[float, float | None]:
    """Predicted p95 latency at N items, and its prediction half-width (None when fitted on two points)."""
    return predict(fit, float(n) if fit.get("growth") == "linear" else math.log(n))


def hnswlib_formula_bytes(dim: int, M: int) -> float:
    """hnswlib's documented size per element: level 0 (2M links, count, vector, label) plus upper levels.

    Levels above 0 hold M links and a count; an element reaches level l with probability M^-l,
    so the expected upper-level cost is (4M + 4) / (M - 1); the saved file adds a 4-byte list size.
    """
    return 2 * M * 4 + 4 + 4 * dim + 8 + (4 * M + 4) / (M - 1) + 4


def fit_table(sweep: pd.DataFrame, latency_budget_ms: float = 100.0) -> pd.DataFrame:
    """Per vectors source, engine and dimension: bytes = a + b N on disk and in RAM, alpha, latency against N."""
    ok = sweep[sweep["status"] == "ok"]
    rows = []
    for (source, engine, dim), g in ok.groupby(["vectors", "engine", "dim"], sort=True):
        if g["n"].nunique() < 2:
            continue
        disk, rss = fit_linear(g["n"], g["disk_bytes"]), fit_linear(g["n"], g["rss_after_load_bytes"])
        lat = latency_fit(engine, g["n"], g["p95_ms"])
        vector_bytes = 4 * dim
        p95_1m, p95_1m_pm = latency_at(lat, MILLION)
        top = g.loc[g["n"].idxmax()]
        rows.append({
            "vectors": source, "engine": engine, "dim": dim, "points": len(g), "max n": int(top["n"]),
            "disk bytes/item": disk["b"], "disk fixed bytes": disk["a"], "RSS bytes/item": rss["b"],
            "RSS fixed bytes": rss["a"], "vector bytes": vector_bytes,
            "alpha": (disk["b"] - vector_bytes) / vector_bytes if engine in GRAPH_ENGINES else NOT_APPLICABLE,
            "RSS/disk": rss["b"] / disk["b"],
            "hnswlib formula bytes/item": hnswlib_formula_bytes(dim, int(top["M"])),
            "p95 ms at max n": float(top["p95_ms"]), "recall@10 at max n": float(top["recall10"]),
            "p95 latency grows with": "N" if lat["growth"] == "linear" else "ln N",
            "p95 ms slope": lat["b"], "p95 ms at 1M (extrapolated)": p95_1m,
            "p95 at 1M +/-": p95_1m_pm, "n where p95 crosses budget (extrapolated)": crossing_n(lat, latency_budget_ms),
        })
    if not rows:
        raise ValueError("no engine and dimension has two measured sizes to fit; the sweep table's status and "
                         "reason columns say why points were skipped or failed")
    return pd.DataFrame(rows)


NEVER = 1e15  # items: a latency line that reaches its budget only beyond this does not reach it


def crossing_n(latency_fit: dict, budget_ms: float) -> float:
    """N at which the latency line reaches the budget; inf when it does not grow or only beyond 10^15 items."""
    if latency_fit["b"] <= 0:
        return math.inf
    x = (budget_ms - latency_fit["a"]) / latency_fit["b"]
    n = x if latency_fit.get("growth") == "linear" else (math.exp(x) if x < math.log(NEVER) else math.inf)
    return max(n, 0.0) if n < NEVER else math.inf


def capacity_constants(fits: pd.DataFrame, sweep: pd.DataFrame, vectors: str = "synthetic") -> dict:
    """Per engine: bytes/item on disk and in RAM as c0 + c1 d across the measured dimensions, and the latency fit.

    With one measured dimension the vector part is taken as 4 bytes per component (labelled extrapolation).
    """
    out = {}
    fits = fits[fits["vectors"] == vectors]
    ok = sweep[(sweep["status"] == "ok") & (sweep["vectors"] == vectors)]
    for engine, g in fits.groupby("engine"):
        entry: dict[str, Any] = {"dims": sorted(int(d) for d in g["dim"])}
        for column, name in (("disk bytes/item", "disk"), ("RSS bytes/item", "rss")):
            if len(g) >= 2:
                line = fit_linear(g["dim"], g[column])
                entry[name] = (line["a"], line["b"])
            else:
                row = g.iloc[0]
                entry[name] = (row[column] - 4.0 * row["dim"], 4.0)
            entry[f"{name}_fixed"] = float(max(0.0, g[f"{name.replace('rss', 'RSS')} fixed bytes"].max()))
        rows = ok[(ok["engine"] == engine) & (ok["dim"] == max(entry["dims"]))]
        entry["latency"] = latency_fit(engine, rows["n"], rows["p95_ms"])
        entry["latency_dim"] = max(entry["dims"])
        out[engine] = entry
    return out
