"""Measuring cost: latency sampling (peak RAM and disk size join here with the quantization study)."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np


def sample_latency_ms(fn: Callable[[], object], repeats: int = 30, warmup: int = 3) -> np.ndarray:
    """Wall-clock milliseconds of `repeats` calls of `fn`, after `warmup` untimed calls."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1; got {repeats}")
    for _ in range(max(warmup, 0)):
        fn()
    samples = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        fn()
        samples[i] = (time.perf_counter() - start) * 1e3
    return samples


def latency_summary(samples_ms, per: int = 1) -> dict[str, float]:
    """p50/p95/mean of samples, divided by `per` (items per call) to give per-item latency."""
    values = np.asarray(samples_ms, dtype=np.float64) / per
    return {
        "p50_ms": float(np.percentile(values, 50)),
        "p95_ms": float(np.percentile(values, 95)),
        "mean_ms": float(values.mean()),
        "n": int(values.size),
    }
