"""MLX artifacts through mlx-embeddings: fp32, fp16, and 8-/4-bit affine quantization in groups of 64.

The artifact is the folder `mlx_embeddings.convert` writes (what a user loads with
`mlx_embeddings.load`), plus `head.json` / `head.safetensors`: the recipe and the model's Dense
layers. MLX has no exported graph: `encode` runs the layers, then pooling, last-N averaging, the
Dense layers, the FP16 clamp and L2 normalisation in MLX operations after them.
mlx-embeddings serves both families the workbench measures (BERT encoders and Qwen3 decoders)
from one loader and one folder format, which mlx-lm (decoders only) cannot.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from copy import deepcopy
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from workbench.convert.graph import MASK_MIN, EmbeddingGraph, eager, torch_encoder
from workbench.convert.registry import Converter, Runtime, fixed_shape, register
from workbench.core.embedding import Recipe
from workbench.core.models import LoadedModel
from workbench.core.precision import FP16_MAX, PlatformNotAvailable

VARIANTS = {
    "fp32": "float32 weights",
    "fp16": "float16 weights",
    "q8": "8-bit affine, groups of 64 (scale and bias per group)",
    "q4": "4-bit affine, groups of 64 (scale and bias per group)",
}
BITS = {"q8": 8, "q4": 4}
GROUP_SIZE = 64
SUPPORTED_TYPES = ("bert", "qwen3")  # model types whose layers encode() walks (others convert and load)
DENSE_IN_MODEL = ("gemma3_text",)  # model types whose mlx-embeddings model holds the Dense modules as dense.N
HEAD_FILE = "head.json"
DENSE_FILE = "head.safetensors"


def preflight(loaded: LoadedModel | None = None) -> None:
    """Name what MLX cannot do here (a missing package, weights not in a folder) and what to do."""
    import importlib.util

    from workbench.core.architectures import is_random

    for package in ("mlx", "mlx_embeddings"):
        if importlib.util.find_spec(package) is None:
            raise PlatformNotAvailable(f"{package.replace('_', '-')} is not installed. "
                                       "Fix: pip install 'mlx[cpu]' mlx-embeddings on Linux, or mlx mlx-embeddings on macOS")
    if loaded is not None and not is_random(loaded) and not Path(loaded.source).is_dir():
        raise PlatformNotAvailable("MLX converts from a local model folder; pass the folder as `model`")


def _stage(loaded: LoadedModel, stage: Path) -> None:
    """The transformer's own files in `stage`: linked from the model folder, or written for a random-weight build.

    Only the top level: mlx-embeddings 0.1.0 globs model*.safetensors recursively and would take a
    sentence-transformers Dense module (2_Dense/model.safetensors) for transformer weights.
    """
    from safetensors.torch import save_file

    from workbench.core.architectures import is_random

    if is_random(loaded):
        loaded.model.save_pretrained(stage)
    else:
        for file in Path(loaded.source).iterdir():
            if file.is_file():
                (stage / file.name).symlink_to(file)
    if loaded.model.config.model_type in DENSE_IN_MODEL and loaded.dense_layers:
        save_file({f"dense.{i}.weight": layer["weight"].contiguous() for i, layer in enumerate(loaded.dense_layers)},
                  str(stage / "model-dense.safetensors"))


def _convert_folder(stage: Path, out: Path, dtype: str, bits: int | None) -> None:
    """mlx-embeddings' conversion (cast, then quantize in groups), without its tokenizer step.

    A random-weight build has no tokenizer, and a model folder's tokenizer files are copied as they are.
    """
    import shutil

    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_embeddings.convert import quantize_model
    from mlx_embeddings.utils import load_config, load_model, save_config, save_weights

    model = load_model(stage, lazy=True)
    config = load_config(stage)
    flat = cast(list[tuple[str, Any]], tree_flatten(model.parameters()))  # a list unless given a destination dict
    weights = {k: v.astype(getattr(mx, dtype)) for k, v in flat}
    if bits is not None:
        model.load_weights(list(weights.items()))
        weights, config = quantize_model(model, config, GROUP_SIZE, bits)
    del model
    save_weights(out, weights, donate_weights=True)
    for file in stage.iterdir():
        if file.suffix in (".json", ".txt", ".model") and file.name != "config.json":
            shutil.copy(file, out)
    save_config(config, config_path=out / "config.json")


def convert(load, recipe: Recipe, variant: str, folder, base=None) -> Path:
    """Write the mlx-embeddings folder for `variant`, with the recipe and Dense layers beside it."""
    import gc

    import mlx.core as mx

    if variant not in VARIANTS:
        raise ValueError(f"MLX variant {variant!r} is not known; choose from {', '.join(VARIANTS)}")
    loaded = load()
    preflight(loaded)
    out = Path(folder) / f"mlx_{variant}"
    in_model = loaded.model.config.model_type in DENSE_IN_MODEL
    dense = {} if in_model else {f"{i}.{k}": mx.array(layer[k].float().numpy())
                                 for i, layer in enumerate(loaded.dense_layers) for k in ("weight", "bias")
                                 if layer[k] is not None}
    head = {"dense_in_model": in_model, "recipe": recipe.as_dict(), "causal": loaded.spec.architecture == "decoder",
            "padding_side": loaded.spec.padding_side, "dim": loaded.spec.dim,
            "dense": [layer["activation"] for layer in loaded.dense_layers]}
    with tempfile.TemporaryDirectory(prefix="mlx-stage-", dir=folder) as stage, \
            contextlib.redirect_stdout(io.StringIO()):  # mlx-embeddings prints "[INFO]" lines
        _stage(loaded, Path(stage))
        del loaded  # a random-weight build is on disk now; holding it too would double the peak
        gc.collect()
        _convert_folder(Path(stage), out, "float32" if variant == "fp32" else "float16", BITS.get(variant))
    _flatten_rope(out / "config.json")
    if dense:
        mx.save_safetensors(str(out / DENSE_FILE), dense)
    (out / HEAD_FILE).write_text(json.dumps(head, indent=1))
    return out


def _flatten_rope(config_file: Path) -> None:
    """Copy rope_theta to the top level where transformers 5 nested it under rope_parameters.

    mlx-embeddings 0.1.0 reads only the top-level key and otherwise assumes a base of one million: a checkpoint saved
    by transformers 5 with another base would get the wrong rotary frequencies (cosine 0.98 to torch
    on the tiny test Qwen3). The published Qwen3-Embedding configs carry the top-level key already.
    """
    config = json.loads(config_file.read_text())
    theta = (config.get("rope_parameters") or {}).get("rope_theta")
    if theta is not None and "rope_theta" not in config:
        config_file.write_text(json.dumps({**config, "rope_theta": theta}, indent=1))


def _head(path) -> dict:
    return json.loads((Path(path) / HEAD_FILE).read_text())


def output_shape(path) -> tuple:
    """The shape encode() returns: [batch, dim] (MLX declares no graph outputs; the head file does)."""
    return ("batch", _head(path)["dim"])


def _hidden_states(model, ids, mask, causal: bool) -> list:
    """Every hidden layer of an mlx-embeddings BERT or Qwen3 model, the last one as its model returns it."""
    import mlx.core as mx

    keep = mask[:, None, None, :].astype(np.float32)
    if causal:
        keep = keep * np.tril(np.ones((ids.shape[1], ids.shape[1]), np.float32))[None, None]
    additive = mx.array((1.0 - keep) * MASK_MIN)
    tokens = mx.array(ids.astype(np.int32))
    if hasattr(model, "encoder"):  # BERT: embeddings, then encoder.layer
        h = model.embeddings(tokens)
        states = [h]
        for layer in model.encoder.layer:
            h = layer(h, additive)
            states.append(h)
        return states
    body = model.model  # Qwen3: embed_tokens, layers, final norm
    h = body.embed_tokens(tokens)
    states = [h]
    for layer in body.layers:
        h = layer(h, additive)
        states.append(h)
    states[-1] = body.norm(h)
    return states


def _pool(name: str, hidden, mask):
    """The workbench's pooling strategies in MLX operations (the torch ones are in workbench.core.pooling)."""
    import mlx.core as mx

    m = mx.array(mask.astype(np.float32))[:, :, None]
    rows = mx.arange(hidden.shape[0])
    if name == "mean":
        return (hidden * m).sum(axis=1) / mx.maximum(m.sum(axis=1), 1.0)
    if name == "mean_unmasked":
        return hidden.mean(axis=1)
    if name == "cls":
        return hidden[rows, mx.array(mask.argmax(axis=1))]
    if name == "last_token":
        return hidden[rows, mx.array(mask.shape[1] - 1 - mask[:, ::-1].argmax(axis=1))]
    if name == "max":  # padding filled with the dtype's lowest finite value, as workbench.core.pooling.max does
        return mx.where(m > 0, hidden, mx.array(mx.finfo(hidden.dtype).min, hidden.dtype)).max(axis=1)
    raise ValueError(f"unknown pooling {name!r}")


def _arrays(file: Path) -> dict[str, Any]:
    """The named arrays of a .safetensors file: the one of `mx.load`'s return types it gives for that format."""
    import mlx.core as mx

    return cast(dict[str, Any], mx.load(str(file)))


def load(path, spec=None, recipe: Recipe | None = None) -> Runtime:
    """The folder loaded with mlx-embeddings, and an encode that applies the head in MLX.

    The recipe and padding side come from the artifact's head file; `spec` and `recipe` are accepted
    for the common interface. On Linux the CPU build runs, but slowly (a MiniLM batch of 32 x 32 tokens
    takes 15 s in fp32 and 500 s in 4-bit on 2 cores): its timings are not representative.
    """
    import mlx.core as mx
    from mlx_embeddings.utils import load_model

    preflight()
    path = Path(path)
    model = load_model(path)
    head = _head(path)
    recipe = Recipe(**head["recipe"])
    dense_file = path / DENSE_FILE
    stored = _arrays(dense_file) if dense_file.exists() else {}
    dense = [] if head.get("dense_in_model") else [(stored[f"{i}.weight"], stored.get(f"{i}.bias"), activation)
                                                   for i, activation in enumerate(head["dense"])]

    model_type = json.loads((path / "config.json").read_text()).get("model_type")

    def encode(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if model_type not in SUPPORTED_TYPES:
            raise PlatformNotAvailable(f"the workbench encodes MLX {', '.join(SUPPORTED_TYPES)} models; this one is "
                                       f"{model_type!r} (converted and loaded, not run). Use Core ML or ONNX to run it")
        ids, mask = fixed_shape(ids, mask, recipe.max_length, head["padding_side"])
        layers = _hidden_states(model, ids, mask, head["causal"])[-recipe.last_n_layers:]
        hidden = mx.stack(layers, axis=0).mean(axis=0) if len(layers) > 1 else layers[0]
        pooled = _pool(recipe.pooling, hidden.astype(mx.float32), mask)
        for weight, bias, activation in dense:
            pooled = pooled @ weight.T + (bias if bias is not None else 0.0)
            pooled = mx.tanh(pooled) if activation == "Tanh" else pooled
        if recipe.clamp_fp16:
            pooled = mx.clip(pooled, -FP16_MAX, FP16_MAX)
        if recipe.normalize:
            pooled = pooled / mx.maximum(mx.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
        mx.eval(pooled)
        return np.array(pooled, dtype=np.float32)

    if _apple() and model_type in SUPPORTED_TYPES:
        return Runtime(encode, "MLX on Apple silicon")
    return Runtime(encode, "MLX CPU build on Linux" if not _apple() else f"MLX, {model_type} not run",
                   representative=False)


def dequantized_weights(path) -> dict[str, np.ndarray]:
    """The artifact's transformer weights as float32 arrays, quantized ones dequantized (group-wise affine)."""
    import mlx.core as mx

    config = json.loads((Path(path) / "config.json").read_text())
    quant = config.get("quantization") or {}
    stored: dict[str, Any] = {}
    for file in sorted(Path(path).glob("model*.safetensors")):
        stored.update(_arrays(file))
    out = {}
    for name, value in stored.items():
        if name.endswith((".scales", ".biases")):
            continue
        prefix = name.removesuffix(".weight")
        if f"{prefix}.scales" in stored:
            value = mx.dequantize(value, stored[f"{prefix}.scales"], stored[f"{prefix}.biases"],
                                  quant["group_size"], quant["bits"])
        out[name] = np.array(value.astype(mx.float32))
    return out


def stand_in(path, loaded: LoadedModel, recipe: Recipe) -> Runtime:
    """The artifact's weights, dequantized, in the torch graph: accuracy without the slow Linux CPU build."""
    import torch

    graph = EmbeddingGraph(eager(replace(loaded, model=deepcopy(loaded.model))), recipe).eval()
    targets = graph.state_dict()
    state = {}
    for name, value in dequantized_weights(path).items():
        for candidate in (f"model.{name}", f"model.{name.removeprefix('model.')}"):
            if candidate in targets and tuple(targets[candidate].shape) == value.shape:
                state[candidate] = torch.from_numpy(value)
                break
    graph.load_state_dict(state, strict=False)
    expected = [n for n in targets if n.startswith("model.") and not n.startswith("model.pooler.")]
    mapped = len(set(state) & set(expected))
    return Runtime(torch_encoder(graph, recipe, loaded.spec), "weights dequantized from the MLX artifact into the "
                   f"torch graph, not the MLX runtime ({mapped} of {len(expected)} tensors mapped back)")


def _apple() -> bool:
    import platform

    return platform.system() == "Darwin" and platform.machine() == "arm64"


CONVERTER = register(Converter(
    name="mlx", variants=VARIANTS, base=None, preflight=preflight, convert=convert, load=load,
    output_shape=output_shape, code=(__file__,), stand_in=stand_in,
    build_precision=lambda variant: "fp32" if variant == "fp32" else "fp16",
    outside_graph="MLX has no exported graph: pooling, Dense layers, clamp and L2 run as MLX operations after "
                  "the layers, in the same encode call"))
