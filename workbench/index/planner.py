"""The capacity planner: budgets in, the most items that fit and the budget that binds out (no I/O)."""

from __future__ import annotations

import math

import numpy as np

from workbench.core.precision import EnginePrecision
from workbench.index.fits import NEVER, crossing_n, latency_at

BYTES_PER_COMPONENT: dict[EnginePrecision, float] = {"fp32": 4.0, "fp16": 2.0, "int8": 1.0, "binary": 0.125}


def plan(disk_budget_bytes, ram_budget_bytes, dim, engine, precision="fp32", latency_budget_ms=None,
         constants=None) -> dict:
    """Most items that fit both budgets (and the latency budget, if given), and which one binds.

    Per-item bytes come from the measured constants; the vector part is rescaled to the
    storage precision. Dimensions outside the measured range are extrapolations and say so.
    """
    if not constants:
        raise ValueError("plan() needs measured constants: pass capacity_constants(fits, sweep)")
    if engine not in constants:
        raise ValueError(f"unknown engine {engine!r}; measured: {', '.join(sorted(constants))}")
    for label, value in (("disk budget", disk_budget_bytes), ("RAM budget", ram_budget_bytes)):
        if value is None or not value > 0:
            raise ValueError(f"{label} must be a positive number of bytes; got {value!r}")
    if not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ValueError(f"dimension must be an integer >= 1; got {dim!r}")
    if precision not in BYTES_PER_COMPONENT:
        raise ValueError(f"precision {precision!r} is not valid; choose from {', '.join(BYTES_PER_COMPONENT)}")
    if precision != "fp32" and engine not in ("faiss", "flat"):
        raise ValueError(f"engine {engine!r} stores fp32 only; use engine 'faiss' or 'flat' for {precision}")
    c = constants[engine]
    shrink = (4.0 - BYTES_PER_COMPONENT[precision]) * dim
    per_item = {name: c[name][0] + c[name][1] * dim - shrink for name in ("disk", "rss")}
    limits = {"disk": (disk_budget_bytes - c["disk_fixed"]) / per_item["disk"],
              "ram": (ram_budget_bytes - c["rss_fixed"]) / per_item["rss"]}
    if latency_budget_ms is not None:
        limits["latency"] = crossing_n(c["latency"], latency_budget_ms)
    binding = min(limits, key=limits.__getitem__)
    exact = {}
    if "flat" in constants and engine != "flat":
        exact = {"exact_search_faster_up_to": crossover_n(constants["flat"]["latency"], c["latency"])}
    return {"max_items": int(max(0.0, limits[binding])), "binding": binding, **exact,
            "limits": {k: (int(v) if math.isfinite(v) else v) for k, v in limits.items()},
            "disk_bytes_per_item": per_item["disk"], "rss_bytes_per_item": per_item["rss"],
            "extrapolated": not min(c["dims"]) <= dim <= max(c["dims"]) or precision != "fp32",
            "measured_dims": c["dims"]}


def crossover_n(flat_fit: dict, hnsw_fit: dict) -> float:
    """Items N above which the HNSW engine answers faster than exact search (both p95 fits of one dimension).

    Exact search costs a + b N and HNSW c + d ln N: the gap is convex in N, so HNSW wins beyond its
    larger root. 0 means HNSW is faster everywhere from one item; inf, exact search up to 10^15 items.
    """
    def gap(n: float) -> float:  # > 0 where exact search is slower
        return latency_at(flat_fit, n)[0] - latency_at(hnsw_fit, n)[0]

    if flat_fit["b"] <= 0:
        return math.inf
    lowest = max(1.0, hnsw_fit["b"] / flat_fit["b"]) if hnsw_fit.get("growth") == "log" else 1.0
    if gap(lowest) > 0:
        return 0.0
    if gap(NEVER) <= 0:
        return math.inf
    lo, hi = math.log(lowest), math.log(NEVER)
    for _ in range(200):  # bisection in log N: a relative precision far below the fits' own error
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if gap(math.exp(mid)) <= 0 else (lo, mid)
    return math.exp(hi)
