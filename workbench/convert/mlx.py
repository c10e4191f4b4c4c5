"""MLX variants of Qwen3-family decoders: fp32, and 4-/8-bit affine quantization, group 64.

mlx-lm supplies the Qwen3 layers; the weights are read from the local safetensors
folder (embedding checkpoints are saved without the `model.` prefix and LM head
that `mlx_lm.load` expects), and the layers are run one by one so every hidden
state comes back for the workbench's pooling.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from workbench.convert.graph import MASK_MIN
from workbench.core.precision import PlatformNotAvailable

VARIANTS = ("fp32", "q8", "q4")
BITS = {"q8": 8, "q4": 4}
GROUP_SIZE = 64
SUPPORTED_TYPES = ("qwen3",)


def preflight(model_type: str | None = None) -> None:
    """Name what MLX cannot do here (missing package, a model family mlx-lm lacks) and what to do."""
    import importlib.util

    for package in ("mlx", "mlx_lm"):
        if importlib.util.find_spec(package) is None:
            raise PlatformNotAvailable(f"{package.replace('_', '-')} is not installed. "
                                       "Fix: pip install 'mlx[cpu]' mlx-lm on Linux, or mlx mlx-lm on macOS")
    if model_type is not None and model_type not in SUPPORTED_TYPES:
        raise PlatformNotAvailable(
            f"not supported by MLX here: model type {model_type!r} (BERT-family encoders are not in mlx-lm); "
            f"this study runs MLX for {', '.join(SUPPORTED_TYPES)} checkpoints only. Use Core ML or ONNX for it.")


def _config(source) -> dict:
    return json.loads((Path(source) / "config.json").read_text())


def _quantizable(group_size: int):
    """Quantize Linear/Embedding layers whose input width divides into whole groups; leave the rest float."""
    import mlx.nn as nn

    def predicate(_path, module):
        return isinstance(module, (nn.Linear, nn.Embedding)) and module.weight.shape[-1] % group_size == 0

    return predicate


def _build(config: dict, weights: dict, bits: int | None):
    """A Qwen3 body (no LM head) with `weights`, quantized in place when `bits` is set."""
    from mlx_lm.models import qwen3

    body = qwen3.Qwen3Model(qwen3.ModelArgs.from_dict(config))
    if bits:
        _quantize(body, bits)  # the same layers as when it was written, so the saved weights fit
    body.load_weights(list(weights.items()), strict=True)
    body.eval()
    return body


def build(variant: str, source: str, folder) -> Path:
    """Write one variant as a folder (weights.safetensors + config.json) and return its path."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    if variant not in VARIANTS:
        raise ValueError(f"MLX variant {variant!r} is not known; choose from {', '.join(VARIANTS)}")
    config = _config(source)
    preflight(config.get("model_type"))
    weights = {}
    for file in sorted(Path(source).glob("*.safetensors")):
        for name, value in mx.load(str(file)).items():
            if not name.startswith("lm_head."):
                weights[name.removeprefix("model.")] = value.astype(mx.float32)
    body = _build(config, weights, None)
    bits = BITS.get(variant)
    if bits:
        config = {**config, "workbench_mlx": {"bits": bits, "group_size": GROUP_SIZE,
                                              "quantized_layers": _quantize(body, bits)}}
    out = Path(folder) / f"mlx_{variant}"
    out.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(out / "weights.safetensors"), dict(tree_flatten(body.parameters())))
    (out / "config.json").write_text(json.dumps(config, indent=1))
    return out


def _quantize(body, bits: int) -> int:
    """Quantize in place; returns how many layers were quantized."""
    import mlx.nn as nn

    predicate = _quantizable(GROUP_SIZE)
    count = sum(1 for path, module in body.named_modules() if predicate(path, module))
    nn.quantize(body, GROUP_SIZE, bits, class_predicate=predicate)
    return count


def load(path):
    """A saved variant, ready to run."""
    import mlx.core as mx

    config = json.loads((Path(path) / "config.json").read_text())
    bits = config.get("workbench_mlx", {}).get("bits")
    return _build(config, mx.load(str(Path(path) / "weights.safetensors")), bits)


def layers_runner(body):
    """(ids, mask) -> stacked hidden layers (causal AND padding mask), for `with_backend`."""
    import mlx.core as mx

    def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        size = ids.shape[1]
        keep = mask[:, None, None, :].astype(np.float32) * np.tril(np.ones((size, size), np.float32))[None, None]
        additive = mx.array((1.0 - keep) * MASK_MIN)
        h = body.embed_tokens(mx.array(ids.astype(np.int32)))
        states = [h]
        for layer in body.layers:
            h = layer(h, additive, None)
            states.append(h)
        states[-1] = body.norm(h)
        stacked = mx.stack(states, axis=0)
        mx.eval(stacked)
        return np.array(stacked, copy=False)

    return run
