"""ONNX artifacts for ONNX Runtime: fp32, fp16 (weights and activations), int8 dynamic.

The exported graph is `EmbeddingGraph`: input_ids and attention_mask at the recipe's
max_length (any batch) in, the [batch, dim] embedding out, pooling and L2 included.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.convert.graph import OUTPUT_NAME, EmbeddingGraph, eager
from workbench.convert.registry import Converter, Runtime, fixed_shape, register
from workbench.core.embedding import Recipe
from workbench.core.models import LoadedModel, ModelSpec
from workbench.core.precision import PlatformNotAvailable

VARIANTS = {
    "fp32": "float32 weights and compute",
    "fp16": "float16 weights and activations, float32 inputs and outputs",
    "int8": "int8 dynamic quantization of the weights (activations quantized per call)",
}
OPSET = 17
MODEL_FILE = "model.onnx"
PROTOBUF_LIMIT = 1_800_000_000  # bytes of weights above which they are saved as external data
INPUTS = ("input_ids", "attention_mask")


def preflight(loaded: LoadedModel | None = None) -> None:
    """Fail with the fix when onnx / onnxruntime cannot do what this module needs."""
    import importlib.util

    for package, why in (("onnx", "the exporter and int8 quantization"), ("onnxruntime", "running the graphs")):
        if importlib.util.find_spec(package) is None:
            raise PlatformNotAvailable(f"{package} is not installed; it is needed for {why}. Fix: pip install {package}")


def export(loaded: LoadedModel, recipe: Recipe, path) -> Path:
    """The FP32 EmbeddingGraph through the legacy (TorchScript) exporter; batch dynamic, tokens fixed."""
    import torch

    preflight()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    graph = EmbeddingGraph(eager(loaded), recipe).eval()
    ids = torch.ones(2, recipe.max_length, dtype=torch.long)
    axes = {name: {0: "batch"} for name in (*INPUTS, OUTPUT_NAME)}
    with torch.no_grad():
        torch.onnx.export(graph, (ids, torch.ones_like(ids)), str(path), input_names=list(INPUTS),
                          output_names=[OUTPUT_NAME], dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    return path


def _is_large(model) -> bool:
    """Past protobuf's 2 GB limit the weights must live in an external data file beside the graph."""
    import math

    from onnx.helper import tensor_dtype_to_np_dtype

    return sum(math.prod(t.dims) * tensor_dtype_to_np_dtype(t.data_type).itemsize
               for t in model.graph.initializer) > PROTOBUF_LIMIT  # from shapes: no copy of the weights


def to_fp16(fp32_folder, path) -> Path:
    """FP16 weights and activations, with FP32 inputs/outputs kept so callers do not change."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    # From the path, not a loaded proto: its shape inference then works on files past protobuf's 2 GB limit
    # (Qwen3-Embedding-0.6B in fp32 is 2.38 GB; a loaded proto fails with "Failed to serialize proto").
    model = convert_float_to_float16(str(Path(fp32_folder) / MODEL_FILE), keep_io_types=True)
    onnx.save(model, str(path), save_as_external_data=_is_large(model), location=f"{Path(path).name}.data")
    return Path(path)


def to_int8(fp32_folder, path) -> Path:
    """INT8 dynamic quantization of the weights (activations quantized per call by ONNX Runtime)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    large = _is_large(onnx.load(str(Path(fp32_folder) / MODEL_FILE), load_external_data=False)) or \
        any(Path(fp32_folder).glob("*.data"))
    quantize_dynamic(str(Path(fp32_folder) / MODEL_FILE), str(path), weight_type=QuantType.QInt8,
                     use_external_data_format=large)
    return Path(path)


def convert(load, recipe: Recipe, variant: str, folder, base=None) -> Path:
    """Write `variant` as a folder holding model.onnx (and its external weights past 2 GB).

    fp16 and int8 derive from the fp32 folder passed as `base`.
    """
    if variant not in VARIANTS:
        raise ValueError(f"ONNX variant {variant!r} is not known; choose from {', '.join(VARIANTS)}")
    out = Path(folder) / f"onnx_{variant}"
    out.mkdir(parents=True, exist_ok=True)
    if variant == "fp32":
        export(load(), recipe, out / MODEL_FILE)
    elif base is None:
        raise ValueError(f"ONNX {variant} is derived from the fp32 graph: pass its folder as base")
    else:
        (to_fp16 if variant == "fp16" else to_int8)(base, out / MODEL_FILE)
    return out


def session(path, threads: int = 0):
    """An ONNX Runtime CPU session (threads 0: its own default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def load(path, spec: ModelSpec, recipe: Recipe) -> Runtime:
    """An ONNX Runtime session whose encode pads each batch to the graph's token count."""
    sess = session(Path(path) / MODEL_FILE)

    def encode(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        ids, mask = fixed_shape(ids, mask, recipe.max_length, spec.padding_side)
        return sess.run([OUTPUT_NAME], {"input_ids": ids, "attention_mask": mask})[0]

    return Runtime(encode, "ONNX Runtime CPU")


def output_shape(path) -> tuple:
    """The output's declared shape: a name for a dynamic axis, a number for a fixed one."""
    import onnx

    (output,) = onnx.load(str(Path(path) / MODEL_FILE), load_external_data=False).graph.output
    return tuple(d.dim_param or d.dim_value for d in output.type.tensor_type.shape.dim)


CONVERTER = register(Converter(name="onnx", variants=VARIANTS, base="fp32", preflight=preflight, convert=convert,
                               load=load, output_shape=output_shape, code=(__file__,),
                               serving_script=str(Path(__file__).with_name("serve_onnx.py"))))
