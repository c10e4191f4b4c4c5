"""One interface for every export format: each format module registers a `Converter`.

A converter turns a model and a recipe into the artifact a user ships for one variant,
loads it, and encodes with it: token ids and mask at the recipe's fixed shape in, the
final [batch, dim] embedding out. Studies iterate `CONVERTERS` and never branch on a
format's name; adding a format is one module that calls `register`.
"""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Protocol

import numpy as np

if TYPE_CHECKING:
    from workbench.core.embedding import Recipe
    from workbench.core.models import LoadedModel, ModelSpec
    from workbench.core.precision import ModelPrecision

Encode = Callable[[np.ndarray, np.ndarray], np.ndarray]  # int64 ids, mask [B, T] -> float32 [B, dim]
# How an artifact is made: "plain" converts the whole model at once (and compresses the whole package); "lean"
# builds it a part at a time from the weights, so conversion memory follows the part, not the model.
ConversionPath = Literal["plain", "lean"]
# What embedded with an artifact: its own runtime, or its weights decompressed into the torch graph (a stand-in).
RunsOn = Literal["runtime", "stand-in"]


@dataclass(frozen=True)
class Runtime:
    """A loaded artifact: how to encode with it, and what its numbers mean."""

    encode: Encode
    description: str  # what produced the vectors: the runtime, or the stand-in used where it cannot run
    representative: bool = True  # False: runs here, but its speed says nothing about the target device
    also_timed: dict[str, Encode] = field(default_factory=dict)  # other compute units timed beside the default


# The callables a converter registers. Each is a Protocol so that its parameters have names: the pipeline passes
# them by position, and a name that says something else (`loaded` where a ModelSpec comes) is refused at
# construction, not found later in a wrong call.


class Preflight(Protocol):
    """Whether this machine can build the format (for this model, when given); raises PlatformNotAvailable naming
    the fix."""

    def __call__(self, loaded: LoadedModel | None = None) -> None: ...


class Convert(Protocol):
    """Write one variant's artifact into `folder` and return its path; `load` builds the model only when needed,
    `base` is the base artifact's path for a variant that derives from it."""

    def __call__(self, load: Callable[[], LoadedModel], recipe: Recipe, variant: str, folder: str | Path,
                 base: str | Path | None = None) -> str | Path: ...


class ConvertFromSource(Protocol):
    """Write one variant's artifact from a source of weights that hands out a part at a time
    (`chunks.WeightSource`): the lean path, which never holds the whole model. `base` is the base artifact's
    path for a variant that derives from it."""

    def __call__(self, source: Any, recipe: Recipe, variant: str, folder: str | Path,
                 base: str | Path | None = None) -> str | Path: ...


class Load(Protocol):
    """The artifact opened in its real runtime; PlatformNotAvailable where that cannot run here."""

    def __call__(self, path: str | Path, spec: ModelSpec, recipe: Recipe) -> Runtime: ...


class OutputShape(Protocol):
    """The output shape the artifact declares, batch axis first."""

    def __call__(self, path: str | Path) -> tuple: ...


class StandIn(Protocol):
    """The artifact's weights decompressed into the torch graph: accuracy where the real runtime cannot run here
    or is too slow to embed the evaluation sets."""

    def __call__(self, path: str | Path, loaded: LoadedModel, recipe: Recipe) -> Runtime: ...


class BuildPrecision(Protocol):
    """The dtype a network built from scratch (random weights) is created in before converting `variant`: that of
    the weights the format starts from, so a 4B model is not first built in 16 GB of fp32."""

    def __call__(self, variant: str) -> ModelPrecision: ...


def _check_parameters(name: str, role: str, function: Callable, protocol: type) -> None:
    """Refuse a callable whose parameters are not the protocol's, by name and in order (more only with defaults)."""
    expected = list(inspect.signature(protocol.__call__).parameters)[1:]  # without self
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):  # no signature to read (a builtin): nothing to compare
        return
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    required_more = [p for p in parameters[len(expected):] if p.default is p.empty and p.kind not in variadic]
    if [p.name for p in parameters[:len(expected)]] != expected or required_more:
        raise TypeError(f"converter {name!r}: {role} takes ({', '.join(p.name for p in parameters)}); "
                        f"registry.{protocol.__name__} takes ({', '.join(expected)})")


@dataclass(frozen=True)
class Converter:
    """What a format offers: its variants, and convert / load / output_shape (and a stand-in) for an artifact."""

    name: str
    variants: dict[str, str]  # variant -> what it does to the weights
    base: str | None  # the variant the others are derived from (built first); None when each stands alone
    preflight: Preflight
    convert: Convert | None  # None for a converter that builds from a source of weights instead
    load: Load
    output_shape: OutputShape
    outside_graph: str = ""  # steps the artifact cannot hold, run by encode around it ("" when none)
    stand_in: StandIn | None = None
    code: tuple[str, ...] = ()  # source files whose content versions the artifacts (part of the cache key)
    build_precision: BuildPrecision = lambda variant: "fp32"
    from_model: tuple[str, ...] = ()  # variants converted from the model itself besides `base` (Core ML fp32)
    convert_from_source: ConvertFromSource | None = None  # the lean path's convert, given a WeightSource
    conversion_path: ConversionPath = "plain"  # recorded in every row the converter's artifacts make
    replaces: str = ""  # a lean converter: the plain format whose variants it makes a part at a time
    model_types: tuple[str, ...] = ()  # the config model_types it converts; () for any
    # The script a fresh process runs to load an artifact and embed a batch (`core.serving`): what the artifact's
    # resident memory is measured with. The default serves it through `load`, whose module imports torch.
    serving_script: str = str(Path(__file__).with_name("serve_converter.py"))

    def __post_init__(self) -> None:
        """A callable whose parameters are not named as its protocol's fails here, when its module registers it."""
        if (self.convert is None) == (self.convert_from_source is None):
            raise TypeError(f"converter {self.name!r}: give exactly one of convert and convert_from_source")
        roles = {"preflight": Preflight, "convert": Convert, "load": Load, "output_shape": OutputShape,
                 "stand_in": StandIn, "build_precision": BuildPrecision, "convert_from_source": ConvertFromSource}
        for role, protocol in roles.items():
            if getattr(self, role) is not None:
                _check_parameters(self.name, role, getattr(self, role), protocol)

    def derives(self, variant: str) -> bool:
        """Whether `variant` is made from the base artifact (which must be built first) rather than the model."""
        return self.base is not None and variant != self.base and variant not in self.from_model


CONVERTERS: dict[str, Converter] = {}


def register(converter: Converter) -> Converter:
    """Make a format available to every study; called once at the end of its module."""
    CONVERTERS[converter.name] = converter
    return converter


def on_path(fmt: str, variant: str, path: ConversionPath, model_type: str) -> str:
    """The format that makes `variant` of `fmt` on `path`: the lean converter replacing `fmt` where it converts
    this model_type and variant, else `fmt` itself (the plain path converts every model and variant)."""
    if path not in ("plain", "lean"):
        raise ValueError(f"conversion path {path!r} is not known; choose plain or lean")
    for converter in CONVERTERS.values() if path == "lean" else ():
        if converter.replaces == fmt and variant in converter.variants and model_type in converter.model_types:
            return converter.name
    return fmt


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
