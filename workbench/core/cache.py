"""On-disk cache of embeddings, so re-running a suite does not recompute what it already has.

The key covers everything that can change a vector: the weights' content hash, the
model spec, precision, device, every recipe, the prompt and the texts. Arrays are
stored as .npz and read back with allow_pickle=False (no pickle from disk, ever).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np

from workbench.core.embedding import Embeddings, Recipe, embed_many
from workbench.core.files import atomic_path, write_json_atomic
from workbench.core.models import LoadedModel
from workbench.core.paths import CACHE_ENV, DEFAULT_CACHE

_ARRAYS = ("vectors", "pooled", "n_tokens", "truncated")
_fingerprints: dict[tuple, str] = {}


REFRESH_ENV = "WORKBENCH_REFRESH_CACHE"  # "1": recompute every cached embedding and overwrite it (`run --force`)


def cache_dir() -> Path | None:
    """The cache folder from WORKBENCH_CACHE_DIR (default .cache/embeddings), None when switched off."""
    value = os.environ.get(CACHE_ENV, str(DEFAULT_CACHE))
    if value.strip().lower() in ("", "off", "0", "none"):
        return None
    folder = Path(value).expanduser()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{CACHE_ENV}={value} is a file, not a folder: point it at a folder (it is created "
                                 "if missing) or set it to off")
    return folder


Record = TypeVar("Record")


def read_record(kind: str, key: str, parse: Callable[[dict], Record]) -> Record | None:
    """A measured record that `keep_record` stored under the cache's `kind/` folder, parsed; None where the cache
    is off or holds none, and where it is damaged (then removed, so that it is measured again)."""
    folder = cache_dir()
    file = folder / kind / f"{key}.json" if folder is not None else None
    if file is None or not file.is_file():
        return None
    try:
        return parse(json.loads(file.read_text(encoding="utf-8")))
    except (ValueError, OSError):  # a TableSchemaError is a ValueError
        file.unlink(missing_ok=True)
        return None


def keep_record(kind: str, key: str, payload: dict) -> None:
    """Store a measured record (JSON) for `read_record`, where the cache is on."""
    folder = cache_dir()
    if folder is not None:
        write_json_atomic(folder / kind / f"{key}.json", payload)


def _read(path: Path, loaded: LoadedModel, recipes: dict[str, Recipe]) -> dict[str, Embeddings] | None:
    """A cached entry, or None after removing it (with a warning naming the file) when it cannot be read whole."""
    import warnings
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as stored:
            # the arrays fill Embeddings' first fields in order: mypy cannot count a generator's items
            return {name: Embeddings(*(stored[f"{i}_{a}"] for a in _ARRAYS),  # type: ignore[call-arg]
                                     loaded.precision, recipe)
                    for i, (name, recipe) in enumerate(recipes.items())}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        warnings.warn(f"cached embeddings {path} are unreadable ({type(exc).__name__}: {exc}); the file is removed "
                      "and the embeddings computed again", stacklevel=3)
        path.unlink(missing_ok=True)
        return None


def weights_fingerprint(loaded: LoadedModel) -> str:
    """SHA-256 of the weight files (or, for hub ids, of the FP32 tensors), computed once per file state."""
    folder = Path(loaded.source)
    files = sorted(folder.rglob("*.safetensors")) if folder.is_dir() else []
    memo_key = (loaded.source, tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files))
    if memo_key not in _fingerprints:
        digest = hashlib.sha256()
        if files:
            for path in files:
                with path.open("rb") as fh:
                    for block in iter(lambda: fh.read(1 << 22), b""):
                        digest.update(block)
        else:
            for name, tensor in sorted(loaded.model.state_dict().items()):
                digest.update(name.encode())
                digest.update(tensor.detach().float().cpu().numpy().tobytes())
        _fingerprints[memo_key] = digest.hexdigest()
    return _fingerprints[memo_key]


def cache_key(loaded: LoadedModel, texts: list[str], recipes: dict[str, Recipe], prompt: str) -> str:
    payload = {
        "weights": weights_fingerprint(loaded),
        "spec": asdict(loaded.spec),
        "precision": loaded.precision,
        "device": loaded.device,
        "backend": loaded.artifact_sha256 or "torch",  # an artifact's content, so a rebuilt one is re-embedded
        "recipes": {name: recipe.as_dict() for name, recipe in recipes.items()},
        "prompt": prompt,
        "texts": hashlib.sha256("\x00".join(texts).encode()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


def cached_embed_many(loaded: LoadedModel, texts: list[str], recipes: dict[str, Recipe], prompt: str = "",
                      batch_size: int = 32, on_batch: Callable[[int], object] | None = None) -> dict[str, Embeddings]:
    """`embed_many`, read from the cache when the same inputs were embedded before."""
    folder = cache_dir()
    if folder is None:
        return embed_many(loaded, texts, recipes, prompt, batch_size, on_batch)
    path = folder / f"{cache_key(loaded, list(texts), recipes, prompt)}.npz"
    refresh = os.environ.get(REFRESH_ENV, "") == "1"
    out = _read(path, loaded, recipes) if path.exists() and not refresh else None
    if out is not None:
        if on_batch is not None:
            on_batch(len(texts))
        return out
    out = embed_many(loaded, texts, recipes, prompt, batch_size, on_batch)
    arrays = {f"{i}_{a}": getattr(out[name], a) for i, name in enumerate(recipes) for a in _ARRAYS}
    with atomic_path(path) as tmp:
        with tmp.open("wb") as fh:
            np.savez(fh, **arrays)
    return out
