"""Any artifact as an MTEB model: mteb 2's encoder protocol over the workbench's embedding of one artifact.

`mteb_model` builds one (format, variant) of a model, or takes it from the artifact cache, opens it in its
runtime (or in its stand-in where that runtime cannot run here, as study 03 does) and returns an encoder that
`mteb.evaluate` accepts, with a `ModelMeta` that says which format, variant and runtime made the vectors.
Queries get the model's query prompt and documents its document prompt, from the registry, as MTEB's own model
implementations apply them; STS sentences get none, as in the workbench's own STS figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from mteb.models.model_meta import ModelMeta, ScoringFunction
from mteb.similarity_functions import cos_sim, dot_score, pairwise_cos_sim, pairwise_dot_score
from mteb.types import PromptType

from workbench.convert.registry import RunsOn
from workbench.core.cache import cached_embed_many
from workbench.core.embedding import Recipe
from workbench.core.models import LoadedModel, ModelSpec
from workbench.core.progress import progress_bar
from workbench.mteb_bridge.rows import PromptKind

Embed = Callable[[list[str], PromptKind], np.ndarray]  # texts and the prompt they take -> float32 [n, dim]


def prompt_kind(prompt_type: PromptType | None) -> PromptKind:
    if prompt_type is None:
        return "none"
    return "query" if PromptType(prompt_type) == PromptType.query else "document"


@dataclass
class ArtifactEncoder:
    """What `mteb.evaluate` calls: texts from MTEB's data loaders in, one artifact's vectors out."""

    embed: Embed
    mteb_model_meta: ModelMeta
    normalized: bool = True  # the recipe L2-normalises: dot product and cosine agree, as the workbench scores

    def encode(self, inputs, *, task_metadata, hf_split: str, hf_subset: str,
               prompt_type: PromptType | None = None, **kwargs: Any) -> np.ndarray:
        texts = [text for batch in inputs for text in batch["text"]]
        return self.embed(texts, prompt_kind(prompt_type))

    def similarity(self, embeddings1, embeddings2):
        return (dot_score if self.normalized else cos_sim)(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1, embeddings2):
        return (pairwise_dot_score if self.normalized else pairwise_cos_sim)(embeddings1, embeddings2)


def model_meta(spec: ModelSpec, fmt: str, variant: str, runs_on: RunsOn, recipe: Recipe, revision: str,
               n_parameters: int | None) -> ModelMeta:
    """MTEB's record of the artifact: the model's hub id and weights revision, and as the experiment, the format,
    variant, what ran it and the recipe (MTEB files the results under a folder named from these)."""
    framework: list[Any] = {"torch": ["PyTorch"], "onnx": ["ONNX"]}.get(fmt, [])
    return ModelMeta(
        loader=None, name=spec.hf_id, revision=revision, release_date=None, languages=None,
        n_parameters=n_parameters, memory_usage_mb=None, max_tokens=recipe.max_length, embed_dim=spec.dim,
        license=None, open_weights=True, public_training_code=None, public_training_data=None,
        framework=framework, reference=None, similarity_fn_name=ScoringFunction.DOT_PRODUCT if recipe.normalize else ScoringFunction.COSINE,
        use_instructions=bool(spec.query_prompt or spec.document_prompt), training_datasets=None,
        adapted_from=spec.hf_id if (fmt, variant) != ("torch", "fp32") else None,
        experiment_kwargs={"format": fmt, "variant": variant, "runs_on": runs_on, "max_length": recipe.max_length,
                           "last_n_layers": recipe.last_n_layers, "pooling": recipe.pooling})


def prompt_for(spec: ModelSpec, kind: PromptKind) -> str:
    return {"query": spec.query_prompt, "document": spec.document_prompt, "none": ""}[kind]


def live_embed(runner: LoadedModel, recipe: Recipe, batch_size: int = 32) -> Embed:
    """Embed through `runner` in batches, with a progress bar, reading the embeddings cache where it can."""

    def embed(texts: list[str], kind: PromptKind) -> np.ndarray:
        with progress_bar(len(texts), f"mteb: embed {runner.spec.name} {runner.precision}", unit="text") as bar:
            out = cached_embed_many(runner, texts, {"": recipe}, prompt=prompt_for(runner.spec, kind),
                                    batch_size=batch_size, on_batch=bar.update)
        return out[""].vectors

    return embed


def replay_embed(vectors: dict[tuple[PromptKind, str], np.ndarray]) -> Embed:
    """The vectors an artifact already returned for these texts (in study 03's evaluation step), looked up by
    text and prompt; a text it did not embed is an error, never a fresh vector from elsewhere."""

    def embed(texts: list[str], kind: PromptKind) -> np.ndarray:
        missing = [t for t in texts if (kind, t) not in vectors]
        if missing:
            raise KeyError(f"MTEB asked for {len(missing)} text(s) with prompt {kind!r} that the artifact did not "
                           f"embed in this run (first: {missing[0][:60]!r})")
        return np.stack([vectors[(kind, t)] for t in texts]).astype(np.float32)

    return embed
