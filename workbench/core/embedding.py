"""The embedding recipe and the torch embedding loop.

`Recipe` holds every knob of the seed pipeline (fixed padding, last-N layer
averaging, pooling, FP16 clamp, L2 normalisation); `embed` runs it and checks
what comes out (dimension, NaN/inf) on every call, so a silent pipeline
mismatch becomes a loud error.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Callable, TypeVar

import numpy as np
import torch

from workbench.core.models import LoadedModel, ModelSpec
from workbench.core.pooling import average_last_layers, check_pooling, pool
from workbench.core.precision import FP16_MAX

PADDING_MODES = ("max_length", "longest")


class DimensionMismatchError(RuntimeError):
    """The pipeline produced vectors of a size the model spec does not declare."""


class NonFiniteEmbeddingError(RuntimeError):
    """NaN or inf came out of the model: usually FP16 overflow without the clamp."""


@dataclass(frozen=True)
class Recipe:
    """How texts become vectors. Defaults are the seed's on-device recipe."""

    padding: str = "max_length"  # fixed shapes, as a converted Core ML model needs
    max_length: int = 32
    last_n_layers: int = 4
    pooling: str = "mean"
    clamp_fp16: bool = True
    normalize: bool = True

    def __post_init__(self):
        if self.padding not in PADDING_MODES:
            raise ValueError(f"padding {self.padding!r} is not valid; choose from {', '.join(PADDING_MODES)}")
        if not isinstance(self.max_length, int) or self.max_length < 2:
            raise ValueError(f"max_length must be an integer >= 2 (room for special tokens); got {self.max_length!r}")
        if not isinstance(self.last_n_layers, int) or self.last_n_layers < 1:
            raise ValueError(f"last_n_layers must be an integer >= 1; got {self.last_n_layers!r}")
        check_pooling(self.pooling)

    @classmethod
    def model_default(cls, spec: ModelSpec) -> "Recipe":
        """The recipe the model was trained and published with (what sentence-transformers does)."""
        return cls(
            padding="longest",
            max_length=spec.max_tokens,
            last_n_layers=1,
            pooling=spec.pooling,
            clamp_fp16=False,
            normalize=True,
        )

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Embeddings:
    """Vectors for a list of texts, plus what a drift analysis needs."""

    vectors: np.ndarray  # final float32 vectors (L2-normalised when the recipe says so)
    pooled: np.ndarray  # after pooling and clamp, before normalisation (float32); an artifact: its output
    n_tokens: np.ndarray  # tokens per text before truncation, special tokens included
    truncated: np.ndarray  # bool: text was cut at max_length
    precision: str
    recipe: Recipe

    @property
    def n_truncated(self) -> int:
        return int(self.truncated.sum())


def check_texts(texts) -> list[str]:
    """A non-empty list of strings, or one message naming the first bad item.

    An empty string is a text like any other (sentence-transformers embeds it as the model's special tokens
    alone): real corpora hold empty documents. The loaders refuse empty queries and STS sentences instead.
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not a single string; wrap it: [text]")
    try:
        texts = list(texts)
    except TypeError:
        raise TypeError(f"texts must be a list of strings; got {type(texts).__name__}") from None
    if not texts:
        raise ValueError("texts is empty: pass at least one non-empty string")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is {type(text).__name__}, not str: {text!r:.60}; convert or drop it")
    return texts


def hidden_layers(model, decoder: bool, deepest: int, **inputs) -> list[torch.Tensor]:
    """One forward pass of `model` on `inputs`: the hidden layers last-N averaging reads, the last one as the model
    returns it (some decoders store the pre-norm state last), so `embed` and every exported graph agree."""
    extra = {"use_cache": False} if decoder else {}
    out = model(**inputs, output_hidden_states=deepest > 1, **extra)
    if deepest == 1:
        return [out.last_hidden_state]
    layers = list(out.hidden_states)
    layers[-1] = out.last_hidden_state
    return layers


_Weight = TypeVar("_Weight", torch.Tensor, None)  # a Dense layer's bias may be None; its weight never is


def _in_dtype(tensor: _Weight, dtype: torch.dtype) -> _Weight:
    """`tensor` in `dtype`, with no cast when it already is: a traced graph then keeps the weight's own name."""
    return tensor if tensor is None or tensor.dtype == dtype else tensor.to(dtype)


def pooled_output(layers: list[torch.Tensor], mask: torch.Tensor, recipe: Recipe, dense_layers: list[dict]) -> torch.Tensor:
    """Layers -> pooled vectors: last-N average, pooling, Dense layers, FP16 clamp, in the layers' dtype.

    The one implementation of the recipe's head: `embed` runs it after a torch forward pass and
    every exported graph (`workbench.convert.graph.EmbeddingGraph`) traces it.
    """
    hidden = average_last_layers(layers, recipe.last_n_layers)
    pooled = pool(recipe.pooling, hidden, mask)
    for layer in dense_layers:
        pooled = torch.nn.functional.linear(pooled, _in_dtype(layer["weight"], pooled.dtype),
                                            _in_dtype(layer["bias"], pooled.dtype))
        if layer["activation"] == "Tanh":
            pooled = torch.tanh(pooled)
    if recipe.clamp_fp16:
        pooled = pooled.clamp(-FP16_MAX, FP16_MAX)
    return pooled


def _batch_vectors(loaded: LoadedModel, batch: dict, recipes: dict[str, Recipe], deepest: int) -> dict[str, np.ndarray]:
    """One batch through the model: a converted artifact's own output, or the torch forward pass and head."""
    if loaded.encoder is not None:  # the artifact applies its recipe inside: every recipe name gets its output
        out = np.asarray(loaded.encoder(batch["input_ids"].numpy(), batch["attention_mask"].numpy()), np.float32)
        return dict.fromkeys(recipes, out)
    layers = hidden_layers(loaded.model, loaded.spec.architecture == "decoder", deepest, **batch)
    return {name: pooled_output(layers, batch["attention_mask"], recipe, loaded.dense_layers).float().cpu().numpy()
            for name, recipe in recipes.items()}


def embed_many(
    loaded: LoadedModel,
    texts,
    recipes: dict[str, Recipe],
    prompt: str = "",
    batch_size: int = 32,
    on_batch: Callable[[int], object] | None = None,
) -> dict[str, Embeddings]:
    """Embed `texts` once per forward pass for several recipes that share padding and max_length.

    Texts are batched longest-first so dynamic padding wastes little work; the
    output keeps the input order. `on_batch(n)` is called after each batch of n
    texts (a progress bar's update, for instance).
    """
    texts = check_texts(texts)
    spec = loaded.spec
    if not recipes:
        raise ValueError("recipes is empty: pass at least one Recipe")
    first = next(iter(recipes.values()))
    if any((r.padding, r.max_length) != (first.padding, first.max_length) for r in recipes.values()):
        raise ValueError("embed_many: all recipes must share padding and max_length (one tokenisation)")
    if first.max_length > spec.max_tokens:
        raise ValueError(
            f"max_length {first.max_length} exceeds what {spec.name} accepts ({spec.max_tokens} tokens); "
            f"use max_length <= {spec.max_tokens}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    tokenizer = loaded.tokenizer
    inputs = [prompt + t for t in texts]
    n_tokens = np.array([len(ids) for ids in tokenizer(inputs, truncation=False, verbose=False)["input_ids"]])
    if (n_tokens == 0).any():
        first_empty = int(np.flatnonzero(n_tokens == 0)[0])
        raise ValueError(f"texts[{first_empty}] = {texts[first_empty]!r} becomes no tokens at all: {spec.name}'s "
                         "tokenizer adds no special tokens, so there is nothing to embed; drop the empty texts")
    truncated = n_tokens > first.max_length
    order = np.argsort(-n_tokens, kind="stable")
    deepest = max(r.last_n_layers for r in recipes.values())
    pooled: dict[str, list] = {name: [None] * len(texts) for name in recipes}  # every slot filled below
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = tokenizer(
                [inputs[i] for i in idx],
                padding=first.padding,
                truncation=True,
                max_length=first.max_length,
                return_tensors="pt",
            ).to(loaded.device)
            for name, vectors in _batch_vectors(loaded, dict(batch), recipes, deepest).items():
                for row, i in enumerate(idx):
                    pooled[name][int(i)] = vectors[row]
            if on_batch is not None:
                on_batch(len(idx))
    if truncated.any():
        warnings.warn(
            f"{int(truncated.sum())} of {len(texts)} texts are longer than max_length={first.max_length} tokens "
            "and were truncated",
            stacklevel=2,
        )
    out = {}
    for name, recipe in recipes.items():
        stacked = np.stack(pooled[name])
        _check_output(stacked, spec, texts)
        vectors = stacked
        if recipe.normalize:
            norms = np.linalg.norm(stacked.astype(np.float64), axis=1, keepdims=True)
            vectors = (stacked / np.maximum(norms, 1e-12)).astype(np.float32)
        out[name] = Embeddings(vectors, stacked, n_tokens, truncated, loaded.precision, recipe)
    return out


def embed(
    loaded: LoadedModel,
    texts,
    recipe: Recipe = Recipe(),
    prompt: str = "",
    batch_size: int = 32,
    on_batch: Callable[[int], object] | None = None,
) -> Embeddings:
    """Embed `texts` with `loaded` (at its own precision and device) following `recipe`."""
    return embed_many(loaded, texts, {"": recipe}, prompt, batch_size, on_batch)[""]


def _check_output(pooled: np.ndarray, spec: ModelSpec, texts: list[str]) -> None:
    """Fail loudly on a dimension mismatch or on NaN/inf, naming the texts affected."""
    if pooled.shape[1] != spec.dim:
        raise DimensionMismatchError(
            f"{spec.name} produced {pooled.shape[1]}-d vectors but its spec declares {spec.dim}; "
            "the weights do not match the spec (wrong folder?) or a Dense/projection module is missing"
        )
    bad = ~np.isfinite(pooled).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise NonFiniteEmbeddingError(
            f"{int(bad.sum())} of {len(texts)} embeddings contain NaN or inf (first: texts[{first}] = "
            f"{texts[first][:60]!r}); at fp16 this is usually overflow: set clamp_fp16=True or use fp32/bf16"
        )
