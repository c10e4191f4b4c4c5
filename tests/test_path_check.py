"""Both Core ML paths from the same weights: the check 05 runs at 0.6B, here on a tiny Qwen3 of the same family."""

from dataclasses import replace

import pytest

from workbench.convert import chunks, path_check
from workbench.core.architectures import RANDOM_WEIGHTS, architecture, published_recipe
from workbench.studies import scale_paths

from test_scale import TINY


@pytest.fixture(scope="module")
def arch():
    return architecture("qwen3-embedding-0.6b").scaled(name="tiny qwen3", **TINY)


@pytest.mark.parametrize("variant", ["int8", "palette4"])
def test_both_paths_write_the_same_package_from_the_same_weights(arch, variant):
    result = path_check.compare(arch, variant, published_recipe(arch, 16))
    assert result.same_inputs and result.same_output
    assert result.max_weight_difference == 0.0
    assert result.tensors >= 1 + 7 * TINY["num_hidden_layers"]  # the table and every layer's seven projections
    assert result.rows == path_check.PROBE_ROWS and result.min_cosine >= path_check.MIN_COSINE
    assert result.holds and result.weights.startswith(RANDOM_WEIGHTS)


def test_the_check_fails_when_the_lean_weights_differ(arch, monkeypatch):
    """A lean package from other weights (a seed of its own per chunk) is caught by the weights and the cosine."""
    monkeypatch.setattr(path_check, "ModelSource", lambda loaded: chunks.RandomSource(arch, seed=1))
    result = path_check.compare(arch, "int8", published_recipe(arch, 16))
    assert result.max_weight_difference > 0.01 and result.min_cosine < 0.99 and not result.holds
    line = scale_paths.comparison_table([result], {}).iloc[0]
    assert line["verdict"].startswith("differs") and line["same inputs and output"] == "yes"


def test_comparisons_come_from_the_cache_and_failures_are_named(arch, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(scale_paths, "architecture", lambda name: arch)
    calls = []

    class Inline:  # the study's limits, run in this process so the test can count the calls
        def run(self, fn, *args):
            calls.append(args[1])
            return type("Done", (), {"value": fn(*args)})()

    first, failed = scale_paths.compare_paths([["tiny", "int8"], ["tiny", "int3"]], 16, Inline(), 0)
    assert [c.variant for c in first] == ["int8"] and list(failed) == ["tiny int3"]
    assert "int3" in failed["tiny int3"] and calls == ["int8", "int3"]
    again, _ = scale_paths.compare_paths([["tiny", "int8"]], 16, Inline(), 0)
    assert again == first and calls == ["int8", "int3"]  # the stored comparison, not a second build
    (stored,) = (tmp_path / "path_checks").glob("*.json")
    stored.write_text('{"model": "tiny", "variant": 8}')  # damaged: compared again, and the file rewritten
    (again_after_damage,), _ = scale_paths.compare_paths([["tiny", "int8"]], 16, Inline(), 0)
    assert replace(again_after_damage, seconds=0) == replace(first[0], seconds=0) and calls[-1] == "int8"
    assert len(calls) == 3 and '"variant": "int8"' in stored.read_text()
    table = scale_paths.comparison_table(first, failed)
    assert list(table["verdict"]) == ["the same artifact", f"not compared: {failed['tiny int3']}"]
