"""k-means palettes for fp16 weights in seconds, not hours: Lloyd's algorithm over the weight's histogram.

coremltools' k-means (mode "kmeans") runs scikit-learn's KMeans on every value of a tensor (its faster kmeans1d
branch calls `kmeans1d.cluster(..., weights=)`, which no released kmeans1d accepts): at 4B that had not finished
after 30 minutes here (issue 26). An fp16 tensor holds at most 65,536 distinct values, so the same Lloyd
iterations can run on its histogram instead, each distinct value weighted by its count: one pass over the tensor
to count bit patterns, iterations over at most 65,536 points, one pass to map each bit pattern to its palette
index. In one dimension each cluster is an interval, so assigning is a binary search between centroids.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np

_NEGATIVE_ZERO = 0x8000  # counted as +0.0, as np.unique counts it
MAX_ITERATIONS = 300  # scikit-learn's default; in practice the assignments settle far sooner
SEEDINGS = 4  # Lloyd runs from different starts, the best kept: each costs milliseconds on a histogram


def _lloyd(values: np.ndarray, weights: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted 1-D Lloyd from `centroids` (ascending) to convergence: (centroids, cluster of each value, error)."""
    for _ in range(MAX_ITERATIONS):
        assignment = np.searchsorted((centroids[1:] + centroids[:-1]) / 2, values)
        mass = np.bincount(assignment, weights=weights, minlength=len(centroids))
        sums = np.bincount(assignment, weights=weights * values, minlength=len(centroids))
        updated = np.where(mass > 0, sums / np.where(mass > 0, mass, 1), centroids)
        if np.array_equal(updated, centroids):
            break
        centroids = updated
    assignment = np.searchsorted((centroids[1:] + centroids[:-1]) / 2, values)
    return centroids, assignment, float(np.sum(weights * (values - centroids[assignment]) ** 2))


def _quantile_start(values: np.ndarray, weights: np.ndarray, clusters: int) -> np.ndarray:
    cumulative = np.cumsum(weights)
    targets = (np.arange(clusters) + 0.5) / clusters * cumulative[-1]
    return np.unique(values[np.minimum(np.searchsorted(cumulative, targets), len(values) - 1)])


def _plus_plus_start(values: np.ndarray, weights: np.ndarray, clusters: int, seed: int) -> np.ndarray:
    """Greedy k-means++ (scikit-learn's seeding: 2 + log k candidates a step), each value weighted by its count."""
    rng = np.random.default_rng(seed)
    chosen = [values[rng.choice(len(values), p=weights / weights.sum())]]
    distance = (values - chosen[0]) ** 2
    for _ in range(1, clusters):
        potential = weights * distance
        if potential.sum() == 0:
            break
        candidates = rng.choice(len(values), size=2 + int(np.log(clusters)), p=potential / potential.sum())
        options = [np.minimum(distance, (values - values[c]) ** 2) for c in candidates]
        best = int(np.argmin([np.sum(weights * option) for option in options]))
        chosen.append(values[candidates[best]])
        distance = options[best]
    return np.unique(chosen)


def _best_clustering(values: np.ndarray, weights: np.ndarray, clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """The lowest-error Lloyd run of SEEDINGS starts: weighted quantiles, then k-means++ seeds."""
    starts = [_quantile_start(values, weights, clusters),
              *(_plus_plus_start(values, weights, clusters, seed) for seed in range(SEEDINGS - 1))]
    runs = [_lloyd(values, weights, start) for start in starts]
    centroids, assignment, _ = min(runs, key=lambda run: run[2])
    return centroids, assignment


def kmeans_palette(weight: np.ndarray, nbits: int) -> tuple[np.ndarray, np.ndarray]:
    """(palette of 2**nbits values in the weight's dtype, one uint8 index per value, flat): coremltools' "custom"
    palettizer contract. Weights that are not fp16 go through coremltools' own k-means."""
    if weight.dtype != np.float16:
        from coremltools.models.neural_network.quantization_utils import _get_kmeans_lookup_table_and_weight

        palette, indices = _get_kmeans_lookup_table_and_weight(nbits, weight)
        return palette.astype(weight.dtype), indices.astype(np.uint8).ravel()
    bits = np.ascontiguousarray(weight).view(np.uint16).ravel()
    counts = np.bincount(bits, minlength=1 << 16)
    counts[0] += counts[_NEGATIVE_ZERO]
    counts[_NEGATIVE_ZERO] = 0
    present = np.flatnonzero(counts)
    values = present.astype(np.uint16).view(np.float16).astype(np.float64)
    order = np.argsort(values, kind="stable")
    centroids, assignment = _best_clustering(values[order], counts[present][order].astype(np.float64), 1 << nbits)
    palette = np.zeros(1 << nbits, dtype=weight.dtype)
    palette[:len(centroids)] = centroids
    index_of_bits = np.zeros(1 << 16, dtype=np.uint8)
    index_of_bits[present[order]] = assignment
    index_of_bits[_NEGATIVE_ZERO] = index_of_bits[0]
    return palette, index_of_bits[bits]


def palette_function(nbits: int) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The `lut_function` for `OpPalettizerConfig(mode="custom")` that palettizes to `nbits`."""
    return partial(kmeans_palette, nbits=nbits)
