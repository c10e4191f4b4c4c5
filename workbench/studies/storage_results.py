"""What study 06 records: the flat headline keys the index page shows, and the typed tables study 07 reads.

The headline keys and their labels are for people and may be renamed freely: 07 reads only the typed tables
(`workbench.index.rows`), whose fields do not depend on any label, column name or heading of the page.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd

from workbench.index.rows import SEARCH, STORAGE, StorageRow, timings_from_curve
from workbench.run.formatting import label_for
from workbench.run.results import Run


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


def headline_results(sts: pd.DataFrame | None, retrieval: pd.DataFrame | None, crossovers: pd.DataFrame,
                     answer: dict | None, k: int = 10) -> dict:
    """The flat results.json keys: retention per precision at the full dimension, crossovers, the answer."""
    out: dict[str, float | str] = {}
    measured = [f for f in (sts, retrieval) if f is not None]
    if measured:
        out["full_dimension"] = int(measured[0]["dim"].max())  # the dimension every retention here is at
    if sts is not None:
        full = sts[sts["dim"] == sts["dim"].max()]
        out.update({f"sts_retention_pct_{r['precision']}": r["STS retention (%)"] for r in full.to_dict("records")})
    if retrieval is not None:
        full = retrieval[retrieval["dim"] == retrieval["dim"].max()]
        for r in full.to_dict("records"):
            suffix = "" if r["multiplier"] == 0 else f"_rescored_x{r['multiplier']}_from_{r['rescore from']}"
            out[f"ndcg10_retention_pct_{r['precision']}{suffix}"] = r[f"nDCG@{k} retention (%)"]
    for r in crossovers.to_dict("records"):
        if math.isfinite(r["crossover N"]):  # an infinite crossover stays in the table, which says why
            out[f"crossover_n_{r['precision']}"] = r["crossover N"]
    if answer is not None:
        out["smallest_bytes_per_vector"] = answer["bytes per vector"]
        out["smallest_configuration"] = f"{answer['precision']} {answer['dim']}-d, rescoring {answer['rescoring']}"
    return out


def headline_label(key: str) -> str:
    """The index's label for a result key: retention without rescoring, crossovers and the answer."""
    if "_rescored_" in key:
        return ""
    return label_for(key, {"sts_retention_pct_": "STS Spearman kept, {} (%)",
                           "ndcg10_retention_pct_": "nDCG@10 kept, {} (%)",
                           "crossover_n_": "HNSW faster than exact search above, {} (items)",
                           "smallest_bytes_per_vector": "smallest vector keeping the target (bytes)",
                           "smallest_configuration": "smallest storage keeping the target"})
