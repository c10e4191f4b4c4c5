"""Measuring cost: latency sampling, peak RAM of a step in a clean child process, bytes on disk."""

from __future__ import annotations

import time
from dataclasses import dataclass
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


# ---------------------------------------------------------------- memory and disk


class ChildProcessFailed(RuntimeError):
    """A measured step died in its child process (killed by the OS, out of memory, crashed)."""


@dataclass(frozen=True)
class ChildRun:
    """What a step returned in its own process, and what it cost there."""

    value: object
    peak_rss_bytes: int  # the child's peak resident memory while the step ran (interpreter + imports included)
    baseline_rss_bytes: int  # its resident memory just before the step ran (interpreter + imports)
    seconds: float

    @property
    def step_rss_bytes(self) -> int:
        """Peak memory the step itself added on top of the interpreter and imports."""
        return max(0, self.peak_rss_bytes - self.baseline_rss_bytes)


def maxrss_bytes() -> int:
    """This process's peak resident set size so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def current_rss_bytes() -> int:
    """Resident bytes now, after handing freed heap back to the OS (glibc keeps freed memory resident,
    and whatever is built into it next would look free)."""
    import ctypes
    import ctypes.util

    import psutil

    libc = ctypes.util.find_library("c")
    if libc and hasattr(ctypes.CDLL(libc), "malloc_trim"):
        ctypes.CDLL(libc).malloc_trim(0)
    return int(psutil.Process().memory_info().rss)


def _reset_peak_rss() -> bool:
    """Start the peak-RSS counter afresh (Linux: VmHWM via /proc/self/clear_refs), so import spikes do not count."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_rss_since_reset() -> int:
    """VmHWM after a reset; elsewhere ru_maxrss, the peak over the process's whole life."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return maxrss_bytes()


def _child_entry(fn, args, kwargs):
    baseline = current_rss_bytes()
    _reset_peak_rss()
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, max(_peak_rss_since_reset(), baseline), baseline, time.perf_counter() - start


def run_in_child(fn: Callable, *args, preload: tuple[str, ...] = (), **kwargs) -> ChildRun:
    """Run `fn(*args, **kwargs)` in a fresh process and report its peak RSS.

    A new process (not a fork of this one) starts with clean memory, so the peak belongs to the
    step and not to whatever the parent had loaded. `fn` must be importable (module level).
    With `preload`, children are forked from a small server that imported those modules once,
    which saves the import time of every child (the sweep's points start in milliseconds); the
    server keeps the modules of its first call.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    method = "forkserver" if preload and "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(list(preload))
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        try:
            value, peak, baseline, seconds = pool.submit(_child_entry, fn, args, kwargs).result()
        except BrokenProcessPool as exc:
            raise ChildProcessFailed(
                f"{getattr(fn, '__name__', fn)} died in its child process (killed by the OS, often out of "
                "memory); nothing was measured for it"
            ) from exc
    return ChildRun(value, peak, baseline, seconds)


def dir_size_bytes(path) -> int:
    """Bytes on disk of a file, or of every file under a folder (what a model package or index really costs)."""
    from pathlib import Path

    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def available_memory_bytes() -> int:
    """Memory the OS can give without swapping, to decide whether a step fits before running it."""
    import psutil

    return int(psutil.virtual_memory().available)
