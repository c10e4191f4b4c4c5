"""Study 01: does FP16/BF16 keep the embeddings of an FP32 model?

Everything the notebook shows is computed here from one FP32 reference: per-text
drift, the seed proof's alpha bound, retrieval agreement, quality retention,
latency, and a verdict against the seed's published claims.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.core.comparison import Comparison
from workbench.core.embedding import Recipe
from workbench.core.files import atomic_path
from workbench.core.models import LoadedModel
from workbench.core.params import as_list
from workbench.run.claims import Claim, verdict_of
from workbench.run.formatting import label_for, nines

# The seed's claims (shared seed 001, "Evaluation summary": FP16, masked mean, last-4,
# max_length 32, clamp, L2; 20 queries): mean cosine >= 0.999999 and mean L2 ~ 1e-3.
SEED_RECIPE = Recipe(padding="max_length", max_length=32, last_n_layers=4, pooling="mean", clamp_fp16=True,
                     normalize=True)
SEED_MIN_MEAN_COSINE = 0.999999
SEED_MEAN_L2 = 1e-3
L2_SAME_ORDER = 2.0  # "~1e-3" is read as: at most twice 1e-3


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


def headline_results(comparisons: dict[str, Comparison], qualities: dict[str, dict[str, float]],
                     latency: pd.DataFrame) -> dict[str, float]:
    """The flat results.json keys of this study."""
    out: dict = {"best_precision": best_precision(comparisons)}
    for p, c in comparisons.items():
        t = c.per_text
        out[f"mean_cosine_{p}"] = float(t["cosine"].mean())
        out[f"min_cosine_{p}"] = float(t["cosine"].min())
        out[f"mean_l2_{p}"] = float(t["L2"].mean())
        out[f"bound_holds_fraction_{p}"] = c.bound_holds_fraction
        out[f"top1_agreement_{p}"] = c.agreement["top1_agreement"]
        out[f"overlap10_{p}"] = c.agreement["overlap_at_k"]
        out[f"drift_p99_{p}"] = c.drift["p99"]
    for p, q in qualities.items():
        if "sts_spearman" in q:
            out[f"sts_spearman_{p}"] = q["sts_spearman"]
        if "ndcg10" in q:
            out[f"ndcg10_{p}"] = q["ndcg10"]
            out[f"recall10_{p}"] = q["recall10"]
    for row in latency[latency["batch"] == 1].itertuples():
        out[f"latency_p50_ms_{row.precision}"] = row.p50_ms
        out[f"latency_p95_ms_{row.precision}"] = row.p95_ms
    for row in latency[latency["batch"] != 1].itertuples():
        out[f"latency_p50_ms_{row.precision}_batch{row.batch}"] = row.p50_ms
    return out


SEED_SOURCE = "shared seed 001, evaluation summary (FP16 vs FP32, 20 queries)"


def claim_checks(comparisons: dict[str, Comparison]) -> list[Claim]:
    """The seed's FP16 claims, checked on this run (only when fp16 was measured)."""
    if "fp16" not in comparisons:
        return []
    t = comparisons["fp16"].per_text
    mean_cos, mean_l2 = float(t["cosine"].mean()), float(t["L2"].mean())
    return [
        Claim(quote="average cosine ≈ 1.000000 (≥ 0.999999)", source=SEED_SOURCE,
              quantity="mean cosine, FP16 to FP32", value=f"{nines(mean_cos)} over {len(t)} texts",
              threshold=f"≥ {SEED_MIN_MEAN_COSINE}", threshold_origin="the quote",
              verdict=verdict_of(mean_cos >= SEED_MIN_MEAN_COSINE)),
        Claim(quote="average L2 ≈ 1e-3", source=SEED_SOURCE, quantity="mean L2 distance, FP16 to FP32",
              value=f"{mean_l2:.2e} over {len(t)} texts", threshold=f"≤ {L2_SAME_ORDER * SEED_MEAN_L2:g}",
              threshold_origin=f"L2_SAME_ORDER: '≈ 1e-3' read as at most {L2_SAME_ORDER:g} × 1e-3",
              verdict=verdict_of(mean_l2 <= L2_SAME_ORDER * SEED_MEAN_L2)),
    ]


def best_precision(comparisons: dict[str, Comparison]) -> str:
    """The reduced precision closest to FP32 (highest mean cosine)."""
    return max(comparisons, key=lambda p: comparisons[p].per_text["cosine"].mean())


HEADLINE = {"best_precision": "closest to FP32", "mean_cosine_": "mean cosine to FP32, {}",
            "min_cosine_": "min cosine to FP32, {}", "mean_l2_": "mean L2 to FP32, {}",
            "top1_agreement_": "top-1 agreement with FP32, {}", "sts_spearman_": "STS Spearman, {}",
            "ndcg10_": "nDCG@10, {}", "latency_p50_ms_": "p50 latency at batch 1, {} (ms)"}


def headline_label(key: str) -> str:
    """The index's label for a result key: drift, agreement, quality and single-query latency, not the detail."""
    return "" if "_batch" in key else label_for(key, HEADLINE)


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
        l2_ok = mean_l2 <= L2_SAME_ORDER * SEED_MEAN_L2
        parts = [
            f"<b>{html.escape(p)}</b> on {len(t)} texts: mean cosine {mean_cos:.7f} (min {min_cos:.7f}) "
            f"{'meets' if cos_ok else 'does <b>not</b> meet'} the seed's claim of &ge; {SEED_MIN_MEAN_COSINE}; "
            f"mean L2 {mean_l2:.2e} {'is consistent with' if l2_ok else '<b>exceeds</b>'} the seed's ~{SEED_MEAN_L2:.0e}.",
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
