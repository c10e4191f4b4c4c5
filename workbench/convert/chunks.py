"""A Qwen3 EmbeddingGraph cut into chunks, each built from its own weights: the plan, the torch modules, the sources.

A lean conversion (`coreml_lean`) must never hold the whole model, so each chunk is a small torch module that holds
only its layers and is filled from a `WeightSource` that reads only that chunk's tensors: a model folder's
safetensors one tensor at a time, or seeded random weights built at the chunk's size. Parameter names are the full
EmbeddingGraph's (`model.layers.7.mlp.up_proj.weight`), so a converted chunk's constants map back to them.
"""

from __future__ import annotations

import math
from copy import deepcopy
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

import numpy as np
import torch

from workbench.convert.graph import OUTPUT_NAME, additive_mask, l2_normalize
from workbench.core.architectures import Architecture, architecture, random_spec
from workbench.core.embedding import Recipe, pooled_output
from workbench.core.models import (
    ModelNotAvailableError,
    ModelSpec,
    _load_dense,
    _spec_from_config,
    read_sentence_transformers_config,
    resolve_weights,
)
from workbench.core.precision import PlatformNotAvailable

LAYERS_PER_CHUNK = 4  # at 4B: 0.40 B parameters a chunk, as many as the token table alone (0.39 B)
DenseShape = tuple[int, int, bool, str]  # (in, out, bias, activation) of one Dense module, as Architecture.dense


def dense_shapes(dense: Sequence[Mapping[str, Any]]) -> tuple[DenseShape, ...]:
    """(in, out, bias, activation) of each Dense layer as `load_model` reads them: what a chunk's head is built from."""
    return tuple((d["weight"].shape[1], d["weight"].shape[0], d["bias"] is not None, d["activation"]) for d in dense)


def check_qwen3(model_type: str, what: str) -> None:
    """Refuse what the chunks cannot build, naming the path that can."""
    if model_type != "qwen3":
        raise PlatformNotAvailable(
            f"the lean Core ML path converts Qwen3 decoders (model_type qwen3) only; {what} is {model_type!r}. "
            "Fix: use the plain Core ML path (workbench.convert.coreml.convert), which converts any model")


@dataclass(frozen=True)
class Chunk:
    """One piece of the pipeline: the token table (chunk 0), or decoder layers [start, stop) and maybe the head."""

    index: int
    start: int = 0
    stop: int = 0
    head: bool = False  # final norm, pooling, Dense head and L2: the last chunk

    @property
    def table(self) -> bool:
        return self.index == 0

    @property
    def layers(self) -> range:
        return range(self.start, self.stop)

    @property
    def input_name(self) -> str:
        return "input_ids" if self.table else f"hidden_{self.index - 1}"

    @property
    def output_name(self) -> str:
        return OUTPUT_NAME if self.head else f"hidden_{self.index}"


def plan_chunks(n_layers: int, last_n_layers: int, layers_per_chunk: int = LAYERS_PER_CHUNK) -> tuple[Chunk, ...]:
    """The token table alone, then `layers_per_chunk` layers at a time; the last chunk holds at least the
    `last_n_layers` the recipe averages, so the average happens inside one chunk."""
    if layers_per_chunk < 1:
        raise ValueError(f"layers_per_chunk must be >= 1; got {layers_per_chunk}")
    if last_n_layers > n_layers:
        raise ValueError(f"last_n_layers={last_n_layers} also averages the token table's output (the model has "
                         f"{n_layers} layers), which the lean path keeps in a chunk of its own; use "
                         f"last_n_layers <= {n_layers} or the plain Core ML path")
    tail = n_layers - min(n_layers, max(last_n_layers, layers_per_chunk))
    starts = [*range(0, tail, layers_per_chunk), tail]
    stops = [*starts[1:], n_layers]
    return (Chunk(0), *(Chunk(k + 1, start, stop, head=stop == n_layers)
                        for k, (start, stop) in enumerate(zip(starts, stops))))


class _Model(torch.nn.Module):
    """The `model.` level of the EmbeddingGraph's names, holding only what the chunk needs."""

    embed_tokens: torch.nn.Module
    layers: torch.nn.ModuleDict
    rotary_emb: torch.nn.Module
    norm: torch.nn.Module


class TableChunk(torch.nn.Module):
    """input_ids -> the token embeddings, the first hidden state."""

    def __init__(self, embed_tokens: torch.nn.Module):
        super().__init__()
        self.model = _Model()
        self.model.embed_tokens = embed_tokens

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model.embed_tokens(input_ids)


class LayerChunk(torch.nn.Module):
    """hidden, attention_mask -> the hidden state after its layers; with the head, the [batch, dim] embedding.

    It builds the 4-D causal + padding mask and the rotary position embeddings itself, as Qwen3Model does for the
    whole graph, and its head is the EmbeddingGraph's: the last layer's output through the final norm, then last-N
    average, pooling, Dense layers and clamp (`pooled_output`) and L2.
    """

    def __init__(self, layers: Mapping[int, torch.nn.Module], rotary: torch.nn.Module, recipe: Recipe,
                 norm: torch.nn.Module | None = None, dense: Sequence[torch.nn.Module] = (),
                 activations: Sequence[str] = ()):
        super().__init__()
        self.model = _Model()
        self.model.layers = torch.nn.ModuleDict({str(i): layer for i, layer in layers.items()})
        self.model.rotary_emb = rotary
        if norm is not None:
            self.model.norm = norm
        self.dense = torch.nn.ModuleList(dense)
        self.activations = list(activations)
        self.recipe = recipe
        self.head = norm is not None

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = additive_mask(attention_mask, causal=True).to(hidden.dtype)
        positions = torch.arange(hidden.shape[1])[None]
        rotary = self.model.rotary_emb(hidden, positions)
        states = []
        for layer in self.model.layers.values():
            hidden = layer(hidden, attention_mask=mask, position_embeddings=rotary, position_ids=positions)
            states.append(hidden)
        if not self.head:
            return hidden
        states[-1] = self.model.norm(hidden)
        dense = [{"weight": d.weight, "bias": d.bias, "activation": a} for d, a in zip(self.dense, self.activations)]
        pooled = pooled_output(states, attention_mask, self.recipe, dense)
        return l2_normalize(pooled) if self.recipe.normalize else pooled


class WeightSource(Protocol):
    """Where a chunk's weights come from: only the tensors asked for, in fp16, never the whole model."""

    config: Any  # the whole model's transformers config (Qwen3Config)
    spec: ModelSpec
    dense_head: tuple[DenseShape, ...]

    def chunk_state(self, chunk: Chunk, names: list[str]) -> dict[str, torch.Tensor]:
        """The tensors `names` (EmbeddingGraph parameter names) of `chunk`, in fp16."""
        ...


def build_chunk(source: WeightSource, chunk: Chunk, recipe: Recipe) -> torch.nn.Module:
    """`chunk` holding its own weights only: built empty on the meta device, then given the source's tensors, so
    no other chunk's weights and no initialisation are ever allocated."""
    from transformers.models.qwen3.modeling_qwen3 import Qwen3DecoderLayer, Qwen3RMSNorm, Qwen3RotaryEmbedding

    config = deepcopy(source.config)
    config._attn_implementation = "eager"  # the attention every exporter can trace
    module: torch.nn.Module
    if chunk.table:
        with torch.device("meta"):
            module = TableChunk(torch.nn.Embedding(config.vocab_size, config.hidden_size, config.pad_token_id))
    else:
        head = source.dense_head if chunk.head else ()
        with torch.device("meta"):
            layers = {i: Qwen3DecoderLayer(config, i) for i in chunk.layers}
            norm = Qwen3RMSNorm(config.hidden_size, eps=config.rms_norm_eps) if chunk.head else None
            dense = [torch.nn.Linear(n_in, n_out, bias=bias) for n_in, n_out, bias, _ in head]
        rotary = Qwen3RotaryEmbedding(config)  # inv_freq is computed, not stored: built for real, in fp32
        module = LayerChunk(layers, rotary, recipe, norm, dense, [activation for *_, activation in head])
    module.load_state_dict(source.chunk_state(chunk, list(module.state_dict())), strict=True, assign=True)
    return module.eval()


def _local_folder(name_or_path: str | Path) -> tuple[Path, ModelSpec | None]:
    """The folder holding the weights (a local folder, a registry model, a hub id in the local cache)."""
    source, spec = resolve_weights(str(name_or_path))
    if Path(source).is_dir():
        return Path(source), spec
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(source, local_files_only=True)), spec
    except LocalEntryNotFoundError as exc:
        raise ModelNotAvailableError(f"{source} is not in the local Hugging Face cache. Fix: `hf download {source}` "
                                     "on a machine with network and copy the cache here, or pass a local folder"
                                     ) from exc


class SafetensorsSource:
    """A Qwen3 model folder (or a registry name or hub id in the local cache): each tensor read alone with
    `safe_open`; the Dense head, small, read whole the way `load_model` reads it."""

    def __init__(self, name_or_path: str | Path):
        from safetensors import safe_open
        from transformers import AutoConfig

        self.folder, spec = _local_folder(name_or_path)
        self.config = AutoConfig.from_pretrained(self.folder, trust_remote_code=False, local_files_only=True)
        check_qwen3(self.config.model_type, str(name_or_path))
        self._where: dict[str, tuple[Path, str]] = {}  # parameter name -> (file, key in the file)
        for file in sorted(self.folder.glob("*.safetensors")):
            with safe_open(str(file), framework="pt") as handle:  # reads the header alone
                for key in handle.keys():
                    self._where["model." + key.removeprefix("model.")] = (file, key)  # Qwen3Model or *ForCausalLM
        if not self._where:
            raise ModelNotAvailableError(f"{self.folder} has no *.safetensors weights; the workbench loads "
                                         "safetensors only (no pickle)")
        st_config = read_sentence_transformers_config(self.folder)  # as load_model reads the folder
        dense = [_load_dense(d) for d in st_config.get("dense", [])]
        if dense:
            st_config["dense_out"] = dense[-1]["out_features"]
        if spec is None:
            spec = _spec_from_config(str(name_or_path), self.config, st_config)
        elif st_config.get("pooling") and st_config["pooling"] != spec.pooling:
            spec = replace(spec, pooling=st_config["pooling"])
        self.spec = spec
        self.dense_head = dense_shapes(dense)
        self._dense = {f"dense.{j}.{part}": d[part] for j, d in enumerate(dense) for part in ("weight", "bias")
                       if d[part] is not None}

    def chunk_state(self, chunk: Chunk, names: list[str]) -> dict[str, torch.Tensor]:
        from safetensors import safe_open

        missing = [n for n in names if n not in self._where and n not in self._dense]
        if missing:
            raise ModelNotAvailableError(f"{self.folder}: its safetensors hold no {', '.join(missing[:3])}: not a "
                                         "complete Qwen3 checkpoint")
        state = {n: self._dense[n].to(torch.float16) for n in names if n in self._dense}
        by_file: dict[Path, list[str]] = {}
        for name in names:
            if name in self._where:
                by_file.setdefault(self._where[name][0], []).append(name)
        for file, group in by_file.items():
            with safe_open(str(file), framework="pt") as handle:
                for name in group:
                    state[name] = handle.get_tensor(self._where[name][1]).to(torch.float16)
        return state


def chunk_seed(seed: int, index: int) -> int:
    """The seed of chunk `index`: a well-mixed function of both, so no two chunks or base seeds share weights."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


class RandomSource:
    """An exact architecture with seeded random fp16 weights, each chunk from a seed of its own, initialised as
    `random_model` does (transformers' own init through from_config) but at the chunk's size."""

    def __init__(self, arch: Architecture | str, seed: int = 0):
        self.arch = architecture(arch) if isinstance(arch, str) else arch
        check_qwen3(self.arch.config["model_type"], self.arch.name)
        self.seed = seed
        self.config = self.arch.transformers_config()
        self.spec = random_spec(self.arch)
        self.dense_head = self.arch.dense

    def chunk_state(self, chunk: Chunk, names: list[str]) -> dict[str, torch.Tensor]:
        from transformers import AutoModel

        config = deepcopy(self.config)
        config.num_hidden_layers = len(chunk.layers)
        config.layer_types = config.layer_types[chunk.start:chunk.stop]
        if not chunk.table:  # a one-row table, so the chunk's model does not build and initialise the real one
            config.vocab_size, config.pad_token_id = 1, None
        torch.manual_seed(chunk_seed(self.seed, chunk.index))
        model = AutoModel.from_config(config, dtype=torch.float16)
        state = {}
        for key, value in model.state_dict().items():
            if key.startswith("layers."):
                layer, rest = key.removeprefix("layers.").split(".", 1)
                state[f"model.layers.{chunk.start + int(layer)}.{rest}"] = value
            elif (key == "embed_tokens.weight" and chunk.table) or (key == "norm.weight" and chunk.head):
                state[f"model.{key}"] = value
        for j, (n_in, n_out, bias, _) in enumerate(self.dense_head if chunk.head else ()):  # as random_model
            state[f"dense.{j}.weight"] = torch.randn(n_out, n_in, dtype=torch.float16) / math.sqrt(n_in)
            if bias:
                state[f"dense.{j}.bias"] = torch.zeros(n_out, dtype=torch.float16)
        return {name: state[name] for name in names}
