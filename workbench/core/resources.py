"""Measuring cost: latency sampling, peak RAM of a step in a clean child process, bytes on disk."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

import numpy as np

from workbench.core.units import GB

T = TypeVar("T")  # what a step run in a child process returns


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
    """A measured step died in its child process (killed by the OS or by its limits, crashed).

    `peak_rss_bytes` is the most the process tree was seen holding before it died (0 when never sampled):
    a step killed for memory is evidence of what it needs.
    """

    def __init__(self, message: str, peak_rss_bytes: int = 0, seconds: float = 0.0):
        super().__init__(message)
        self.peak_rss_bytes = peak_rss_bytes
        self.seconds = seconds


@dataclass(frozen=True)
class ChildRun(Generic[T]):
    """What a step returned in its own process, and what it cost there."""

    value: T
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


STEP_LOG_ENV = "WORKBENCH_STEP_LOG"  # a file that receives every child step's stdout and stderr (library logs, bars)


def _to_log(path: str | None) -> None:
    """Send this process's stdout and stderr (file descriptors 1 and 2, so C libraries too) to the step log."""
    import os
    import sys

    if not path:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        return  # the run's folder is gone: the output stays where it was rather than failing the step
    os.fchmod(fd, 0o644)  # readable by whoever reads the report, whatever the umask
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _start_forkserver(log: str | None) -> None:
    """Start the fork server with its output in the step log: its preloaded libraries' import messages
    (coremltools' "Failed to load ...") would otherwise land in the caller's output, a report page."""
    import os
    import sys
    from multiprocessing import forkserver

    if not log:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        _to_log(log)
        forkserver.ensure_running()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def _child_entry(fn, args, kwargs, log, caller):
    from workbench.core.lifetime import end_with_caller

    end_with_caller(caller)  # a child of the fork server would otherwise outlive a killed kernel
    _to_log(log)
    baseline = current_rss_bytes()
    _reset_peak_rss()
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, max(_peak_rss_since_reset(), baseline), baseline, time.perf_counter() - start


def tree_rss_bytes(pid: int) -> int:
    """Resident bytes of a process and all its descendants (0 once it is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            pass
    return total


class _Watchdog:
    """Samples a worker's process-tree RSS every `interval` s; kills it past a memory or time limit."""

    def __init__(self, pool, memory_limit_bytes: int | None, timeout_s: float | None, interval: float = 0.2):
        import threading

        self.pool, self.memory_limit, self.timeout, self.interval = pool, memory_limit_bytes, timeout_s, interval
        self.peak, self.start = 0, time.perf_counter()
        self.reason: str | None = None  # why it killed the worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            for pid in list(getattr(self.pool, "_processes", None) or {}):
                rss = tree_rss_bytes(pid)
                self.peak = max(self.peak, rss)
                elapsed = time.perf_counter() - self.start
                if self.memory_limit and rss > self.memory_limit:
                    self._kill(pid, f"killed at {rss / GB:.1f} GB: past the memory limit of "
                                    f"{self.memory_limit / GB:.1f} GB set for one step on this machine")
                elif self.timeout and elapsed > self.timeout:
                    self._kill(pid, f"stopped after {elapsed / 60:.1f} min: past the time limit of "
                                    f"{self.timeout / 60:.0f} min set for one step")

    def _kill(self, pid: int, reason: str) -> None:
        import psutil

        self.reason = reason
        try:
            root = psutil.Process(pid)
            for process in [*root.children(recursive=True), root]:
                process.kill()
        except psutil.Error:
            pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_in_child(fn: Callable[..., T], *args, preload: tuple[str, ...] = (), memory_limit_bytes: int | None = None,
                 timeout_s: float | None = None, **kwargs) -> ChildRun[T]:
    """Run `fn(*args, **kwargs)` in a fresh process and report its peak RSS.

    A new process (not a fork of this one) starts with clean memory, so the peak belongs to the
    step and not to whatever the parent had loaded. `fn` must be importable (module level).
    With `preload`, children are forked from a small server that imported those modules once,
    which saves the import time of every child (the sweep's points start in milliseconds); the
    server keeps the modules of its first call. With WORKBENCH_STEP_LOG set, the child's output goes to
    that file instead of the caller's (a report page never shows converter logs). The child ends itself within a
    second of the caller dying, by any signal (`lifetime.end_with_caller`). A watchdog samples the child's process tree,
    so the peak includes any process it starts; past `memory_limit_bytes` or `timeout_s` it kills
    the child and the ChildProcessFailed it raises says so, with the peak reached.
    """
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from workbench.core.lifetime import caller_identity

    method = "forkserver" if preload and "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(list(preload))
        _start_forkserver(os.environ.get(STEP_LOG_ENV))
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        future = pool.submit(_child_entry, fn, args, kwargs, os.environ.get(STEP_LOG_ENV), caller_identity())
        watchdog = _Watchdog(pool, memory_limit_bytes, timeout_s)
        try:
            value, peak, baseline, seconds = future.result()
        except BrokenProcessPool as exc:
            reason = watchdog.reason or "killed by the OS, often out of memory"
            raise ChildProcessFailed(
                f"{getattr(fn, '__name__', fn)} died in its child process ({reason}); nothing was measured for it",
                watchdog.peak, time.perf_counter() - watchdog.start) from exc
        finally:
            watchdog.stop()
    return ChildRun(value, max(peak, watchdog.peak), baseline, seconds)


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
