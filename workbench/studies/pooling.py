"""Study 02: which pooling recipe, and does padding break it?

Strategies are named `<pooling>` (last layer) or `<pooling>_last<N>` (average of the
last N layers). One forward pass per padding mode serves every strategy; quality,
strategy-to-strategy similarity, padding sensitivity and the mismatch with the
model's declared pooling are all computed from those embeddings.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.core import metrics
from workbench.core.embedding import Recipe
from workbench.core.evaluation import EmbeddedData, EvalData, embed_sets, quality
from workbench.core.models import LoadedModel
from workbench.core.params import as_list
from workbench.core.pooling import POOLERS
from workbench.core.records import Table
from workbench.run import catalog
from workbench.run.claims import Claim, verdict_of, verdict_on
from workbench.run.conclusions import Conclusions, Result

_NAME = re.compile(r"^(?P<base>[a-z_]+?)(?:_last(?P<n>\d+))?$")
PARAPHRASE_MIN_SCORE = 4.0  # STS label at or above which a pair counts as a paraphrase
UNRELATED_MAX_SCORE = 1.0  # STS label at or below which a pair counts as unrelated


def parse_strategy(name: str) -> tuple[str, int]:
    """'mean_last4' -> ('mean', 4); 'cls' -> ('cls', 1); anything else fails listing the valid forms."""
    match = _NAME.match(name) if isinstance(name, str) else None
    if not match or match.group("base") not in POOLERS or (match.group("n") and int(match.group("n")) < 1):
        raise ValueError(f"unknown strategy {name!r}; valid: {', '.join(POOLERS)}, each optionally with _last<N> "
                         "(N >= 1 hidden layers averaged), e.g. mean_last4")
    return match.group("base"), int(match.group("n") or 1)


def strategy_names(strategies, last_n_values) -> list[str]:
    """Expand bases x last-N values into strategy names; explicit `_lastN` names are kept as given."""
    names = []
    for name in as_list(strategies, "strategies"):
        base, n = parse_strategy(name)
        if name != base:
            names.append(name)
            continue
        for value in as_list(last_n_values, "last_n_values"):
            names.append(base if int(value) == 1 else f"{base}_last{int(value)}")
    for name in names:
        parse_strategy(name)
    return list(dict.fromkeys(names))


def recipes_for(names: list[str], padding: str, max_length: int, clamp_fp16: bool = False) -> dict[str, Recipe]:
    recipes = {}
    for name in names:
        base, n = parse_strategy(name)
        recipes[name] = Recipe(padding=padding, max_length=max_length, last_n_layers=n, pooling=base,
                               clamp_fp16=clamp_fp16, normalize=True)
    return recipes


def embed_strategies(model: LoadedModel, data: EvalData, names: list[str], padding_modes, max_length: int,
                     batch_size: int = 32) -> dict[str, dict[str, EmbeddedData]]:
    """{padding mode: {strategy: embeddings of every set}}; one forward pass per batch and padding mode."""
    clamp = model.precision == "fp16"
    return {mode: embed_sets(model, data, recipes_for(names, mode, max_length, clamp), batch_size)
            for mode in as_list(padding_modes, "padding_modes")}


def _all_vectors(embedded: EmbeddedData) -> np.ndarray:
    return np.vstack([e.vectors for _, e in embedded.parts()])


def similarity_matrix(by_strategy: dict[str, EmbeddedData]) -> pd.DataFrame:
    """Mean cosine between the strategies' embeddings of the same texts (symmetric, ones on the diagonal); how many
    texts each mean is over is in `attrs["texts"]`, which a verdict on it needs."""
    names = list(by_strategy)
    vectors = {n: _all_vectors(by_strategy[n]).astype(np.float64) for n in names}
    matrix = np.eye(len(names))
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            matrix[i, j] = matrix[j, i] = float(np.mean(metrics.cosine_rows(vectors[a], vectors[names[j]])))
    frame = pd.DataFrame(matrix, index=names, columns=names)
    frame.attrs["texts"] = len(next(iter(vectors.values()))) if vectors else 0
    return frame


def separation(embedded: EmbeddedData, data: EvalData) -> dict[str, float]:
    """How far paraphrase pairs sit from unrelated pairs: difference of mean cosine and ROC AUC."""
    if data.sts is None:
        return {}
    assert embedded.sts1 is not None and embedded.sts2 is not None, "embedded from other data"
    cos = metrics.cosine_rows(embedded.sts1.vectors, embedded.sts2.vectors)
    positive = cos[data.sts.scores >= PARAPHRASE_MIN_SCORE]
    negative = cos[data.sts.scores <= UNRELATED_MAX_SCORE]
    if positive.size == 0 or negative.size == 0:
        return {}
    return {"separation": float(positive.mean() - negative.mean()),
            "auc": metrics.roc_auc(positive, negative)}


def quality_table(by_strategy: dict[str, EmbeddedData], data: EvalData) -> pd.DataFrame:
    """One row per strategy: STS Spearman, nDCG@10, recall@10, paraphrase separation and AUC, and a score."""
    rows = {name: {**quality(e, data), **separation(e, data)} for name, e in by_strategy.items()}
    frame = pd.DataFrame(rows).T
    ranked = [c for c in ("sts_spearman", "ndcg10") if c in frame]
    frame["score"] = frame[ranked].mean(axis=1) if ranked else np.nan
    return frame


def check_chosen(chosen: str, names: list[str]) -> None:
    """`chosen` (empty, or a strategy this run embeds), checked before any embedding is done."""
    if chosen and chosen not in names:
        parse_strategy(chosen)  # a malformed name gets the message that lists the valid forms
        raise ValueError(f"chosen {chosen!r} is not among the strategies this run embeds: {', '.join(names)}; add it "
                         "to strategies (or last_n_values), or leave chosen empty for the best one")


def best_strategy(table: pd.DataFrame) -> str | None:
    """The strategy with the highest mean of STS Spearman and nDCG@10 (None without labelled data)."""
    return None if table["score"].isna().all() else str(table["score"].idxmax())


def padding_invariance(by_mode: dict[str, dict[str, EmbeddedData]]) -> pd.DataFrame:
    """Per strategy and text: cosine between fixed (max_length) and dynamic (longest) padding."""
    if not {"max_length", "longest"} <= set(by_mode):
        raise ValueError("padding sensitivity needs both padding modes: max_length and longest")
    rows = []
    for name, fixed in by_mode["max_length"].items():
        dynamic = by_mode["longest"][name]
        for (part, a), (_, b) in zip(fixed.parts(), dynamic.parts()):
            cos = metrics.cosine_rows(a.vectors, b.vectors)
            rows.append(pd.DataFrame({"strategy": name, "set": part, "tokens": np.minimum(a.n_tokens,
                                      a.recipe.max_length), "cosine": cos}))
    return pd.concat(rows, ignore_index=True)


def invariance_summary(per_text: pd.DataFrame) -> pd.DataFrame:
    """Mean and minimum fixed-vs-dynamic cosine per strategy; masked strategies should be ~1."""
    summary = per_text.groupby("strategy", sort=False)["cosine"].agg(["mean", "min"])
    summary.columns = ["mean cosine fixed vs dynamic", "min cosine"]
    return summary


def last_n_curve(table: pd.DataFrame, base: str) -> pd.DataFrame:
    """Quality of one pooling against the number of averaged layers."""
    rows = {parse_strategy(name)[1]: table.loc[name] for name in table.index if parse_strategy(name)[0] == base}
    return pd.DataFrame(rows).T.sort_index().rename_axis("last N layers")


def mismatch_html(declared: str, chosen: str, table: pd.DataFrame) -> str:
    """A warning when the strategy to ship pools differently from how the model was trained."""
    chosen_base = parse_strategy(chosen)[0]
    if chosen_base == declared:
        return (f"<p>The chosen strategy <b>{html.escape(chosen)}</b> uses the pooling the model declares "
                f"(<b>{html.escape(declared)}</b>): no mismatch.</p>")
    text = (f"<p style='color:#b00020'><b>Warning: pooling mismatch.</b> The model declares "
            f"<b>{html.escape(declared)}</b> pooling but the chosen strategy is <b>{html.escape(chosen)}</b>.")
    if declared in table.index and chosen in table.index:
        for column, label in (("sts_spearman", "STS Spearman"), ("ndcg10", "nDCG@10")):
            if column in table:
                loss = table.loc[declared, column] - table.loc[chosen, column]
                text += (f" {label}: {table.loc[chosen, column]:.4f} vs {table.loc[declared, column]:.4f} with the "
                         f"declared pooling ({'a loss' if loss > 0 else 'a gain'} of {abs(loss):.4f}).")
    return text + "</p>"


@dataclass(frozen=True)
class PoolingRow:
    """One pooling strategy on this run's texts: quality, paraphrase separation and padding invariance."""

    strategy: str  # <pooling> (last layer) or <pooling>_last<N>
    pooling: str  # one of `POOLERS`
    last_n_layers: int
    best: bool  # highest mean of STS Spearman and nDCG@10 in this run
    sts_spearman: float | None = None  # None: no STS set in this run
    ndcg10: float | None = None  # None: no retrieval set
    recall10: float | None = None
    paraphrase_auc: float | None = None
    padding_invariance: float | None = None  # mean cosine fixed vs dynamic padding (None: one padding mode)
    padding_invariance_min: float | None = None


POOLINGS: Table[PoolingRow] = Table("poolings", "pooling-row/1", PoolingRow)


def pooling_rows(table: pd.DataFrame, invariance: pd.DataFrame | None) -> list[PoolingRow]:
    """One typed row per strategy of `quality_table`, in its order."""
    best = best_strategy(table)

    def value(frame, name, column):
        return float(frame.loc[name, column]) if frame is not None and column in frame and \
            name in frame.index and pd.notna(frame.loc[name, column]) else None

    out = []
    for name in table.index:
        base, n = parse_strategy(str(name))
        out.append(PoolingRow(
            strategy=str(name), pooling=base, last_n_layers=n, best=name == best,
            sts_spearman=value(table, name, "sts_spearman"), ndcg10=value(table, name, "ndcg10"),
            recall10=value(table, name, "recall10"), paraphrase_auc=value(table, name, "auc"),
            padding_invariance=value(invariance, name, "mean cosine fixed vs dynamic"),
            padding_invariance_min=value(invariance, name, "min cosine")))
    return out


@dataclass(frozen=True)
class Outcome:
    """What a run of 02 measured, as its conclusions read it."""

    rows: list[PoolingRow]
    declared: str  # the pooling the model declares
    matrix: pd.DataFrame  # strategy x strategy mean cosine; attrs["texts"]: over how many texts
    invariance: pd.DataFrame | None  # per strategy, fixed vs dynamic padding (None: one padding mode)
    model: str


def results(outcome: Outcome) -> list[Result]:
    """Every strategy's quality and padding invariance; the index shows the declared and the best strategy's
    quality, and how far unmasked mean pooling drifts with the padding."""
    best = next((r.strategy for r in outcome.rows if r.best), None)
    shown = {outcome.declared, best}
    out = [Result("declared_pooling", outcome.declared, "declared pooling"), Result("best_strategy", best, "best strategy")]
    for r in outcome.rows:
        quality = r.strategy in shown
        for field, value, label in (
                ("sts_spearman", r.sts_spearman, f"STS Spearman, {r.strategy}" if quality else ""),
                ("ndcg10", r.ndcg10, f"nDCG@10, {r.strategy}" if quality else ""),
                ("recall10", r.recall10, ""), ("paraphrase_auc", r.paraphrase_auc, ""),
                ("padding_invariance", r.padding_invariance, "mean cosine fixed vs dynamic padding, unmasked mean"
                 if r.strategy == "mean_unmasked" else "")):
            if value is not None:
                out.append(Result(f"{field}_{r.strategy}", value, label))
    return out


def claims(outcome: Outcome) -> list[Claim]:
    return claim_checks(outcome.matrix, outcome.invariance, outcome.model)


MEAN_CLS_SEED = 0.68  # shared seed 002: mean vs CLS similarity, 4-bit Qwen3-Embedding-0.6B, one text
MEAN_CLS_MODEL = "Qwen3-Embedding-0.6B"
MEAN_CLS_TOLERANCE = 0.1  # the seed measured one text on another model: a model-level figure within ±0.1 agrees
MEAN_CLS_MIN_TEXTS = 10  # a mean over fewer texts says nothing about a model: the verdict is inconclusive
# "Unmasked pooling changes embeddings, masked does not" (seeds 000/001), read as: unmasked mean pooling moves some
# text below this cosine between fixed and dynamic padding, while every masked strategy stays above the next one
# (float32 summation-order noise on MiniLM measured at about 1e-7).
UNMASKED_MOVED_BELOW = 0.999
MASKED_STEADY_ABOVE = 0.99999


def claim_checks(matrix: pd.DataFrame, invariance: pd.DataFrame | None, model: str) -> list[Claim]:
    """The seeds' pooling claims, checked on this run where the needed strategies were measured; the mean-vs-CLS
    figure is about one model, so on another it is shown as measured there, not judged."""
    checks = []
    if {"mean", "cls"} <= set(matrix.index):
        value, texts = float(matrix.loc["mean", "cls"]), int(matrix.attrs.get("texts", 0))
        enough = texts >= MEAN_CLS_MIN_TEXTS
        verdict, other = verdict_on(abs(value - MEAN_CLS_SEED) <= MEAN_CLS_TOLERANCE if enough else None,
                                    MEAN_CLS_MODEL, model)
        checks.append(Claim(
            quote="Mean pooling vs CLS pooling have 0.68 cosine similarity.",
            source="shared seed 002, discovery 3 (Qwen3-Embedding-0.6B 4-bit, one text)",
            quantity="mean cosine between mean- and CLS-pooled embeddings of the same texts",
            value=f"{value:.3f} over {texts} texts",
            threshold=f"{MEAN_CLS_SEED - MEAN_CLS_TOLERANCE:.2f}–{MEAN_CLS_SEED + MEAN_CLS_TOLERANCE:.2f}, over at least "
                      f"{MEAN_CLS_MIN_TEXTS} texts",
            threshold_origin=f"MEAN_CLS_TOLERANCE: ±{MEAN_CLS_TOLERANCE:g} around the quoted 0.68 (one text, another "
                             f"model); MEAN_CLS_MIN_TEXTS: a mean over fewer texts is no model-level figure",
            verdict=verdict, about=MEAN_CLS_MODEL, subject=model,
            detail="; ".join(d for d in (
                "" if enough else f"only {texts} texts: too few for a verdict (raise max_texts)", other) if d)))
    if invariance is not None:
        unmasked = [n for n in invariance.index if parse_strategy(n)[0] == "mean_unmasked"]
        masked = [n for n in invariance.index if n not in unmasked]
        if unmasked and masked:
            drop = float(invariance.loc[unmasked, "min cosine"].min())
            steady = float(invariance.loc[masked, "min cosine"].min())
            checks.append(Claim(
                quote="traced with fixed padding but run with dynamic padding: pooling over padded positions changes "
                      "the embeddings (the masked mean does not)",
                source="shared seeds 000 and 001, padding mismatch",
                quantity="min cosine, fixed vs dynamic padding", value=f"unmasked {drop:.4f}; masked {steady:.7f}",
                threshold=f"unmasked < {UNMASKED_MOVED_BELOW}, masked > {MASKED_STEADY_ABOVE}",
                threshold_origin="UNMASKED_MOVED_BELOW / MASKED_STEADY_ABOVE: a visible change vs float32 noise",
                verdict=verdict_of(drop < UNMASKED_MOVED_BELOW and steady > MASKED_STEADY_ABOVE)))
    return checks


def verdict_html(model_name: str, declared: str, table: pd.DataFrame, invariance: pd.DataFrame | None) -> str:
    """Findings computed from the numbers (the seed claims have their own table: `claim_checks`)."""
    parts = [f"<p><b>Model:</b> {html.escape(model_name)}; declared pooling <b>{html.escape(declared)}</b>.</p>"]
    best = best_strategy(table)
    if best is not None:
        row = table.loc[best]
        parts.append(f"<p>Best measured strategy: <b>{html.escape(best)}</b> (score {row['score']:.4f}"
                     + (f"; the declared {html.escape(declared)} scores {table.loc[declared, 'score']:.4f}"
                        if declared in table.index and declared != best else "") + ").</p>")
    curve = last_n_curve(table, declared)
    if len(curve) > 1 and curve["score"].notna().all():
        first, last = curve.index[0], curve.index[-1]
        parts.append(f"<p>Last-N averaging with the declared pooling: score {curve['score'].iloc[0]:.4f} at N={first}, "
                     f"{curve['score'].iloc[-1]:.4f} at N={last}"
                     + (" &mdash; the seed recipe's last-4 averaging costs quality on this model."
                        if last >= 4 and curve["score"].iloc[-1] < curve["score"].iloc[0] - 0.01 else ".") + "</p>")
    if invariance is not None:
        masked = [n for n in invariance.index if not parse_strategy(n)[0].endswith("unmasked")]
        unmasked = [n for n in invariance.index if parse_strategy(n)[0].endswith("unmasked")]
        worst_masked = invariance.loc[masked, "min cosine"].min() if masked else float("nan")
        parts.append(f"<p>Padding: the lowest fixed-vs-dynamic cosine over masked strategies is {worst_masked:.6f}"
                     + (f"; unmasked mean drops to {invariance.loc[unmasked, 'min cosine'].min():.4f} "
                        f"(mean {invariance.loc[unmasked, 'mean cosine fixed vs dynamic'].mean():.4f}), confirming "
                        "the seeds' warning that pooling over padded positions changes embeddings with the padding."
                        if unmasked else ".") + "</p>")
    return "\n".join(parts)


CONCLUSIONS: Conclusions[Outcome] = Conclusions(catalog.POOLING, results, claims)
