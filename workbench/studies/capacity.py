"""Study 04: how many vectors fit on a device, and how fast are they searched?

The sweep, fits and planner live in workbench.index; this module holds what the notebook
shows on top of them: the verdicts on shared seed 001's capacity claims, the seed's worked
example redone with measured constants, and the headline numbers. Storage precision and
rescoring are study 06 (workbench.studies.storage).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import pandas as pd

from workbench.core.records import Table
from workbench.core.units import GB, MS  # the seed's worked example reads as decimal gigabytes
from workbench.index.engines import GRAPH_ENGINES
from workbench.index.fits import crossing_n, latency_at
from workbench.index.planner import crossover_n, plan
from workbench.run import catalog
from workbench.run.claims import Claim, claimed_range, verdict_of
from workbench.run.conclusions import Conclusions, Result

# Quoted from shared seed 001 (capacity guide for a local store of 2560-d embeddings):
SEED_ALPHA = (0.5, 1.0)  # per-item storage = vector bytes x (1 + alpha)
SEED_RSS_TO_DISK = 0.6  # working RAM = 0.6 x on-disk
SEED_LATENCY = ((150_000, 100.0), (300_000, 250.0))  # sub-100 ms up to ~50k-150k items, 150-250 ms up to ~300k
SEED_EXAMPLE = dict(disk_gb=20, ram_gb=6, dim=2560, items_disk=1_140_000, items_ram=570_000)


def embeddings_for(model: str, vectors: str, folder) -> tuple[str, int]:
    """The model's embeddings of the bundled passages, saved where the sweep's children read them, and their
    dimension; nothing (and no model loaded) when only synthetic vectors are swept."""
    if vectors == "synthetic":
        return "", 0
    import workbench as wb
    from workbench.core.data import load_beir
    from workbench.index.vectors import save_embeddings

    loaded = wb.load_model(model)
    real = wb.embed(loaded, load_beir().docs, wb.Recipe.model_default(loaded.spec)).vectors
    return save_embeddings(real, folder), real.shape[1]


def check_plan_engine(plan_engine: str, engines: list[str]) -> None:
    """The planner's engine must be one the sweep measures: checked before the sweep, not after it."""
    if plan_engine not in engines:
        raise ValueError(f"plan_engine {plan_engine!r} is not among the engines swept ({', '.join(engines)}); add it "
                         "to engines or choose one of them")


def seed_example(constants: dict, engine: str, latency_budget_ms: float | None = None) -> pd.DataFrame:
    """The seed's 16 GB MacBook example (20 GB disk, 6 GB RAM, 2560-d) redone with measured constants."""
    e = SEED_EXAMPLE
    result = plan(e["disk_gb"] * GB, e["ram_gb"] * GB, e["dim"], engine, "fp32", latency_budget_ms, constants)
    label = "measured constants, extrapolated to 2560-d" if result["extrapolated"] else "measured constants"
    return pd.DataFrame({
        "seed 001 (quoted)": [e["items_disk"], e["items_ram"], None, "ram"],
        f"{engine}, {label}": [result["limits"]["disk"], result["limits"]["ram"], result["limits"].get("latency"),
                               result["binding"]],
    }, index=["items on disk", "items in RAM", "items within latency budget", "binding budget"])


SEED_SOURCE = "shared seed 001, on-device capacity guide (2560-d, M=16, ef_search=50)"
RSS_TO_DISK_QUOTE = "working RAM ≈ 0.6 × on-disk size"
RSS_TO_DISK_RANGE = claimed_range(SEED_RSS_TO_DISK, SEED_RSS_TO_DISK, RSS_TO_DISK_QUOTE)  # the approximate-quote rule


def findings_html(fits: pd.DataFrame, constants: dict, latency_budget_ms: float, vectors: str = "synthetic") -> str:
    """What the fits say beyond the seed's claims: α at the seed's dimension, hnswlib's formula, the latency budget."""
    rows = _graph_rows(fits, vectors)
    if rows.empty:
        return "<p>No fitted HNSW points: nothing to compare with the seed.</p>"
    dim = SEED_EXAMPLE["dim"]
    projected = {e: (c["disk"][0] + c["disk"][1] * dim - 4 * dim) / (4 * dim) for e, c in constants.items()
                 if e in GRAPH_ENGINES}
    measured = html.escape(str(sorted(rows["dim"].unique().tolist())))
    parts = [f"<p>Projected to the seed's {dim}-d (extrapolation from {measured}-d): &alpha; "
             + ", ".join(f"{html.escape(e)} {a:.3f}" for e, a in projected.items()) + ".</p>"]
    hnsw = rows[rows["engine"] == "hnswlib"]
    if len(hnsw):
        gap = (hnsw["disk bytes/item"] / hnsw["hnswlib formula bytes/item"] - 1).abs().max()
        parts.append("<p><b>hnswlib's documented formula</b> (level 0: 2&middot;M&middot;4 + 4 + 4&middot;d + 8 "
                     f"bytes, plus upper levels): measured bytes/item on disk differ from it by at most {gap:.1%}.</p>")
    for engine, c in constants.items():
        growth = "N" if c["latency"]["growth"] == "linear" else "log N"
        parts.append(f"<p><b>{html.escape(engine)}</b> ({c['latency_dim']}-d): the {latency_budget_ms:g} ms budget is "
                     f"crossed at N &asymp; {_fmt_n(crossing_n(c['latency'], latency_budget_ms))} (extrapolation in "
                     f"{growth} from the measured range).</p>")
    if "flat" in constants:
        for engine in (e for e in constants if e in GRAPH_ENGINES):
            n = crossover_n(constants["flat"]["latency"], constants[engine]["latency"])
            parts.append(f"<p><b>Exact search against {html.escape(engine)}</b>: {_crossover_words(n, engine)}</p>")
    return "\n".join(parts)


def _crossover_words(n: float, engine: str) -> str:
    if n == 0:
        return f"{engine} is faster at every N measured and beyond."
    if not math.isfinite(n):
        return f"exact search stays faster than {engine} up to 10^15 items (extrapolated)."
    return f"exact search is faster up to N &asymp; {n:,.0f}; {engine} is faster above (p95, extrapolated fits)."


def _graph_rows(fits: pd.DataFrame, vectors: str) -> pd.DataFrame:
    """The fits of HNSW engines: the seed's overhead and latency claims are about a graph index."""
    return fits[(fits["vectors"] == vectors) & fits["engine"].isin(GRAPH_ENGINES)]


def _alpha_inside(rows: pd.DataFrame) -> bool:
    lo, hi = SEED_ALPHA
    return bool(((rows["alpha"] >= lo) & (rows["alpha"] <= hi)).all())


def _ram_near(rows: pd.DataFrame) -> bool:
    low, high, _ = RSS_TO_DISK_RANGE
    return bool(rows["RSS/disk"].between(low, high).all())


def planner_table(example: dict, title: str) -> pd.Series:
    """The planner's answer in words with units, one line per quantity (the per-budget limits spelled out)."""
    words = {"disk": "disk", "ram": "RAM", "latency": "latency"}
    limits = {f"items the {words[name]} budget allows (items)": _fmt_n(value) if not math.isfinite(value) else
              int(value) for name, value in example["limits"].items()}
    faster = ({"exact search faster up to (items)": _fmt_n(example["exact_search_faster_up_to"])}
              if "exact_search_faster_up_to" in example else {})
    return pd.Series({"items that fit (items)": example["max_items"], "binding budget": words[example["binding"]],
                      **limits,
                      **faster, "disk per item (bytes)": example["disk_bytes_per_item"],
                      "RAM per item (bytes)": example["rss_bytes_per_item"],
                      "extrapolated": "yes: the dimension or precision was not measured" if example["extrapolated"]
                      else "no", "measured dimensions": ", ".join(map(str, example["measured_dims"]))}, name=title)


def claim_checks(fits: pd.DataFrame, constants: dict, vectors: str = "synthetic") -> list[Claim]:
    """Seed 001's capacity claims against this run's HNSW fits (exact search has no graph to weigh)."""
    rows = _graph_rows(fits, vectors)
    if rows.empty:
        return []
    lo, hi = SEED_ALPHA
    ratio = rows["RSS/disk"]
    checks = [
        Claim(quote="HNSW index overhead (rule of thumb): α ∈ [0.5, 1.0] of vector size (links + metadata)",
              source=SEED_SOURCE, quantity="α: disk bytes per item / vector bytes − 1",
              value=f"{rows['alpha'].min():.3f} to {rows['alpha'].max():.3f} over {len(rows)} engine/dimension fits",
              threshold=f"every fit within [{lo}, {hi}]", threshold_origin="the quote", verdict=verdict_of(
                  _alpha_inside(rows)),
              detail="" if _alpha_inside(rows) else "the graph adds far less than the seed assumes at this M; engines "
                     "that keep a second copy of the vectors (a database beside the index) sit higher"),
        Claim(quote=RSS_TO_DISK_QUOTE, source=SEED_SOURCE,
              quantity="resident memory / on-disk size, per item", value=f"{ratio.min():.2f} to {ratio.max():.2f}",
              threshold=f"every fit within {RSS_TO_DISK_RANGE[0]:g}–{RSS_TO_DISK_RANGE[1]:g}",
              threshold_origin=RSS_TO_DISK_RANGE[2], verdict=verdict_of(
                  _ram_near(rows))),
    ]
    for engine, c in ((e, c) for e, c in constants.items() if e in GRAPH_ENGINES):
        predicted = [(n, *latency_at(c["latency"], n), limit) for n, limit in SEED_LATENCY]
        shown = "; ".join(f"{v:.2f} ms" + (f" ± {pm:.2f}" if pm is not None else "") + f" at {n:,} items"
                          for n, v, pm, _ in predicted)
        verdict = _latency_verdict(c["latency"])
        holds = None if verdict.startswith("inconclusive") else verdict != "does not hold"
        checks.append(Claim(
            quote="sub-100 ms typically sustained up to ~50k–150k items; ~150–250 ms up to ~300k", source=SEED_SOURCE,
            quantity=f"p95 query latency, {engine}, {c['latency_dim']}-d", value=shown,
            kind="projected (extrapolated in log N from the measured range)",
            threshold=" and ".join(f"≤ {limit:g} ms at {n:,}" for n, limit in SEED_LATENCY),
            threshold_origin="the upper end of each quoted range", verdict=verdict_of(holds),
            detail=verdict if holds is None else "the seed is more than 10× pessimistic here"
            if verdict.startswith("holds, and") else ""))
    return checks


def _latency_verdict(latency_fit: dict) -> str:
    predicted = [(latency_at(latency_fit, n)[0], limit) for n, limit in SEED_LATENCY]
    if any(value <= 0 for value, _ in predicted):
        return ("inconclusive: the line through the measured range extrapolates to a latency of zero or less; "
                "measure larger N")
    if all(value <= limit / 10 for value, limit in predicted):
        return "holds, and the seed is more than 10x pessimistic here"
    return "holds" if all(value <= limit for value, limit in predicted) else "does not hold"


def _fmt_n(n: float) -> str:
    return "beyond 10^15 items" if not math.isfinite(n) else f"{n:,.0f}"


@dataclass(frozen=True)
class CapacityFit:
    """One engine at one dimension on one vector source: its fitted per-item costs and its largest point."""

    engine: str  # as `workbench.index.engines` names them
    dim: int
    vectors: str  # "synthetic", or the model whose embeddings were indexed
    points: int  # item counts measured and fitted
    max_n: int
    disk_bytes_per_item: float  # slope of a + b N over the measured N
    rss_bytes_per_item: float
    rss_to_disk: float
    alpha: float | None  # per-item storage over the vector's bytes, less 1; None: exact search has no graph
    p95_s_at_max_n: float
    recall10_at_max_n: float


@dataclass(frozen=True)
class PlannerExample:
    """The planner's answer for this run's budgets (the `plan_*` and `*_budget_gb` parameters)."""

    engine: str
    dim: int
    max_items: int
    binding: str  # the budget that runs out first
    extrapolated_from_dims: tuple[int, ...] = ()  # the measured dimensions, when `dim` lies outside them


FITS: Table[CapacityFit] = Table("fits", "capacity-fit/1", CapacityFit)
PLANNER: Table[PlannerExample] = Table("planner", "planner-example/1", PlannerExample)


def fit_rows(fits: pd.DataFrame) -> list[CapacityFit]:
    """`fit_table`'s frame (milliseconds, column labels) as typed rows in seconds."""
    out = []
    for r in fits.to_dict("records"):
        out.append(CapacityFit(
            engine=str(r["engine"]), dim=int(r["dim"]), vectors=str(r["vectors"]), points=int(r["points"]),
            max_n=int(r["max n"]), disk_bytes_per_item=float(r["disk bytes/item"]),
            rss_bytes_per_item=float(r["RSS bytes/item"]), rss_to_disk=float(r["RSS/disk"]),
            alpha=float(r["alpha"]) if r["engine"] in GRAPH_ENGINES else None,
            p95_s_at_max_n=float(r["p95 ms at max n"]) * MS, recall10_at_max_n=float(r["recall@10 at max n"])))
    return out


def planner_row(example: dict, engine: str, dim: int) -> PlannerExample:
    return PlannerExample(engine=engine, dim=int(dim), max_items=int(example["max_items"]),
                          binding=str(example["binding"]),
                          extrapolated_from_dims=tuple(int(d) for d in example["measured_dims"])
                          if example["extrapolated"] else ())


@dataclass(frozen=True)
class Outcome:
    """What a run of 04 measured, as its conclusions read it."""

    fits: pd.DataFrame  # `fit_table`'s frame (`fit_rows` gives the typed rows the results read)
    planner: PlannerExample | None
    constants: dict  # `capacity_constants`: per engine, the fitted latency and sizes
    vectors: str  # the primary vectors (the first swept): synthetic or embeddings


def results(outcome: Outcome) -> list[Result]:
    """Per engine E and dimension D (and vectors, where not the primary ones), then the planner's worked example;
    the index shows each engine at the smallest dimension of the primary vectors, and the example."""
    fitted = fit_rows(outcome.fits)
    dim = min((r.dim for r in fitted if r.vectors == outcome.vectors), default=None)
    out = []
    for r in fitted:
        suffix = f"{r.engine}_{r.dim}" + ("" if r.vectors == outcome.vectors else f"_{r.vectors}")
        at = f"{r.engine} {r.dim}-d" if r.vectors == outcome.vectors and r.dim == dim else ""
        out += [Result(f"disk_bytes_per_item_{suffix}", r.disk_bytes_per_item, at and f"disk per item, {at} (bytes)"),
                Result(f"rss_bytes_per_item_{suffix}", r.rss_bytes_per_item)]
        if r.alpha is not None:  # exact search has no graph overhead to state
            out.append(Result(f"alpha_{suffix}", r.alpha, at and f"HNSW overhead α, {at}"))
        out += [Result(f"rss_to_disk_{suffix}", r.rss_to_disk),
                Result(f"p95_ms_at_max_n_{suffix}", r.p95_s_at_max_n / MS,
                       at and f"p95 latency at the largest N, {at} (ms)"),
                Result(f"recall10_at_max_n_{suffix}", r.recall10_at_max_n, at and f"recall@10 at the largest N, {at}")]
    if outcome.planner is not None:
        example = outcome.planner
        note = f"extrapolated from {list(example.extrapolated_from_dims)}-d" if example.extrapolated_from_dims else None
        out += [Result("planner_max_items_example", example.max_items, "items that fit the example budgets", note),
                Result("planner_binding_example", example.binding, note=note)]
    return out


def claims(outcome: Outcome) -> list[Claim]:
    return claim_checks(outcome.fits, outcome.constants, outcome.vectors)


CONCLUSIONS: Conclusions[Outcome] = Conclusions(catalog.CAPACITY, results, claims)
