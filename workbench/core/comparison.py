"""A test embedding against the FP32 reference: per-text drift, retrieval agreement, latency.

Shared by every study that compares a variant (a precision, a converted artifact) with FP32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.core import metrics
from workbench.core.embedding import Recipe, embed
from workbench.core.evaluation import EmbeddedData, EvalData, text_sets
from workbench.core.models import LoadedModel
from workbench.core.resources import latency_summary, sample_latency_ms


@dataclass
class Comparison:
    """One variant (a precision, a converted artifact) measured against the FP32 reference."""

    precision: str
    per_text: pd.DataFrame
    drift: dict
    agreement: dict

    @property
    def bound_holds_fraction(self) -> float:
        return float(self.per_text["bound holds"].mean())


def compare(reference: EmbeddedData, test: EmbeddedData, data: EvalData) -> Comparison:
    """Per-text cosine, L2, alpha and the 2 alpha^2 bound; drift percentiles; retrieval agreement."""
    frames = []
    for (name, texts), (_, ref), (_, tst) in zip(text_sets(data), reference.parts(), test.parts()):
        cos = metrics.cosine_rows(ref.pooled, tst.pooled)
        alpha = metrics.alpha_rows(ref.pooled, tst.pooled)
        gap = np.clip(1.0 - cos, 0.0, None)
        frames.append(pd.DataFrame({
            "set": name,
            "text": texts,
            "tokens": ref.n_tokens,
            "truncated": ref.truncated,
            "cosine": cos,
            "1 - cos": gap,
            "L2": metrics.l2_rows(ref.vectors, tst.vectors),
            "alpha": alpha,
            "2 alpha^2": metrics.cosine_bound(alpha),
            "bound holds": metrics.bound_holds(alpha, gap),
        }))
    per_text = pd.concat(frames, ignore_index=True)
    drift = metrics.drift_percentiles(per_text["1 - cos"])
    agreement = metrics.topk_agreement(search_scores(reference), search_scores(test), k=10)
    return Comparison(test.precision, per_text, drift, agreement)


def search_scores(embedded: EmbeddedData) -> np.ndarray:
    """Scores of every query against the candidates: passages when present, else the other queries."""
    queries = [embedded.queries.vectors]
    if embedded.ret_queries is not None:
        queries.append(embedded.ret_queries.vectors)
    q = np.vstack(queries).astype(np.float64)
    if embedded.ret_docs is not None:
        return q @ embedded.ret_docs.vectors.astype(np.float64).T
    scores = q @ q.T
    np.fill_diagonal(scores, -np.inf)
    return scores


def measure_latency(models: dict[str, LoadedModel], texts: list[str], recipe: Recipe,
                    batch_sizes=(1, 32), repeats: int = 20) -> pd.DataFrame:
    """Per-query latency (ms) at each batch size, end to end: tokenise, run, pool, normalise."""
    rows = []
    for precision, model in models.items():
        for batch in batch_sizes:
            chunk = (texts * (batch // len(texts) + 1))[:batch]
            calls = max(2, repeats // max(1, batch // 8))
            samples = sample_latency_ms(lambda: embed(model, chunk, recipe, batch_size=batch), repeats=calls)
            rows.append({"precision": precision, "batch": batch, **latency_summary(samples, per=batch)})
    return pd.DataFrame(rows)
