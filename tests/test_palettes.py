"""The histogram k-means palettizer against coremltools' own k-means (scikit-learn on every value)."""

import numpy as np
import pytest

from workbench.convert import palettes


def _error(weight: np.ndarray, palette: np.ndarray, indices: np.ndarray) -> float:
    return float(np.mean((palette[indices].astype(np.float64) - weight.ravel().astype(np.float64)) ** 2))


@pytest.mark.parametrize("kind", ["normal", "student_t3"])
def test_palette_error_matches_coremltools_kmeans(kind):
    from coremltools.models.neural_network.quantization_utils import _get_kmeans_lookup_table_and_weight

    rng = np.random.default_rng(0)
    values = rng.standard_normal(400_000) if kind == "normal" else rng.standard_t(3, 400_000)
    weight = (values * 0.02).astype(np.float16).reshape(400, 1000)
    palette, indices = palettes.kmeans_palette(weight, 4)
    assert palette.dtype == np.float16 and palette.shape == (16,)
    assert indices.dtype == np.uint8 and indices.shape == (weight.size,) and indices.max() == 15
    reference_palette, reference_indices = _get_kmeans_lookup_table_and_weight(4, weight.ravel())
    reference = _error(weight, reference_palette.astype(np.float16), reference_indices.ravel())
    ours = _error(weight, palette, indices)
    assert ours <= 1.005 * reference, (ours, reference)  # measured: 1.0002-1.0003 of scikit-learn's
    assert ours < 0.05 * float(np.var(weight.astype(np.float64)))  # 16 values keep over 95 % (measured 96.6-99.1 %)


def test_each_value_takes_its_nearest_palette_entry_and_each_entry_is_its_cluster_mean():
    weight = (np.random.default_rng(1).standard_normal(50_000) * 0.05).astype(np.float16)
    palette, indices = palettes.kmeans_palette(weight, 4)
    exact = weight.astype(np.float64)
    nearest = np.abs(exact[:, None] - palette.astype(np.float64)[None]).argmin(axis=1)
    assert np.mean(nearest == indices) > 0.999  # ties and the fp16 rounding of the palette aside
    for k in range(16):
        assert abs(exact[indices == k].mean() - float(palette[k])) <= 1e-3 * abs(float(palette[k])) + 1e-6


def test_few_distinct_values_are_kept_exactly_and_negative_zero_is_zero():
    weight = np.array([0.5, -0.0, 0.0, 0.25, 0.5, -1.0, 0.0] * 1000, dtype=np.float16)
    palette, indices = palettes.kmeans_palette(weight, 4)
    assert np.array_equal(palette[indices], weight)
    assert indices[1] == indices[2]  # -0.0 and 0.0 share one entry, as np.unique counts them
    assert sorted(set(palette[indices].tolist())) == [-1.0, 0.0, 0.25, 0.5]
