"""ONNX export and ONNX Runtime variants: fp32, fp16 (weights and activations), int8 dynamic.

Every function writes an artifact and returns its path. The graph returns all hidden
layers (`workbench.convert.graph.HiddenStates`); pooling is re-applied outside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.convert.graph import HiddenStates, eager_model
from workbench.core.precision import PlatformNotAvailable

VARIANTS = ("fp32", "fp16", "int8")
OPSET = 17


def preflight() -> None:
    """Fail with the fix when onnx / onnxruntime cannot do what this module needs."""
    import importlib.util

    for package, why in (("onnx", "the exporter and int8 quantization"), ("onnxruntime", "running the graphs")):
        if importlib.util.find_spec(package) is None:
            raise PlatformNotAvailable(f"{package} is not installed; it is needed for {why}. Fix: pip install {package}")


def export_fp32(source: str, folder, causal: bool) -> Path:
    """Export the FP32 transformer with the legacy (TorchScript) exporter; dynamic batch and length."""
    import torch

    preflight()
    path = Path(folder) / "model_fp32.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = HiddenStates(eager_model(source), causal)
    ids = torch.ones(2, 8, dtype=torch.long)
    mask = torch.ones(2, 8, dtype=torch.long)
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
            "hidden_states": {1: "batch", 2: "tokens"}}
    with torch.no_grad():
        torch.onnx.export(wrapper, (ids, mask), str(path), input_names=["input_ids", "attention_mask"],
                          output_names=["hidden_states"], dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    return path


def to_fp16(fp32_path, folder) -> Path:
    """FP16 weights and activations, with FP32 inputs/outputs kept so callers do not change."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    path = Path(folder) / "model_fp16.onnx"
    model = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    onnx.save(model, str(path))
    return path


def to_int8(fp32_path, folder) -> Path:
    """INT8 dynamic quantization of the weights (activations quantized per call by ONNX Runtime)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = Path(folder) / "model_int8.onnx"
    quantize_dynamic(str(fp32_path), str(path), weight_type=QuantType.QInt8)
    return path


def build(variant: str, source: str, folder, causal: bool) -> Path:
    """Write one variant (exporting FP32 first when needed) and return its path."""
    if variant not in VARIANTS:
        raise ValueError(f"ONNX variant {variant!r} is not known; choose from {', '.join(VARIANTS)}")
    fp32 = Path(folder) / "model_fp32.onnx"
    if variant == "fp32" or not fp32.exists():
        fp32 = export_fp32(source, folder, causal)
    if variant == "fp16":
        return to_fp16(fp32, folder)
    if variant == "int8":
        return to_int8(fp32, folder)
    return fp32


def session(path, threads: int = 0):
    """An ONNX Runtime CPU session (threads 0: its own default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def layers_runner(sess):
    """(ids, mask) -> stacked hidden layers, for `workbench.convert.runtime.with_backend`."""

    def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return sess.run(["hidden_states"], {"input_ids": ids, "attention_mask": mask})[0]

    return run
