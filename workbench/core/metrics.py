"""Metrics as pure functions of arrays: drift against a reference, retrieval agreement, quality.

Drift is computed in float64 from the float32 vectors, so the tiny FP16 differences
being measured are not drowned by the rounding of the measurement itself.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def _rows(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D array [n, dim]; got shape {a.shape}")
    return a


def _paired(ref, test) -> tuple[np.ndarray, np.ndarray]:
    ref, test = _rows(ref), _rows(test)
    if ref.shape != test.shape:
        raise ValueError(f"reference and test shapes differ: {ref.shape} vs {test.shape}")
    return ref, test


def cosine_rows(ref, test) -> np.ndarray:
    """Cosine similarity of each row of `test` to the same row of `ref`."""
    ref, test = _paired(ref, test)
    num = (ref * test).sum(axis=1)
    den = np.linalg.norm(ref, axis=1) * np.linalg.norm(test, axis=1)
    return num / np.maximum(den, 1e-300)


def l2_rows(ref, test) -> np.ndarray:
    """Euclidean distance between matching rows."""
    ref, test = _paired(ref, test)
    return np.linalg.norm(test - ref, axis=1)


def alpha_rows(ref_pooled, test_pooled) -> np.ndarray:
    """alpha = |test - ref| / |ref| on the un-normalised pooled vectors (the seed proof's alpha)."""
    ref, test = _paired(ref_pooled, test_pooled)
    return np.linalg.norm(test - ref, axis=1) / np.maximum(np.linalg.norm(ref, axis=1), 1e-300)


def cosine_bound(alpha) -> np.ndarray:
    """The seed proof's bound on 1 - u.v for a relative perturbation alpha: 2 alpha^2.

    The exact worst case is 1 - sqrt(1 - alpha^2) (perturbation orthogonal to m),
    which is <= alpha^2 for alpha <= 1, so 2 alpha^2 holds with room to spare.
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    return 2.0 * alpha**2


def bound_holds(alpha, one_minus_cos, rtol: float = 1e-9) -> np.ndarray:
    """Per text: does 1 - u.v <= 2 alpha^2 hold (alpha < 1/2 is the proof's premise)?"""
    alpha = np.asarray(alpha, dtype=np.float64)
    gap = np.asarray(one_minus_cos, dtype=np.float64)
    return (alpha < 0.5) & (gap <= cosine_bound(alpha) * (1 + rtol) + 1e-15)


def drift_percentiles(one_minus_cos) -> dict[str, float]:
    """Distribution of 1 - cos: mean and p50/p90/p99/max, as llama.cpp's KL-divergence tables show drift."""
    values = np.asarray(one_minus_cos, dtype=np.float64)
    if values.size == 0:
        raise ValueError("drift_percentiles needs at least one value")
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"mean": float(values.mean()), "p50": float(p50), "p90": float(p90), "p99": float(p99), "max": float(values.max())}


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (sane at 0 and at n successes)."""
    if n <= 0:
        raise ValueError("wilson_interval needs n >= 1")
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def topk_agreement(ref_scores, test_scores, k: int = 10) -> dict[str, float]:
    """How often a test ranking agrees with the reference ranking over the same candidates.

    `ref_scores` / `test_scores` are [n_queries, n_candidates] similarity matrices.
    Returns the same-top-1 rate with its 95 % Wilson interval and the mean overlap of the top-k sets.
    """
    ref, test = _paired(ref_scores, test_scores)
    k = min(k, ref.shape[1])
    if k < 1:
        raise ValueError("topk_agreement needs at least one candidate")
    ref_top = np.argsort(-ref, axis=1, kind="stable")[:, :k]
    test_top = np.argsort(-test, axis=1, kind="stable")[:, :k]
    same_top1 = int((ref_top[:, 0] == test_top[:, 0]).sum())
    overlap = np.array([len(set(a) & set(b)) / k for a, b in zip(ref_top, test_top)])
    low, high = wilson_interval(same_top1, ref.shape[0])
    return {
        "top1_agreement": same_top1 / ref.shape[0],
        "top1_ci_low": low,
        "top1_ci_high": high,
        "overlap_at_k": float(overlap.mean()),
        "k": k,
        "n_queries": int(ref.shape[0]),
    }


def roc_auc(positive, negative) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    positive, negative = np.asarray(positive, dtype=np.float64), np.asarray(negative, dtype=np.float64)
    if positive.size == 0 or negative.size == 0:
        raise ValueError("roc_auc needs at least one positive and one negative score")
    u = stats.mannwhitneyu(positive, negative, alternative="two-sided").statistic
    return float(u / (positive.size * negative.size))


def sts_spearman(emb1, emb2, gold) -> float:
    """Spearman correlation between pair cosines and gold similarity labels."""
    cos = cosine_rows(emb1, emb2)
    gold = np.asarray(gold, dtype=np.float64)
    if gold.shape != cos.shape:
        raise ValueError(f"{cos.shape[0]} pairs but {gold.shape[0]} gold scores")
    return float(stats.spearmanr(cos, gold).statistic)


def ir_metrics(
    query_vectors,
    doc_vectors,
    query_ids: list[str],
    doc_ids: list[str],
    qrels: dict[str, dict[str, int]],
    k: int = 10,
    depth: int = 100,
) -> dict[str, float]:
    """nDCG@k and recall@k by exact dot-product search, scored with trec_eval (pytrec_eval)."""
    scores = _rows(query_vectors) @ _rows(doc_vectors).T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :min(depth, scores.shape[1])]
    per_query = ranked_ir_metrics(top, query_ids, doc_ids, qrels, k)
    return {name: float(values.mean()) for name, values in per_query.items()}


def ranked_ir_metrics(ranked, query_ids: list[str], doc_ids: list[str], qrels: dict[str, dict[str, int]],
                      k: int = 10) -> dict[str, np.ndarray]:
    """Per judged query (in query order), nDCG@k and recall@k of ranked document rows, best first (trec_eval)."""
    import pytrec_eval

    ranked = np.asarray(ranked)
    run = {qid: {doc_ids[j]: float(ranked.shape[1] - r) for r, j in enumerate(ranked[i])}
           for i, qid in enumerate(query_ids)}
    judged = {qid: qrels[qid] for qid in query_ids if qid in qrels}
    if not judged:
        raise ValueError("none of the queries has relevance judgments in qrels")
    evaluator = pytrec_eval.RelevanceEvaluator(judged, {f"ndcg_cut.{k}", f"recall.{k}"})
    per_query = evaluator.evaluate({qid: run[qid] for qid in judged})
    order = [qid for qid in query_ids if qid in judged]
    return {f"ndcg@{k}": np.array([per_query[q][f"ndcg_cut_{k}"] for q in order]),
            f"recall@{k}": np.array([per_query[q][f"recall_{k}"] for q in order])}


def pareto_front(*costs) -> np.ndarray:
    """Boolean mask of points no other point beats: no worse on every cost and lower on one (lower is better).

    One argument per cost, one value per point; negate a quality to pass it. A NaN never compares, so a
    point missing a value is never beaten and beats nothing.
    """
    columns = [np.asarray(c, dtype=np.float64) for c in costs]
    if len({c.shape for c in columns}) != 1:
        raise ValueError(f"pareto_front: each cost needs one value per point; got sizes {[c.size for c in columns]}")
    points = np.stack(columns, axis=-1).reshape(-1, len(columns))
    front = np.ones(len(points), dtype=bool)
    for i, point in enumerate(points):
        dominated = (points <= point).all(axis=1) & (points < point).any(axis=1)
        front[i] = not dominated.any()
    return front
