import numpy as np
import pytest

from workbench.core import cache
from workbench.core.embedding import Recipe

from conftest import TEXTS


@pytest.fixture()
def cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_second_call_is_served_from_disk(minilm, cache_folder, monkeypatch):
    recipes = {"a": Recipe(), "b": Recipe(pooling="cls", last_n_layers=1)}
    first = cache.cached_embed_many(minilm, TEXTS, recipes)
    assert len(list(cache_folder.glob("*.npz"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("should have been a cache hit")

    monkeypatch.setattr(cache, "embed_many", fail)
    seen = []
    second = cache.cached_embed_many(minilm, TEXTS, recipes, on_batch=seen.append)
    assert seen == [len(TEXTS)]
    for name in recipes:
        assert np.array_equal(first[name].vectors, second[name].vectors)
        assert np.array_equal(first[name].truncated, second[name].truncated)
        assert second[name].recipe == recipes[name]


def test_any_input_change_is_a_new_key(minilm, cache_folder):
    base = cache.cache_key(minilm, TEXTS, {"a": Recipe()}, "")
    assert base == cache.cache_key(minilm, list(TEXTS), {"a": Recipe()}, "")
    assert base != cache.cache_key(minilm, TEXTS[:-1], {"a": Recipe()}, "")
    assert base != cache.cache_key(minilm, TEXTS, {"a": Recipe(max_length=64)}, "")
    assert base != cache.cache_key(minilm, TEXTS, {"a": Recipe()}, "query: ")
    assert base != cache.cache_key(minilm.to("fp16"), TEXTS, {"a": Recipe()}, "")


def test_cache_can_be_switched_off(minilm, monkeypatch, tmp_path):
    monkeypatch.setenv(cache.CACHE_ENV, "off")
    assert cache.cache_dir() is None
    out = cache.cached_embed_many(minilm, TEXTS[:2], {"a": Recipe()})
    assert out["a"].vectors.shape == (2, 384)
