"""Converted artifacts kept between runs, keyed by everything that can change them.

The key covers the converter's own code (its module, the shared graph and registry, the
recipe head and pooling), the variant, the recipe, the model spec, the weights' content and
the base artifact it was derived from, so a converter fix never hides behind an old artifact.
Each entry records its artifact's SHA-256 and what building it cost; an entry whose files no
longer match that hash is named in a warning, removed and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench.convert import graph, registry
from workbench.core import embedding, pooling
from workbench.core.cache import weights_fingerprint
from workbench.core.embedding import Recipe
from workbench.core.files import write_json_atomic
from workbench.core.models import LoadedModel

MANIFEST = "manifest.json"
SHARED_CODE = (graph.__file__, registry.__file__, embedding.__file__, pooling.__file__, __file__)


def content_sha256(path) -> str:
    """SHA-256 over a file, or over a folder's relative file names and contents in sorted order."""
    path = Path(path)
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(str(file.relative_to(path.parent if path.is_file() else path)).encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()


def code_version(converter: registry.Converter) -> str:
    """SHA-256 of the source files that write and run the converter's artifacts."""
    digest = hashlib.sha256()
    for file in (*converter.code, *SHARED_CODE):
        digest.update(Path(file).read_bytes())
    return digest.hexdigest()


def artifact_key(converter: registry.Converter, variant: str, loaded: LoadedModel, recipe: Recipe,
                 base_key: str = "") -> str:
    """The cache key of one artifact (24 hex)."""
    payload = {
        "format": converter.name,
        "variant": variant,
        "code": code_version(converter),
        "recipe": recipe.as_dict(),
        "spec": asdict(loaded.spec),
        "weights": weights_fingerprint(loaded),
        "dense": [hashlib.sha256(d["weight"].float().numpy().tobytes()).hexdigest() for d in loaded.dense_layers],
        "base": base_key,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Cached:
    """An artifact found in the cache and what it cost when it was built."""

    path: Path
    key: str
    sha256: str  # the artifact's content, which keys the embeddings computed with it
    seconds: float
    peak_rss_bytes: int
    baseline_rss_bytes: int

    @property
    def step_rss_bytes(self) -> int:
        return max(0, self.peak_rss_bytes - self.baseline_rss_bytes)


def _entry(root: Path, key: str) -> Path:
    return Path(root) / key


def lookup(root, key: str) -> Cached | None:
    """The cached artifact for `key`, or None; an entry whose files changed is removed with a warning."""
    folder = _entry(root, key)
    manifest_file = folder / MANIFEST
    if not manifest_file.is_file():
        return None
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        path = folder / manifest["artifact"]
        if not path.exists() or content_sha256(path) != manifest["sha256"]:
            raise ValueError("its files no longer match the recorded SHA-256")
        cost = manifest["convert"]
        return Cached(path, key, manifest["sha256"], float(cost["seconds"]), int(cost["peak_rss_bytes"]), int(cost["baseline_rss_bytes"]))
    except (ValueError, KeyError, TypeError, OSError) as exc:
        warnings.warn(f"cached artifact {folder} rejected ({exc}); it is removed and rebuilt", stacklevel=2)
        shutil.rmtree(folder, ignore_errors=True)
        return None


def store(root, key: str, built, seconds: float, peak_rss_bytes: int, baseline_rss_bytes: int) -> Cached:
    """Move a freshly built artifact into the cache under `key`; the manifest is written last."""
    folder = _entry(root, key)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    path = folder / Path(built).name
    shutil.move(str(built), str(path))
    sha256 = content_sha256(path)
    write_json_atomic(folder / MANIFEST, {
        "artifact": path.name, "sha256": sha256,
        "convert": {"seconds": seconds, "peak_rss_bytes": peak_rss_bytes, "baseline_rss_bytes": baseline_rss_bytes},
    })
    return Cached(path, key, sha256, seconds, peak_rss_bytes, baseline_rss_bytes)
