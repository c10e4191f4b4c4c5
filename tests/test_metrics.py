import math

import numpy as np
import pytest

from workbench.core import metrics


def test_cosine_l2_alpha_on_hand_made_vectors():
    ref = np.array([[1.0, 0.0], [3.0, 4.0]])
    test = np.array([[0.0, 1.0], [3.0, 4.0]])
    assert np.allclose(metrics.cosine_rows(ref, test), [0.0, 1.0])
    assert np.allclose(metrics.l2_rows(ref, test), [math.sqrt(2), 0.0])
    assert np.allclose(metrics.alpha_rows(ref, test), [math.sqrt(2), 0.0])


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.cosine_rows(np.ones((2, 3)), np.ones((3, 3)))


def test_bound_holds_for_random_small_perturbations_and_detects_violation():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(200, 64))
    delta = rng.normal(size=(200, 64)) * 1e-3
    alpha = metrics.alpha_rows(m, m + delta)
    gap = 1 - metrics.cosine_rows(m, m + delta)
    assert metrics.bound_holds(alpha, gap).all()
    # a gap above 2 alpha^2, or alpha outside the proof's premise, must be flagged
    assert not metrics.bound_holds(np.array([1e-3]), np.array([3e-6]))[0]
    assert not metrics.bound_holds(np.array([0.6]), np.array([0.0]))[0]


def test_drift_percentiles():
    values = np.arange(101, dtype=float)
    d = metrics.drift_percentiles(values)
    assert d["p50"] == 50 and d["p90"] == 90 and d["p99"] == 99 and d["max"] == 100 and d["mean"] == 50


def test_wilson_interval_known_values():
    low, high = metrics.wilson_interval(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12)
    assert high == pytest.approx(0.2775, abs=1e-4)
    low, high = metrics.wilson_interval(5, 10)
    assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-4)


def test_topk_agreement():
    ref = np.array([[0.9, 0.8, 0.1, 0.0], [0.1, 0.2, 0.3, 0.4]])
    same = metrics.topk_agreement(ref, ref, k=2)
    assert same["top1_agreement"] == 1.0 and same["overlap_at_k"] == 1.0
    swapped = ref.copy()
    swapped[0, :2] = [0.8, 0.9]  # top-1 changes, top-2 set stays
    out = metrics.topk_agreement(ref, swapped, k=2)
    assert out["top1_agreement"] == 0.5 and out["overlap_at_k"] == 1.0
    assert out["top1_ci_low"] < 0.5 < out["top1_ci_high"]


def test_sts_spearman_monotonic_is_one():
    a = np.array([[1.0, 0.0]] * 4)
    b = np.array([[1.0, 0.0], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]])
    assert metrics.sts_spearman(a, b, [5, 4, 2, 0]) == pytest.approx(1.0)
    assert metrics.sts_spearman(a, b, [0, 2, 4, 5]) == pytest.approx(-1.0)


def test_ir_metrics_match_hand_computed_ndcg():
    queries = np.array([[1.0, 0.0]])
    docs = np.array([[0.9, 0.1], [0.5, 0.5], [0.0, 1.0]])  # ranking: d0, d1, d2
    qrels = {"q": {"d1": 1}}
    out = metrics.ir_metrics(queries, docs, ["q"], ["d0", "d1", "d2"], qrels, k=10)
    assert out["ndcg@10"] == pytest.approx(1 / math.log2(3))
    assert out["recall@10"] == pytest.approx(1.0)
    out = metrics.ir_metrics(queries, docs, ["q"], ["d0", "d1", "d2"], qrels, k=1)
    assert out["recall@1"] == 0.0


def test_pareto_front_keeps_points_nothing_beats_on_every_cost():
    assert metrics.pareto_front([1, 2, 3, 2], [3, 2, 1, 3]).tolist() == [True, True, True, False]
    assert metrics.pareto_front([1, 1], [2, 2]).tolist() == [True, True], "equal points do not beat each other"
    three = metrics.pareto_front([1, 1, 2], [1, 1, 1], [2, 1, 0])
    assert three.tolist() == [False, True, True], "a point beaten on one cost and tied on the rest is dominated"
    assert metrics.pareto_front([1, np.nan], [1, 1]).tolist() == [True, True], "a missing value is never beaten"
    with pytest.raises(ValueError, match="one value per point; got sizes \\[2, 3\\]"):
        metrics.pareto_front([1, 2], [1, 2, 3])
