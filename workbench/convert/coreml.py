"""Core ML artifacts (mlprogram) and their compressed variants, written on any OS.

The package is `EmbeddingGraph` traced at batch 1 x max_length: input_ids and attention_mask in,
the [1, dim] embedding out, pooling and L2 inside. Static shapes, because dynamic length with
masked pooling crashes the converter (coremltools issue 2825). `MLModel.predict` needs macOS:
there every compute unit is timed; elsewhere accuracy comes from the compressed weights
decompressed back into the same torch graph, not from the Core ML runtime.
"""

from __future__ import annotations

import re
import sys
from copy import deepcopy
from dataclasses import replace
from pathlib import Path

import numpy as np

from workbench.convert import palettes
from workbench.convert.graph import OUTPUT_NAME, EmbeddingGraph, eager, torch_encoder
from workbench.convert.registry import Converter, Runtime, fixed_shape, register
from workbench.core.embedding import Recipe
from workbench.core.models import LoadedModel, ModelSpec
from workbench.core.precision import PlatformNotAvailable

VARIANTS = {
    "fp32": "float32 weights and compute",
    "fp16": "float16 weights and compute",
    "int8": "int8 linear symmetric, per output channel",
    "int4": "int4 linear symmetric, per block of 32 (coremltools' recommended 4-bit)",
    "palette4": "k-means palettization, 4 bits (16 values) per tensor",
    "palette4g16": "k-means palettization, 4 bits, one palette per group of 16 output channels (recommended)",
    "palette6": "k-means palettization, 6 bits (64 values) per tensor",
    "palette8": "k-means palettization, 8 bits (256 values) per tensor",
    "joint4": "joint compression: palette4, then each palette stored as int8 instead of fp16",
}
BLOCK_SIZE = 32
GROUP_SIZE = 16
WEIGHT_THRESHOLD = 2048  # coremltools compresses only constants with more values than this (its default)
NOT_ON_LINUX = "not measured on this platform: Core ML prediction needs macOS"
COMPUTE_UNITS = ("ALL", "CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE")  # ALL first: the default, and the headline


def preflight(loaded: LoadedModel | None = None) -> None:
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


def package(path, compute_units: str = "ALL"):
    """The package ready for prediction on the given compute units (macOS only)."""
    import coremltools as ct

    if compute_units not in COMPUTE_UNITS:
        raise ValueError(f"compute units {compute_units!r} are not known; choose from {', '.join(COMPUTE_UNITS)}")
    if not can_predict():
        raise PlatformNotAvailable(NOT_ON_LINUX)
    return ct.models.MLModel(str(path), compute_units=getattr(ct.ComputeUnit, compute_units))


def predict_encoder(mlmodel, max_length: int, side: str):
    """(ids, mask) -> [B, dim]: each text padded to the traced [1, max_length] and predicted alone."""

    def encode(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        fixed_ids, fixed_mask = fixed_shape(ids, mask, max_length, side)
        out = [mlmodel.predict({"input_ids": fixed_ids[i:i + 1].astype(np.int32),
                                "attention_mask": fixed_mask[i:i + 1].astype(np.int32)})[OUTPUT_NAME]
               for i in range(len(fixed_ids))]
        return np.concatenate(out, axis=0).astype(np.float32)

    return encode


def trace_and_convert(loaded: LoadedModel, recipe: Recipe, path, precision: str = "fp16") -> Path:
    """Trace the EmbeddingGraph at batch 1 x max_length and convert it to an fp32 or fp16 mlprogram."""
    import coremltools as ct
    import torch

    preflight()
    graph = EmbeddingGraph(eager(loaded), recipe).eval()
    ids = torch.ones(1, recipe.max_length, dtype=torch.long)
    with torch.no_grad():
        traced = torch.jit.trace(graph, (ids, torch.ones_like(ids)))
    inputs = [ct.TensorType(name=name, shape=(1, recipe.max_length), dtype=np.int32)
              for name in ("input_ids", "attention_mask")]
    mlmodel = ct.convert(traced, inputs=inputs, outputs=[ct.TensorType(name=OUTPUT_NAME)],
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


def weight_shapes(mlmodel) -> dict[str, tuple[int, ...]]:
    """Name and shape of every constant with WEIGHT_THRESHOLD values or more, read from the spec alone.

    The same names and shapes as `cto.get_weights_metadata`, without its cost: that loads the whole program and
    keeps every weight's values (and their unique values) until it returns, which at 4B is the fp16 model once
    more before the compression loads it again.
    """
    shapes = {}

    def walk(block) -> None:
        for op in block.operations:
            for inner in op.blocks:
                walk(inner)
            if op.type == "const":
                shape = tuple(int(d.constant.size) for d in op.attributes["val"].type.tensorType.dimensions)
                if int(np.prod(shape, dtype=np.int64)) >= WEIGHT_THRESHOLD:  # coremltools' own test
                    shapes[op.outputs[0].name] = shape

    for function in mlmodel.get_spec().mlProgram.functions.values():
        for block in function.block_specializations.values():
            walk(block)
    return shapes


def folded_table_configs(mlmodel, variant: str) -> dict:
    """Per-row quantization for tables the static trace folded into [1, rows, width] constants.

    A sliced position-embedding table arrives as a [1, 128, 384] constant feeding an `add`;
    coremltools takes its size-1 leading axis as the output channel, so "per channel" becomes
    one scale for the whole table (MiniLM int8: 18 % weight error, int4: 51 %, mean cosine 0.875).
    Block sizes per axis give each row its own scales, as every other table gets.
    """
    if variant not in ("int8", "int4"):
        return {}
    configs = {}
    for name, shape in weight_shapes(mlmodel).items():
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


def _compression(variant: str):
    """The coremltools op config and compressor function for a compressed variant."""
    import coremltools.optimize.coreml as cto

    if variant == "int8":
        return _linear_config("int8", None), cto.linear_quantize_weights
    if variant == "int4":
        return _linear_config("int4", BLOCK_SIZE), cto.linear_quantize_weights
    # k-means palettes: Lloyd on each tensor's histogram (palettes.py), where coremltools' "kmeans" mode runs
    # scikit-learn on every value and does not finish at 4B.
    if variant == "palette4g16":
        return (cto.OpPalettizerConfig(mode="custom", lut_function=palettes.palette_function(4),
                                       granularity="per_grouped_channel", group_size=GROUP_SIZE), cto.palettize_weights)
    if variant.startswith("palette"):
        nbits = int(variant.removeprefix("palette"))
        return (cto.OpPalettizerConfig(mode="custom", lut_function=palettes.palette_function(nbits),
                                       granularity="per_tensor"), cto.palettize_weights)
    if variant == "joint4":
        return (cto.OpPalettizerConfig(mode="custom", lut_function=palettes.palette_function(4),
                                       granularity="per_tensor"), _palettize_then_quantize_palettes)
    raise ValueError(f"Core ML variant {variant!r} is not a compression; choose from {', '.join(list(VARIANTS)[2:])}")


def compress(fp16_path, variant: str, path) -> Path:
    """Compress the weights of the fp16 package with coremltools.optimize.coreml."""
    import coremltools as ct
    import coremltools.optimize.coreml as cto

    preflight()
    op, compressor = _compression(variant)
    mlmodel = ct.models.MLModel(str(fp16_path), skip_model_load=True)
    config = cto.OptimizationConfig(global_config=op, op_name_configs=folded_table_configs(mlmodel, variant))
    compressed = compressor(mlmodel, config)
    path = Path(path)
    compressed.save(str(path))
    return path


def convert(load, recipe: Recipe, variant: str, folder, base=None) -> Path:
    """Write `variant`: fp32/fp16 from the model, the compressions from the fp16 package passed as `base`."""
    if variant not in VARIANTS:
        raise ValueError(f"Core ML variant {variant!r} is not known; choose from {', '.join(VARIANTS)}")
    path = Path(folder) / f"model_{variant}.mlpackage"
    if variant in ("fp32", "fp16"):
        return trace_and_convert(load(), recipe, path, variant)
    if base is None:
        raise ValueError(f"Core ML {variant} compresses the fp16 package: pass its path as base")
    return compress(base, variant, path)


def output_shape(path) -> tuple:
    """The output shape the package declares (read from its spec; no prediction needed)."""
    import coremltools as ct

    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    (output,) = spec.description.output
    return tuple(int(d) for d in output.type.multiArrayType.shape)


def _torch_name(const_name: str) -> str:
    """A Core ML weight const name back to the torch parameter name it was traced from."""
    name = re.sub(r"(_(palettized|quantized|to_fp16|cast_fp16|fp16))+$", "", const_name)
    return name.replace("_", ".")


def compressible_parameters(graph) -> list[str]:
    """Parameters a compression changes: more than WEIGHT_THRESHOLD values and used by the graph (not BERT's
    pooler, whose output no embedding reads). Smaller ones stay fp16 in every variant."""
    return [name for name, p in graph.state_dict().items()
            if p.numel() > WEIGHT_THRESHOLD and not name.startswith("model.pooler.")]


def decompressed_state_dict(package, graph) -> dict:
    """The package's weights, decompressed to float, keyed by the EmbeddingGraph's parameter names.

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
    targets = {name.replace("_", "."): (name, p) for name, p in graph.state_dict().items()}
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


def load(path, spec: ModelSpec, recipe: Recipe) -> Runtime:
    """The package on every compute unit (macOS only): ALL first, the others timed beside it."""
    encoders = {units: predict_encoder(package(path, units), recipe.max_length, spec.padding_side)
                for units in COMPUTE_UNITS}
    return Runtime(encoders.pop(COMPUTE_UNITS[0]), f"Core ML runtime, compute units {COMPUTE_UNITS[0]}",
                   also_timed=encoders)


def stand_in(path, loaded: LoadedModel, recipe: Recipe) -> Runtime:
    """The package's weights decompressed into the torch graph: accuracy where Core ML cannot predict."""
    graph = EmbeddingGraph(eager(replace(loaded, model=deepcopy(loaded.model))), recipe).eval()
    state = decompressed_state_dict(path, graph)
    graph.load_state_dict(state, strict=False)
    compressible = compressible_parameters(graph)
    mapped = len(set(state) & set(compressible))
    return Runtime(torch_encoder(graph, recipe, loaded.spec), "weights decompressed into the torch graph, not the "
                   f"Core ML runtime ({mapped} of {len(compressible)} compressible tensors mapped back)")


CONVERTER = register(Converter(name="coreml", variants=VARIANTS, base="fp16", preflight=preflight, convert=convert,
                               load=load, output_shape=output_shape, code=(__file__,), stand_in=stand_in,
                               build_precision=lambda variant: "fp32" if variant == "fp32" else "fp16",
                               from_model=("fp32",)))
