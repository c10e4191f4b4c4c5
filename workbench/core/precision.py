"""Every precision vocabulary with the conversions between them, and the devices the torch backend runs.

Three concepts, each spelled one way: the dtype a model runs in, the precision stored vectors are kept in
(sentence-transformers' names), and what a faiss index stores. The spellings are the ones results.json and the
reports show, so each is a `Literal` of those strings rather than an enum with values of its own.
"""

from __future__ import annotations

from typing import Literal, get_args

ModelPrecision = Literal["fp32", "fp16", "bf16"]  # the dtype a model's weights and activations run in (torch)
StoragePrecision = Literal["float32", "float16", "int8", "uint8", "binary", "ubinary"]  # stored vectors (study 06)
EnginePrecision = Literal["fp32", "fp16", "int8", "binary"]  # what the faiss engines store (studies 04, 06)

PRECISIONS: tuple[ModelPrecision, ...] = get_args(ModelPrecision)
STORAGE_PRECISIONS: tuple[StoragePrecision, ...] = get_args(StoragePrecision)
ENGINE_PRECISIONS: tuple[EnginePrecision, ...] = get_args(EnginePrecision)
# the storage precisions a faiss index also holds, each under the engine's name for it
ENGINE_PRECISION: dict[StoragePrecision, EnginePrecision] = {"float32": "fp32", "float16": "fp16", "int8": "int8",
                                                             "binary": "binary"}
DEVICES = ("cpu", "cuda", "mps")
FP16_MAX = 65504.0  # largest finite IEEE half-precision value; the seed recipe clamps to it


class PlatformNotAvailable(RuntimeError):
    """A step needs hardware or an OS this machine does not have; reported, never faked."""


def model_precision(precision: str) -> ModelPrecision:
    """The name as a model precision, or a message listing the supported ones."""
    if precision not in PRECISIONS:
        raise ValueError(
            f"precision {precision!r} is not supported by the torch backend; choose from {', '.join(PRECISIONS)} "
            "(int8 / 4-bit variants belong to the quantization study)"
        )
    return precision  # narrowed to the Literal by the check


def torch_dtype(precision: str):
    """The torch dtype for a precision name, or a message listing the supported ones."""
    import torch

    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    return dtypes[model_precision(precision)]


def storage_precision(precision: str) -> StoragePrecision:
    """The name as a storage precision, or a message listing the valid ones."""
    if precision not in STORAGE_PRECISIONS:
        raise ValueError(f"storage precision {precision!r} is not valid; choose from {', '.join(STORAGE_PRECISIONS)}")
    return precision


def check_device(device: str) -> None:
    """Fail with one clear message when the requested device is not on this machine."""
    import torch

    if device not in DEVICES:
        raise ValueError(f"device {device!r} is not known; choose from {', '.join(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise PlatformNotAvailable("device 'cuda' requested but this machine has no CUDA GPU; use device='cpu'")
    if device == "mps" and not torch.backends.mps.is_available():
        raise PlatformNotAvailable("device 'mps' requested but Metal is not available here; use device='cpu'")
