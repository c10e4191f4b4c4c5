"""What study 06 records: its conclusions (the results the index page shows, the verdicts on the published
figures), and the typed tables study 07 reads.

The result keys and their labels are for people and may be renamed freely: 07 reads only the typed tables
(`workbench.index.rows`), whose fields do not depend on any label, column name or heading of the page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

from workbench.index.rows import SEARCH, STORAGE, StorageRow, timings_from_curve
from workbench.run import catalog
from workbench.run.claims import Claim
from workbench.run.conclusions import Conclusions, Result
from workbench.run.results import Run
from workbench.studies import storage


def _pct(value) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def storage_rows(sts: pd.DataFrame | None, retrieval: pd.DataFrame | None, model_dim: int) -> list[StorageRow]:
    """One row per measured configuration (nDCG@10 and recall@10), every dimension: retrieval's rows in their
    order, each unrescored one with its STS share, then the STS rows retrieval lacks (all of them without one)."""
    rows: dict[tuple, StorageRow] = {}
    for r in ([] if retrieval is None else retrieval.to_dict("records")):
        m = int(r["multiplier"])
        rows[(r["precision"], int(r["dim"]), m, r["rescore from"] if m else None)] = StorageRow(
            precision=r["precision"], dim=int(r["dim"]), model_dim=int(model_dim),
            bytes_per_vector=int(r["bytes per vector"]), rescore_multiplier=m,
            rescore_from=r["rescore from"] if m else None,
            rescoring_bytes_per_vector=int(r["rescoring bytes per vector"]),
            ndcg10_kept_pct=_pct(r["nDCG@10 retention (%)"]),
            ndcg10_kept_low_pct=_pct(r["nDCG@10 retention, 95 % low (%)"]),
            ndcg10_kept_high_pct=_pct(r["nDCG@10 retention, 95 % high (%)"]),
            recall10_kept_pct=_pct(r["recall@10 retention (%)"]))
    for r in ([] if sts is None else sts.to_dict("records")):
        key = (r["precision"], int(r["dim"]), 0, None)
        kept = _pct(r["STS retention (%)"])
        rows[key] = (replace(rows[key], sts_kept_pct=kept) if key in rows else StorageRow(
            precision=r["precision"], dim=int(r["dim"]), model_dim=int(model_dim),
            bytes_per_vector=int(r["bytes per vector"]), sts_kept_pct=kept))
    return list(rows.values())


def record_tables(run: Run, sts: pd.DataFrame | None, retrieval: pd.DataFrame | None, curve: pd.DataFrame,
                  model_dim: int) -> None:
    """Write the typed tables 07 reads: quality kept per configuration, and the indexes timed at model_dim."""
    run.record_rows(STORAGE, storage_rows(sts, retrieval, model_dim))
    run.record_rows(SEARCH, timings_from_curve(curve, model_dim))


@dataclass(frozen=True)
class Outcome:
    """What a run of 06 measured, as its conclusions read it."""

    sts: pd.DataFrame | None  # `storage.sts_table` (None: no STS set)
    retrieval: pd.DataFrame | None  # `storage.retrieval_table` (None: no retrieval set)
    crossovers: pd.DataFrame  # `crossover_table`: per precision, where HNSW overtakes exact search
    answer: dict | None  # `storage.cheapest`: the smallest storage keeping the target (None: none keeps it)
    model: str


def results(outcome: Outcome, k: int = 10) -> list[Result]:
    """Retention per precision at the full dimension (the index shows it without rescoring), the crossovers and the
    smallest storage that keeps the target."""
    out: list[Result] = []
    sts, retrieval = outcome.sts, outcome.retrieval
    measured = [f for f in (sts, retrieval) if f is not None]
    if measured:
        out.append(Result("full_dimension", int(measured[0]["dim"].max())))  # the dimension every retention here is at
    if sts is not None:
        out += [Result(f"sts_retention_pct_{r['precision']}", r["STS retention (%)"],
                       f"STS Spearman kept, {r['precision']} (%)")
                for r in sts[sts["dim"] == sts["dim"].max()].to_dict("records")]
    if retrieval is not None:
        for r in retrieval[retrieval["dim"] == retrieval["dim"].max()].to_dict("records"):
            rescored = r["multiplier"] != 0
            suffix = f"_rescored_x{r['multiplier']}_from_{r['rescore from']}" if rescored else ""
            out.append(Result(f"ndcg10_retention_pct_{r['precision']}{suffix}", r[f"nDCG@{k} retention (%)"],
                              "" if rescored else f"nDCG@10 kept, {r['precision']} (%)"))
    out += [Result(f"crossover_n_{r['precision']}", r["crossover N"],
                   f"HNSW faster than exact search above, {r['precision']} (items)")
            for r in outcome.crossovers.to_dict("records")
            if math.isfinite(r["crossover N"])]  # an infinite crossover stays in the table, which says why
    if outcome.answer is not None:
        a = outcome.answer
        out += [Result("smallest_bytes_per_vector", a["bytes per vector"], "smallest vector keeping the target (bytes)"),
                Result("smallest_configuration", f"{a['precision']} {a['dim']}-d, rescoring {a['rescoring']}",
                       "smallest storage keeping the target")]
    return out


def claims(outcome: Outcome) -> list[Claim]:
    return storage.claim_checks(outcome.sts, outcome.retrieval, outcome.model)


CONCLUSIONS: Conclusions[Outcome] = Conclusions(catalog.STORAGE, results, claims)
