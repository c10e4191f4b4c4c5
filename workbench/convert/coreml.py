"""Core ML conversion (mlprogram) and compressed variants, written on any OS.

Static shapes (batch 1 x max_length tokens): dynamic length with masked pooling
crashes the converter (coremltools issue 2825). `MLModel.predict` needs macOS: there
the study runs the packages on every compute unit; elsewhere accuracy comes from the
compressed weights decompressed back into the torch model (`decompressed_state_dict`),
not from the Core ML runtime.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from workbench.convert.graph import HiddenStates, eager_model
from workbench.core.precision import PlatformNotAvailable

VARIANTS = ("fp32", "fp16", "int8", "int4", "palette4", "palette6", "palette8", "joint4")
DESCRIPTIONS = {
    "fp32": "float32 weights and compute",
    "fp16": "float16 weights and compute",
    "int8": "int8 linear symmetric, per output channel",
    "int4": "int4 linear symmetric, per block of 32",
    "palette4": "k-means palettization, 4 bits (16 values) per tensor",
    "palette6": "k-means palettization, 6 bits (64 values) per tensor",
    "palette8": "k-means palettization, 8 bits (256 values) per tensor",
    "joint4": "joint compression: palette4, then each palette stored as int8 instead of fp16",
}
BLOCK_SIZE = 32
WEIGHT_THRESHOLD = 2048  # coremltools compresses only constants with more values than this (its default)
NOT_ON_LINUX = "not measured on this platform: Core ML prediction needs macOS"
COMPUTE_UNITS = ("ALL", "CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE")  # ALL first: the default, and the headline


def preflight() -> None:
    """Name the known incompatibility and its fix instead of a deep converter traceback."""
    import importlib.util

    if importlib.util.find_spec("coremltools") is None:
        raise PlatformNotAvailable("coremltools is not installed. Fix: pip install coremltools==9.0")
    major, minor = (int(x) for x in np.__version__.split(".")[:2])
    if (major, minor) >= (2, 4):
        raise PlatformNotAvailable(
            f"numpy {np.__version__} breaks coremltools 9.0 (its `_cast` op fails on numpy >= 2.4). "
            "Fix: pip install 'numpy<2.4'")


def can_predict() -> bool:
    """Core ML prediction exists only on macOS."""
    return sys.platform == "darwin"


def load(path, compute_units: str = "ALL"):
    """The package ready for prediction on the given compute units (macOS only)."""
    import coremltools as ct

    if compute_units not in COMPUTE_UNITS:
        raise ValueError(f"compute units {compute_units!r} are not known; choose from {', '.join(COMPUTE_UNITS)}")
    if not can_predict():
        raise PlatformNotAvailable(NOT_ON_LINUX)
    return ct.models.MLModel(str(path), compute_units=getattr(ct.ComputeUnit, compute_units))


def layers_runner(mlmodel, max_length: int):
    """(ids, mask) -> stacked hidden layers, for `workbench.convert.runtime.with_backend`.

    The package was traced at [1, max_length]: each text is padded on the right to that shape
    (mask 0 hides the padding), predicted alone, and trimmed back to the batch's length.
    """

    def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if ids.shape[1] > max_length:
            raise ValueError(f"the Core ML package takes at most {max_length} tokens; got {ids.shape[1]}")
        pad = ((0, 0), (0, max_length - ids.shape[1]))
        fixed_ids, fixed_mask = np.pad(ids, pad).astype(np.int32), np.pad(mask, pad).astype(np.int32)
        out = [mlmodel.predict({"input_ids": fixed_ids[i:i + 1], "attention_mask": fixed_mask[i:i + 1]})
               ["hidden_states"][:, :, :ids.shape[1]] for i in range(len(ids))]
        return np.concatenate(out, axis=1)

    return run


def convert(source: str, path, causal: bool, max_length: int, precision: str = "fp16") -> Path:
    """Trace at batch 1 x max_length and convert to an fp32 or fp16 mlprogram package."""
    import coremltools as ct
    import torch

    preflight()
    wrapper = HiddenStates(eager_model(source), causal)
    ids = torch.ones(1, max_length, dtype=torch.long)
    with torch.no_grad():
        traced = torch.jit.trace(wrapper, (ids, torch.ones_like(ids)))
    inputs = [ct.TensorType(name="input_ids", shape=(1, max_length), dtype=np.int32),
              ct.TensorType(name="attention_mask", shape=(1, max_length), dtype=np.int32)]
    mlmodel = ct.convert(traced, inputs=inputs, outputs=[ct.TensorType(name="hidden_states")],
                         convert_to="mlprogram", minimum_deployment_target=ct.target.iOS18,
                         compute_precision=ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mlmodel.save(str(path))
    return path


def _linear_config(dtype: str, block_size):
    import coremltools.optimize.coreml as cto

    if block_size is None:
        return cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype=dtype, granularity="per_channel")
    return cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype=dtype, granularity="per_block",
                                       block_size=block_size)


def folded_table_configs(mlmodel, variant: str) -> dict:
    """Per-row quantization for tables the static trace folded into [1, rows, width] constants.

    A sliced position-embedding table arrives as a [1, 128, 384] constant feeding an `add`;
    coremltools takes its size-1 leading axis as the output channel, so "per channel" becomes
    one scale for the whole table (MiniLM int8: 18 % weight error, int4: 51 %, mean cosine 0.875).
    Block sizes per axis give each row its own scales, as every other table gets.
    """
    import coremltools.optimize.coreml as cto

    if variant not in ("int8", "int4"):
        return {}
    configs = {}
    for name, meta in cto.get_weights_metadata(mlmodel, weight_threshold=WEIGHT_THRESHOLD).items():
        shape = meta.val.shape
        if len(shape) >= 3 and shape[0] == 1:
            block = (*[1] * (len(shape) - 1), 0 if variant == "int8" else BLOCK_SIZE)
            configs[name] = _linear_config(variant, block)
    return configs


def _palettize_then_quantize_palettes(mlmodel, config):
    """coremltools' joint compression: palettize, then store each palette as int8 instead of fp16."""
    import coremltools.optimize.coreml as cto

    palettized = cto.palettize_weights(mlmodel, config)
    per_palette = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(
        mode="linear_symmetric", dtype="int8", granularity="per_tensor"))  # joint mode requires per tensor
    return cto.linear_quantize_weights(palettized, per_palette, joint_compression=True)


def compress(fp16_path, variant: str, path) -> Path:
    """Compress the weights of the fp16 package with coremltools.optimize.coreml."""
    import coremltools as ct
    import coremltools.optimize.coreml as cto

    preflight()
    if variant == "int8":
        op, compressor = _linear_config("int8", None), cto.linear_quantize_weights
    elif variant == "int4":
        op, compressor = _linear_config("int4", BLOCK_SIZE), cto.linear_quantize_weights
    elif variant.startswith("palette"):
        op = cto.OpPalettizerConfig(mode="kmeans", nbits=int(variant.removeprefix("palette")), granularity="per_tensor")
        compressor = cto.palettize_weights
    elif variant == "joint4":
        op = cto.OpPalettizerConfig(mode="kmeans", nbits=4, granularity="per_tensor")
        compressor = _palettize_then_quantize_palettes
    else:
        raise ValueError(f"Core ML variant {variant!r} is not a compression; choose from {', '.join(VARIANTS[2:])}")
    mlmodel = ct.models.MLModel(str(fp16_path), skip_model_load=True)
    config = cto.OptimizationConfig(global_config=op, op_name_configs=folded_table_configs(mlmodel, variant))
    compressed = compressor(mlmodel, config)
    path = Path(path)
    compressed.save(str(path))
    return path


def build(variant: str, source: str, folder, causal: bool, max_length: int) -> Path:
    """Write one variant (converting the fp16 package first when a compression needs it)."""
    if variant not in VARIANTS:
        raise ValueError(f"Core ML variant {variant!r} is not known; choose from {', '.join(VARIANTS)}")
    folder = Path(folder)
    path = folder / f"model_{variant}.mlpackage"
    if variant in ("fp32", "fp16"):
        return convert(source, path, causal, max_length, variant)
    fp16 = folder / "model_fp16.mlpackage"
    if not fp16.exists():
        convert(source, fp16, causal, max_length, "fp16")
    return compress(fp16, variant, path)


def _torch_name(const_name: str) -> str:
    """A Core ML weight const name back to the torch parameter name it was traced from."""
    name = re.sub(r"(_(palettized|quantized|to_fp16|cast_fp16|fp16))+$", "", const_name)
    return name.removeprefix("model_").replace("_", ".")


def compressible_parameters(model) -> list[str]:
    """Parameters a compression changes: more than WEIGHT_THRESHOLD values, used by the graph (not BERT's
    pooler: the trace returns hidden states). Smaller ones stay fp16 in every variant."""
    return [name for name, p in model.state_dict().items()
            if p.numel() > WEIGHT_THRESHOLD and not name.startswith("pooler.")]


def decompressed_state_dict(package, model) -> dict:
    """The package's weights, decompressed to float, keyed by the torch model's parameter names.

    Only weights that the converter kept as named constants and that match a parameter
    by name and shape are returned (a table the static graph sliced fills its leading
    rows, one gathered at a constant index fills that row); the caller loads them with
    strict=False.
    """
    import coremltools as ct
    import coremltools.optimize.coreml as cto
    import torch

    preflight()
    mlmodel = cto.decompress_weights(ct.models.MLModel(str(package), skip_model_load=True))
    metadata = cto.get_weights_metadata(mlmodel, weight_threshold=0)
    targets = {name.replace("_", "."): (name, p) for name, p in model.state_dict().items()}
    found = {}
    for const_name, meta in metadata.items():
        key = _torch_name(const_name)
        if key not in targets:  # a sliced table is named after its last part: position_embeddings_1
            tail = "." + re.sub(r"\.\d+$", "", key) + ".weight"
            matches = [k for k in targets if k.endswith(tail)]
            key = matches[0] if len(matches) == 1 else key
        if key in targets:
            name, param = targets[key]
            value = torch.from_numpy(np.asarray(meta.val, dtype=np.float32))
            while value.ndim > param.ndim and value.shape[0] == 1:  # a gather folded at batch 1
                value = value[0]
            if tuple(value.shape) == tuple(param.shape):
                found[name] = value
            elif value.ndim == param.ndim and value.shape[1:] == param.shape[1:] and value.shape[0] < param.shape[0]:
                found[name] = param.detach().clone()  # the static graph kept only the rows it uses
                found[name][: value.shape[0]] = value
            elif value.ndim == param.ndim and value.shape[1:] == param.shape[1:] and bool((value == value[0]).all()):
                found[name] = param.detach().clone()  # a gather at constant index 0 (token type): one row repeated
                found[name][0] = value[0]
    return found
