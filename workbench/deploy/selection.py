"""Choosing a deployment from measured rows: budgets in, the Pareto set, the pick and what binds it out.

Pure functions of a table (one row per measured combination of model artifact, storage and index
engine, its totals already computed at the target item count) and the budgets: no I/O, no plotting.
A row missing any quantity a budget reads is excluded with the reason, never counted as zero.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from workbench.core.metrics import pareto_front

# Each budget: the row column it bounds, and whether the row must stay below (cost) or above (quality) it.
LIMITS = {
    "disk_bytes": ("disk_bytes", "max"),
    "ram_bytes": ("ram_bytes", "max"),
    "convert_ram_bytes": ("convert_ram_bytes", "max"),
    "latency_ms": ("latency_ms", "max"),
    "min_quality_pct": ("quality_pct", "min"),
}
COST_ORDER = ("ram_bytes", "disk_bytes", "latency_ms")
ROW_COLUMNS = ["name", "quality_pct", "disk_bytes", "ram_bytes", "latency_ms", "convert_ram_bytes"]  # "cheapest": least RAM, then disk, then latency
BUDGET_WORDS = {"disk_bytes": "disk", "ram_bytes": "RAM", "convert_ram_bytes": "conversion RAM",
                "latency_ms": "p95 query latency", "min_quality_pct": "minimum quality kept"}


@dataclass(frozen=True)
class Budgets:
    """What the device and the product allow; None leaves a budget out."""

    disk_bytes: float | None = None
    ram_bytes: float | None = None
    convert_ram_bytes: float | None = None
    latency_ms: float | None = None
    min_quality_pct: float | None = None

    def __post_init__(self):
        for name, value in asdict(self).items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value <= 0):
                raise ValueError(f"budget {name} must be a positive number or None; got {value!r}")

    def active(self) -> dict[str, float]:
        return {name: value for name, value in asdict(self).items() if value is not None}


def missing(rows: pd.DataFrame, budgets: Budgets) -> pd.Series:
    """Per row, the quantities a budget needs that were not measured ("" when none is missing)."""
    needed = [LIMITS[name][0] for name in budgets.active()] + ["quality_pct"]
    needed = list(dict.fromkeys(needed))
    gaps = rows[needed].isna() if len(rows) else pd.DataFrame(columns=needed)
    return gaps.apply(lambda r: ", ".join(c for c in needed if r[c]), axis=1) if len(rows) else pd.Series(dtype=str)


def failures(rows: pd.DataFrame, budgets: Budgets) -> pd.DataFrame:
    """Per row and budget, True where the row breaks it (a missing quantity breaks nothing here: see `missing`)."""
    out = pd.DataFrame(index=rows.index)
    for name, bound in budgets.active().items():
        column, kind = LIMITS[name]
        out[name] = rows[column] > bound if kind == "max" else rows[column] < bound
    return out


def _ordered(rows: pd.DataFrame) -> pd.DataFrame:
    """Cheapest first; ties broken by higher quality, then by name, so the pick never depends on row order."""
    return rows.assign(_q=-rows["quality_pct"]).sort_values([*COST_ORDER, "_q", "name"], kind="stable").drop(
        columns="_q")


def pareto(rows: pd.DataFrame) -> pd.Series:
    """True for rows no other row beats on every one of quality (higher), RAM, disk and latency (lower)."""
    quality = -rows["quality_pct"].to_numpy(dtype=np.float64)
    return pd.Series(pareto_front(quality, *(rows[c].to_numpy(dtype=np.float64) for c in COST_ORDER)),
                     index=rows.index)


@dataclass(frozen=True)
class Recommendation:
    """The pick (None when nothing meets every budget), what keeps cheaper rows out, and what to relax."""

    pick: dict | None
    binding: str  # the budget most of the cheaper rows break ("" when the pick is the cheapest row)
    cheaper_broken: dict  # budget -> how many cheaper rows break it
    relax: dict  # budget -> the factor it must move by for the cheapest row that then fits (when nothing fits)
    excluded: dict  # row name -> the quantities it lacks
    feasible: int


def recommend(rows: pd.DataFrame, budgets: Budgets) -> Recommendation:
    """The cheapest row (least RAM, then disk, then latency) that meets every budget, and why not a cheaper one."""
    gaps = missing(rows, budgets)
    excluded = {rows.loc[i, "name"]: gaps[i] for i in rows.index if gaps[i]}
    measured = _ordered(rows[gaps == ""]) if len(rows) else rows
    broken = failures(measured, budgets)
    ok = ~broken.any(axis=1) if len(broken.columns) else pd.Series(True, index=measured.index)
    if not ok.any():
        return Recommendation(None, "", {}, relaxation(measured, budgets), excluded, 0)
    pick_index = ok[ok].index[0]
    cheaper = broken.loc[: pick_index].drop(index=pick_index)
    counts = {name: int(cheaper[name].sum()) for name in cheaper.columns if cheaper[name].any()}
    binding = max(counts, key=lambda n: (counts[n], n)) if counts else ""
    return Recommendation(measured.loc[pick_index].to_dict(), binding, counts, {}, excluded, int(ok.sum()))


def relaxation(rows: pd.DataFrame, budgets: Budgets) -> dict[str, float]:
    """Per budget: the factor it must move by (keeping every other budget) for some row to fit; absent when moving
    that budget alone cannot help. A factor > 1 raises a limit; for the minimum quality it is < 1 (lower it)."""
    out = {}
    active = budgets.active()
    broken = failures(rows, budgets)
    for name, bound in active.items():
        others = [n for n in active if n != name]
        fits_others = ~broken[others].any(axis=1) if others else pd.Series(True, index=rows.index)
        candidates = rows[fits_others]
        if candidates.empty:
            continue
        column, kind = LIMITS[name]
        needed = candidates[column].min() if kind == "max" else candidates[column].max()
        out[name] = float(needed / bound)
    return out


def scaled(budgets: Budgets, name: str, factor: float) -> Budgets:
    """The budgets with one moved by `factor`; the minimum quality moves its allowed loss (100 - min) instead."""
    value = getattr(budgets, name)
    if value is None:
        return budgets
    if name == "min_quality_pct":
        return replace(budgets, min_quality_pct=max(1e-9, 100.0 - (100.0 - value) * factor))
    return replace(budgets, **{name: value * factor})


def sensitivity(rows: pd.DataFrame, budgets: Budgets, factors=(0.5, 1.5)) -> pd.DataFrame:
    """The pick when each budget alone moves by each factor (±50 % by default)."""
    out = []
    for name in budgets.active():
        for factor in factors:
            moved = scaled(budgets, name, factor)
            result = recommend(rows, moved)
            out.append({"budget": BUDGET_WORDS[name], "moved": f"{factor - 1:+.0%}",
                        "pick": result.pick["name"] if result.pick else "nothing fits",
                        "binding": BUDGET_WORDS.get(result.binding, "")})
    return pd.DataFrame(out)


def combine(artifacts: pd.DataFrame, storages: pd.DataFrame, indexes: pd.DataFrame, items: int) -> pd.DataFrame:
    """Every measured artifact x storage x index engine at `items` items, with the totals budgets read.

    artifacts: name, size_bytes, load_rss_bytes, convert_ram_bytes, embed_ms, quality_pct;
    storages: precision, dim, rescoring, quality_pct, rescoring_bytes_per_vector;
    indexes: engine, precision, dim, disk_bytes_per_item, ram_bytes_per_item, max_measured_n, search_ms(N).
    Quality multiplies the model's and the storage's retention, disk and RAM add the model and the index,
    latency adds embedding the query and searching: each a sum or product of two measured numbers. Columns
    starting with "source" are carried through, so every total keeps its evidence.
    """
    if isinstance(items, bool) or not isinstance(items, int) or items < 1:
        raise ValueError(f"the target item count must be a whole number >= 1; got {items!r}")
    pairs = storages.merge(indexes, on=["precision", "dim"])
    rows = []
    for a in artifacts.to_dict("records"):
        for s in pairs.to_dict("records"):
            rescoring = "" if s["rescoring"] == "none" else f", rescored {s['rescoring']}"
            rows.append({
                "name": f"{a['name']} · {s['precision']} {s['dim']}-d{rescoring} · {s['engine']}",
                "artifact": a["name"], "storage": s["precision"], "dim": s["dim"], "rescoring": s["rescoring"],
                "engine": s["engine"],
                "quality_pct": a["quality_pct"] * s["quality_pct"] / 100.0,
                "disk_bytes": a["size_bytes"] + items * (s["disk_bytes_per_item"] + s["rescoring_bytes_per_vector"]),
                "ram_bytes": a["load_rss_bytes"] + items * s["ram_bytes_per_item"],
                "latency_ms": a["embed_ms"] + s["search_ms"](items),
                "convert_ram_bytes": a["convert_ram_bytes"],
                "search_projected": items > s["max_measured_n"],
                **{k: v for k, v in {**a, **s}.items() if k.startswith("source")},
            })
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=ROW_COLUMNS)
