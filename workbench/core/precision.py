"""Numeric precisions and devices the torch backend runs, with clear errors for the rest."""

from __future__ import annotations

PRECISIONS = ("fp32", "fp16", "bf16")
DEVICES = ("cpu", "cuda", "mps")
FP16_MAX = 65504.0  # largest finite IEEE half-precision value; the seed recipe clamps to it


class PlatformNotAvailable(RuntimeError):
    """A step needs hardware or an OS this machine does not have; reported, never faked."""


def torch_dtype(precision: str):
    """The torch dtype for a precision name, or a message listing the supported ones."""
    import torch

    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if precision not in dtypes:
        raise ValueError(
            f"precision {precision!r} is not supported by the torch backend; choose from {', '.join(PRECISIONS)} "
            "(int8 / 4-bit variants belong to the quantization study)"
        )
    return dtypes[precision]


def check_device(device: str) -> None:
    """Fail with one clear message when the requested device is not on this machine."""
    import torch

    if device not in DEVICES:
        raise ValueError(f"device {device!r} is not known; choose from {', '.join(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise PlatformNotAvailable("device 'cuda' requested but this machine has no CUDA GPU; use device='cpu'")
    if device == "mps" and not torch.backends.mps.is_available():
        raise PlatformNotAvailable("device 'mps' requested but Metal is not available here; use device='cpu'")
