"""One interface for every export format: each format module registers a `Converter`.

A converter turns a model and a recipe into the artifact a user ships for one variant,
loads it, and encodes with it: token ids and mask at the recipe's fixed shape in, the
final [batch, dim] embedding out. Studies iterate `CONVERTERS` and never branch on a
format's name; adding a format is one module that calls `register`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

Encode = Callable[[np.ndarray, np.ndarray], np.ndarray]  # int64 ids, mask [B, T] -> float32 [B, dim]


@dataclass(frozen=True)
class Runtime:
    """A loaded artifact: how to encode with it, and what its numbers mean."""

    encode: Encode
    description: str  # what produced the vectors: the runtime, or the stand-in used where it cannot run
    representative: bool = True  # False: runs here, but its speed says nothing about the target device
    also_timed: dict[str, Encode] = field(default_factory=dict)  # other compute units timed beside the default


@dataclass(frozen=True)
class Converter:
    """What a format offers: its variants, and convert / load / output_shape (and a stand-in) for an artifact."""

    name: str
    variants: dict[str, str]  # variant -> what it does to the weights
    base: str | None  # the variant the others are derived from (built first); None when each stands alone
    preflight: Callable  # (LoadedModel | None) -> None; raises PlatformNotAvailable naming the fix
    convert: Callable  # (load: () -> LoadedModel, recipe, variant, folder, base_path | None) -> artifact path
    load: Callable  # (path, spec, recipe) -> Runtime of the real runtime; PlatformNotAvailable where it cannot run
    output_shape: Callable  # (path) -> the output shape the artifact declares, batch axis first
    outside_graph: str = ""  # steps the artifact cannot hold, run by encode around it ("" when none)
    # (path, LoadedModel, recipe) -> Runtime: the artifact's weights decompressed into the torch graph, for
    # accuracy where the real runtime cannot run here or is too slow to embed the evaluation sets
    stand_in: Callable | None = None
    code: tuple[str, ...] = ()  # source files whose content versions the artifacts (part of the cache key)
    # variant -> the dtype a network built from scratch (random weights) is created in before converting: the
    # dtype of the weights the format starts from, so a 4B model is not first built in 16 GB of fp32
    build_precision: Callable[[str], str] = lambda variant: "fp32"
    from_model: tuple[str, ...] = ()  # variants converted from the model itself besides `base` (Core ML fp32)

    def derives(self, variant: str) -> bool:
        """Whether `variant` is made from the base artifact (which must be built first) rather than the model."""
        return self.base is not None and variant != self.base and variant not in self.from_model


CONVERTERS: dict[str, Converter] = {}


def register(converter: Converter) -> Converter:
    """Make a format available to every study; called once at the end of its module."""
    CONVERTERS[converter.name] = converter
    return converter


def get(name: str) -> Converter:
    """The converter for a format name, or an error that lists the known ones."""
    if name not in CONVERTERS:
        close = difflib.get_close_matches(str(name), CONVERTERS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"format {name!r} is not known{hint} Choose from {', '.join(CONVERTERS)}")
    return CONVERTERS[name]


def fixed_shape(ids: np.ndarray, mask: np.ndarray, length: int, side: str) -> tuple[np.ndarray, np.ndarray]:
    """Pad a batch to the artifact's fixed token count on the model's padding side (mask 0 hides the padding)."""
    if ids.shape[1] > length:
        raise ValueError(f"the artifact takes at most {length} tokens; got {ids.shape[1]}")
    pad = ((0, 0), (length - ids.shape[1], 0)) if side == "left" else ((0, 0), (0, length - ids.shape[1]))
    return np.pad(ids, pad).astype(np.int64), np.pad(mask, pad).astype(np.int64)
