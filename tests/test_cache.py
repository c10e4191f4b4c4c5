import numpy as np
import pytest

from workbench.core import cache
from workbench.core.embedding import Recipe

from texts import TEXTS


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


@pytest.mark.parametrize("damage", ["truncated", "empty", "missing array"])
def test_a_damaged_entry_is_named_removed_and_recomputed(minilm, cache_folder, damage):
    recipes = {"a": Recipe()}
    first = cache.cached_embed_many(minilm, TEXTS[:3], recipes)
    (entry,) = cache_folder.glob("*.npz")
    if damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:100])
    elif damage == "empty":
        entry.write_bytes(b"")
    else:
        np.savez(entry.open("wb"), other=np.zeros(2))
    with pytest.warns(UserWarning, match=rf"cached embeddings {entry} are unreadable .*computed again"):
        again = cache.cached_embed_many(minilm, TEXTS[:3], recipes)
    assert np.array_equal(first["a"].vectors, again["a"].vectors)
    assert cache.cached_embed_many(minilm, TEXTS[:3], recipes)["a"].vectors.shape == (3, 384)  # rewritten whole


def test_refresh_recomputes_and_overwrites_a_cached_entry(minilm, cache_folder, monkeypatch):
    recipes = {"a": Recipe()}
    cache.cached_embed_many(minilm, TEXTS[:2], recipes)
    (entry,) = cache_folder.glob("*.npz")
    stored = dict(np.load(entry))
    np.savez(entry.open("wb"), **{k: (v * 0 if k.endswith("vectors") else v) for k, v in stored.items()})
    assert not cache.cached_embed_many(minilm, TEXTS[:2], recipes)["a"].vectors.any()  # the stale entry is served
    monkeypatch.setenv(cache.REFRESH_ENV, "1")
    assert cache.cached_embed_many(minilm, TEXTS[:2], recipes)["a"].vectors.any()
    monkeypatch.delenv(cache.REFRESH_ENV)
    assert cache.cached_embed_many(minilm, TEXTS[:2], recipes)["a"].vectors.any()  # and the file was overwritten


def test_a_cache_path_that_is_a_file_is_explained(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "file"))
    with pytest.raises(NotADirectoryError, match="is a file, not a folder: point it at a folder .* or set it to off"):
        cache.cache_dir()
