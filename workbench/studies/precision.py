"""Study 01: does FP16/BF16 keep the embeddings of an FP32 model?

Everything the notebook shows is computed here from one FP32 reference: per-text
drift, the seed proof's alpha bound, retrieval agreement, quality retention,
latency, and a verdict against the seed's published claims.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.convert.rows import Latency
from workbench.core.comparison import Comparison
from workbench.core.embedding import Recipe
from workbench.core.files import atomic_path
from workbench.core.models import LoadedModel
from workbench.core.params import as_list
from workbench.core.precision import ModelPrecision, model_precision
from workbench.core.records import Table
from workbench.core.units import MS
from workbench.run import catalog
from workbench.run.claims import Claim, claimed_range, verdict_on
from workbench.run.conclusions import Conclusions, Result
from workbench.run.formatting import nines

# The seed's claims (shared seed 001, "Evaluation summary": FP16, masked mean, last-4,
# max_length 32, clamp, L2; 20 queries): mean cosine >= 0.999999 and mean L2 ~ 1e-3.
SEED_RECIPE = Recipe(padding="max_length", max_length=32, last_n_layers=4, pooling="mean", clamp_fp16=True,
                     normalize=True)
SEED_MIN_MEAN_COSINE = 0.999999
SEED_MEAN_L2 = 1e-3
L2_QUOTE = "average L2 ≈ 1e-3"
L2_RANGE = claimed_range(SEED_MEAN_L2, SEED_MEAN_L2, L2_QUOTE)  # the approximate-quote rule, as for every "≈"


def cast_models(loaded: LoadedModel, precisions, device: str = "cpu") -> dict[str, LoadedModel]:
    """The FP32 reference first, then one copy of the model per requested precision."""
    wanted = ["fp32"] + [p for p in dict.fromkeys(as_list(precisions, "precisions")) if p != "fp32"]
    return {p: loaded.to(p, device) for p in wanted}


def save_per_text(comparisons: dict[str, "Comparison"], folder) -> list[str]:
    """Write each precision's full per-text table as CSV next to results.json; returns the file names."""
    names = []
    for p, c in comparisons.items():
        name = f"per_text_{p}.csv"
        with atomic_path(Path(folder) / name) as tmp:
            c.per_text.to_csv(tmp, index=False)
        names.append(name)
    return names


def summary_table(comparisons: dict[str, Comparison]) -> pd.DataFrame:
    """One row per precision: the headline drift and agreement numbers."""
    rows = []
    for p, c in comparisons.items():
        t = c.per_text
        rows.append({
            "precision": p,
            "texts": len(t),
            "mean cosine": t["cosine"].mean(),
            "min cosine": t["cosine"].min(),
            "mean L2": t["L2"].mean(),
            "max alpha": t["alpha"].max(),
            "bound holds": f"{c.bound_holds_fraction:.1%}",
            "1-cos p50": c.drift["p50"],
            "1-cos p90": c.drift["p90"],
            "1-cos p99": c.drift["p99"],
            "1-cos max": c.drift["max"],
            "same top-1": f"{c.agreement['top1_agreement']:.1%} "
                          f"[{c.agreement['top1_ci_low']:.1%}, {c.agreement['top1_ci_high']:.1%}]",
            f"overlap@{c.agreement['k']}": c.agreement["overlap_at_k"],
        })
    return pd.DataFrame(rows).set_index("precision")


def worst_texts(comparison: Comparison, n: int = 10) -> pd.DataFrame:
    """The texts that moved most (lowest cosine to FP32)."""
    return comparison.per_text.nsmallest(n, "cosine").reset_index(drop=True)


def quality_table(by_precision: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Quality per precision with retention in % of the FP32 value."""
    frame = pd.DataFrame(by_precision).T
    for column in list(frame.columns):
        reference = frame.loc["fp32", column]
        frame[f"{column} retention %"] = 100.0 * frame[column] / reference if reference > 0 else np.nan
    return frame


@dataclass(frozen=True)
class PrecisionRow:
    """One precision as this study measured it; the FP32 reference has quality and latency, no comparison."""

    precision: ModelPrecision
    texts: int | None = None  # texts compared with FP32 (None: the reference itself)
    mean_cosine: float | None = None
    min_cosine: float | None = None
    mean_l2: float | None = None
    bound_holds_fraction: float | None = None  # texts within 1 - u.v <= 2 alpha^2
    top1_agreement: float | None = None  # queries whose top-1 document is FP32's
    overlap_at_k: float | None = None  # top-k overlap with FP32's ranking
    drift_p99: float | None = None  # 1 - cosine, 99th percentile over texts
    sts_spearman: float | None = None  # None: no STS set in this run
    ndcg10: float | None = None  # None: no retrieval set
    recall10: float | None = None
    latency: tuple[Latency, ...] = ()  # per call, at each batch size timed


PRECISIONS: Table[PrecisionRow] = Table("precisions", "precision-row/1", PrecisionRow)


def precision_rows(comparisons: dict[str, Comparison], qualities: dict[str, dict[str, float]],
                   latency: pd.DataFrame) -> list[PrecisionRow]:
    """The FP32 reference, then each precision compared with it (the order the pages use)."""
    out = []
    for p in ["fp32", *comparisons]:
        q, c = qualities.get(p, {}), comparisons.get(p)
        timed = latency[latency["precision"] == p]
        compared: dict[str, Any] = {} if c is None else dict(
            texts=len(c.per_text), mean_cosine=float(c.per_text["cosine"].mean()),
            min_cosine=float(c.per_text["cosine"].min()), mean_l2=float(c.per_text["L2"].mean()),
            bound_holds_fraction=c.bound_holds_fraction, top1_agreement=float(c.agreement["top1_agreement"]),
            overlap_at_k=float(c.agreement["overlap_at_k"]), drift_p99=float(c.drift["p99"]))
        out.append(PrecisionRow(
            precision=model_precision(p), **compared, sts_spearman=q.get("sts_spearman"), ndcg10=q.get("ndcg10"),
            recall10=q.get("recall10"),
            latency=tuple(Latency(int(r.batch), r.p50_ms * MS, r.p95_ms * MS) for r in timed.itertuples())))
    return out


@dataclass(frozen=True)
class Outcome:
    """What a run of 01 measured, as its conclusions read it: the typed rows it records, and the model's name."""

    rows: list[PrecisionRow]
    model: str


def results(outcome: Outcome) -> list[Result]:
    """Every precision's drift, agreement, quality and latency; the index shows the drift, agreement, quality and
    single-query latency, not the detail."""
    compared = [r for r in outcome.rows if r.mean_cosine is not None]
    out = [Result("best_precision", max(compared, key=lambda r: r.mean_cosine or 0.0).precision,
                  "closest to FP32")] if compared else []
    for r in outcome.rows:
        p = r.precision
        if r.mean_cosine is not None:
            out += [Result(f"mean_cosine_{p}", r.mean_cosine, f"mean cosine to FP32, {p}"),
                    Result(f"min_cosine_{p}", r.min_cosine, f"min cosine to FP32, {p}"),
                    Result(f"mean_l2_{p}", r.mean_l2, f"mean L2 to FP32, {p}"),
                    Result(f"bound_holds_fraction_{p}", r.bound_holds_fraction),
                    Result(f"top1_agreement_{p}", r.top1_agreement, f"top-1 agreement with FP32, {p}"),
                    Result(f"overlap10_{p}", r.overlap_at_k), Result(f"drift_p99_{p}", r.drift_p99)]
        for name, value, label in (("sts_spearman", r.sts_spearman, f"STS Spearman, {p}"),
                                   ("ndcg10", r.ndcg10, f"nDCG@10, {p}"), ("recall10", r.recall10, "")):
            if value is not None:
                out.append(Result(f"{name}_{p}", value, label))
        for t in r.latency:
            if t.batch == 1:
                out += [Result(f"latency_p50_ms_{p}", t.p50_s / MS, f"p50 latency at batch 1, {p} (ms)"),
                        Result(f"latency_p95_ms_{p}", t.p95_s / MS)]
            else:
                out.append(Result(f"latency_p50_ms_{p}_batch{t.batch}", t.p50_s / MS))
    return out


SEED_SOURCE = "shared seed 001, evaluation summary (FP16 vs FP32, 20 queries)"
SEED_MODEL = "Qwen3-Embedding-4B"  # seed 001 converts and evaluates this model (Core ML, FP16)


def claims(outcome: Outcome) -> list[Claim]:
    """The seed's FP16 claims, checked on the recorded fp16 row (only when fp16 was measured); on a model other
    than the seed's, each says so instead of holding or failing."""
    fp16 = next((r for r in outcome.rows if r.precision == "fp16"), None)
    if fp16 is None or fp16.mean_cosine is None or fp16.mean_l2 is None:
        return []
    model, mean_cos, mean_l2 = outcome.model, fp16.mean_cosine, fp16.mean_l2
    cos_verdict, cos_detail = verdict_on(mean_cos >= SEED_MIN_MEAN_COSINE, SEED_MODEL, model)
    low, high, origin = L2_RANGE
    l2_verdict, l2_detail = verdict_on(low <= mean_l2 <= high, SEED_MODEL, model)
    if mean_l2 < low:
        l2_detail = "; ".join(d for d in ("below the range: FP16 sits closer to FP32 than the quote says", l2_detail) if d)
    return [
        Claim(quote="average cosine ≈ 1.000000 (≥ 0.999999)", source=SEED_SOURCE,
              quantity="mean cosine, FP16 to FP32", value=f"{nines(mean_cos)} over {fp16.texts} texts",
              threshold=f"≥ {SEED_MIN_MEAN_COSINE}", threshold_origin="the quote's own bound",
              verdict=cos_verdict, detail=cos_detail, about=SEED_MODEL, subject=model),
        Claim(quote=L2_QUOTE, source=SEED_SOURCE, quantity="mean L2 distance, FP16 to FP32",
              value=f"{mean_l2:.2e} over {fp16.texts} texts", threshold=f"{low:.3g}–{high:.3g}",
              threshold_origin=origin, verdict=l2_verdict, detail=l2_detail, about=SEED_MODEL, subject=model),
    ]


CONCLUSIONS: Conclusions[Outcome] = Conclusions(catalog.PRECISION, results, claims)


def verdict_html(model_name: str, recipe: Recipe, comparisons: dict[str, Comparison],
                 qualities: dict[str, dict[str, float]], latency: pd.DataFrame | None = None) -> str:
    """A paragraph per precision, computed from the numbers, against the seed's claims."""
    same_recipe = recipe == SEED_RECIPE
    lines = [f"<p><b>Model:</b> {html.escape(model_name)}. "]
    if same_recipe:
        lines[0] += "This run uses the seed's recipe (max_length 32, last-4 averaging, masked mean, clamp, L2).</p>"
    else:
        lines[0] += ("This run does <b>not</b> use the seed's recipe (max_length 32, last-4, masked mean, clamp, L2), "
                     f"it uses {html.escape(str(recipe.as_dict()))}: the comparison with the seed's claims is "
                     "indicative only.</p>")
    for p, c in comparisons.items():
        t = c.per_text
        mean_cos, min_cos, mean_l2 = t["cosine"].mean(), t["cosine"].min(), t["L2"].mean()
        cos_ok = mean_cos >= SEED_MIN_MEAN_COSINE
        l2_ok = mean_l2 <= L2_RANGE[1]
        parts = [
            f"<b>{html.escape(p)}</b> on {len(t)} texts: mean cosine {mean_cos:.7f} (min {min_cos:.7f}) "
            f"{'meets' if cos_ok else 'does <b>not</b> meet'} the seed's claim of &ge; {SEED_MIN_MEAN_COSINE}; "
            f"mean L2 {mean_l2:.2e} {'is within' if l2_ok else '<b>exceeds</b>'} the upper end of the seed's "
            f"~{SEED_MEAN_L2:.0e} ({L2_RANGE[1]:.3g}, the approximate-quote rule).",
            f"The bound 1 &minus; u&middot;v &le; 2&alpha;&sup2; holds for {c.bound_holds_fraction:.1%} of texts "
            f"(largest &alpha; {t['alpha'].max():.2e}).",
            f"Retrieval: the top-1 result matches FP32 for {c.agreement['top1_agreement']:.1%} of "
            f"{c.agreement['n_queries']} queries (95% CI {c.agreement['top1_ci_low']:.1%}&ndash;"
            f"{c.agreement['top1_ci_high']:.1%}), top-{c.agreement['k']} overlap {c.agreement['overlap_at_k']:.3f}.",
        ]
        for key, label in (("sts_spearman", "STS Spearman"), ("ndcg10", "nDCG@10")):
            ref = qualities.get("fp32", {}).get(key)
            if key in qualities.get(p, {}) and ref is not None and ref > 0:
                parts.append(f"{label} {qualities[p][key]:.4f} vs {ref:.4f} at FP32 "
                             f"({100 * qualities[p][key] / ref:.2f}% retained).")
        if latency is not None:
            single = latency[latency["batch"] == 1].set_index("precision")["p50_ms"]
            if p in single and "fp32" in single:
                ratio = single[p] / single["fp32"]
                parts.append(f"At batch 1 it runs {ratio:.2f}&times; the FP32 latency on this device "
                             f"({single[p]:.1f} vs {single['fp32']:.1f} ms p50)"
                             + ("; on this device it saves memory, not time." if ratio > 1.05 else "."))
        overall = "The seed's claims hold" if cos_ok and l2_ok else "The seed's claims do not fully hold"
        lines.append(f"<p>{' '.join(parts)} <b>{overall} for {html.escape(p)} on this model.</b></p>")
    return "\n".join(lines)
