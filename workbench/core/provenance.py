"""Which weights a run measured: the hub revision and a SHA-256 per safetensors file, recorded with the run.

A hub id resolves to a snapshot that can change upstream; a user who re-runs next month must be able to tell
whether the weights moved. The files are hashed where they lie (the hub cache, a local folder, the packaged
model), and `workbench compare` flags two runs whose weights differ.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.core.records import Table

if TYPE_CHECKING:  # loading a model imports torch; reading provenance back (workbench compare) must not
    from workbench.core.models import LoadedModel

_SNAPSHOT = re.compile(r"^[0-9a-f]{40}$")
CHUNK = 1 << 24  # bytes read per step while hashing


@dataclass(frozen=True)
class WeightsFile:
    name: str  # relative to the weights folder
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class WeightsProvenance:
    """Where the weights came from and exactly which bytes they were."""

    source: str  # the hub id, or the folder the weights were read from
    folder: str  # where the files lie (the hub cache's snapshot folder for a hub id)
    revision: str | None  # the hub snapshot's commit; None for a folder outside the hub cache
    files: tuple[WeightsFile, ...] = ()


WEIGHTS: Table[WeightsProvenance] = Table("weights", "weights/1", WeightsProvenance)


def weights_folder(source: str) -> Path | None:
    """The folder holding a model's files: `source` itself, or the cached snapshot of a hub id (None when the
    hub cache does not hold it)."""
    if Path(source).is_dir():
        return Path(source)
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(source, "config.json")
    return Path(found).parent if isinstance(found, str) else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def of(loaded: LoadedModel) -> WeightsProvenance:
    """The provenance of a loaded model's weights; random weights have no files and say so in `source`."""
    folder = weights_folder(loaded.source) if loaded.tokenizer is not None else None
    if folder is None:
        return WeightsProvenance(source=loaded.source, folder="", revision=None)
    revision = folder.name if _SNAPSHOT.match(folder.name) and folder.parent.name == "snapshots" else None
    files = tuple(WeightsFile(str(p.relative_to(folder)), p.stat().st_size, sha256_of(p))
                  for p in sorted(folder.rglob("*.safetensors")))
    return WeightsProvenance(source=loaded.source, folder=str(folder), revision=revision, files=files)


def fingerprint(weights: WeightsProvenance) -> dict[str, str]:
    """What identifies the weights, by label, for comparing two runs (folders may differ between machines)."""
    out = {"weights revision": weights.revision or "(not from the hub)"}
    out.update({f"weights sha256, {f.name}": f.sha256 for f in weights.files})
    return out


def revision_label(weights: WeightsProvenance) -> str:
    """One string for the weights' version: the hub snapshot, or else the start of the first file's SHA-256."""
    if weights.revision:
        return weights.revision
    return f"sha256-{weights.files[0].sha256[:16]}" if weights.files else "local"
