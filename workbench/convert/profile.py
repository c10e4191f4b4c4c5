"""Profile a network at its true architecture with random weights: what each artifact costs.

Size on disk, conversion time and peak RAM, load time and RSS, and latency depend on the
network, not on the trained values of its weights, so they are measured on a seeded random
build of the exact architecture (`workbench.core.architectures`). Every row says so and holds
no accuracy figure. Each conversion and each load runs in its own child process under a memory
and a time limit: a step killed for memory keeps the peak it reached, and the next step runs.
Measured rows are kept in the cache (`profiles/`), so an interrupted suite resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass

import numpy as np

from workbench.convert import artifacts, registry
from workbench.core.architectures import RANDOM_WEIGHTS, Architecture, random_model, random_spec, total_params
from workbench.core.cache import cache_dir
from workbench.core.embedding import Recipe
from workbench.core.files import write_json_atomic
from workbench.core.precision import PlatformNotAvailable
from workbench.core.progress import progress_bar, quiet_transformers
from workbench.core.resources import (
    ChildProcessFailed,
    available_memory_bytes,
    current_rss_bytes,
    dir_size_bytes,
    latency_summary,
    run_in_child,
    sample_latency_ms,
)

CHILD_PRELOAD = ("workbench.convert.profile", "transformers", "onnxruntime", "coremltools", "mlx_embeddings.utils")
MEASURED = "measured"  # a row's status when its artifact was built (other statuses say why it was not)


@dataclass(frozen=True)
class Subject:
    """A network to profile: an exact (or scaled) architecture, built with seeded random weights."""

    arch: Architecture
    seed: int = 0

    def build(self, precision: str):
        return random_model(self.arch, precision, self.seed)

    @property
    def weights(self) -> str:
        return f"{RANDOM_WEIGHTS} (seed {self.seed})"


def default_memory_limit(margin_bytes: float = 1.5e9) -> int:
    """What one step may hold: the memory available now, less a margin for the notebook and the OS."""
    return int(available_memory_bytes() - margin_bytes)


# ---------------------------------------------------------------- child-process steps (module level for spawn)


def convert_step(fmt: str, variant: str, subject: Subject, recipe: Recipe, folder: str, base: str | None) -> str:
    """Build the network in the dtype the format starts from, and write one artifact."""
    quiet_transformers()
    converter = registry.get(fmt)
    precision = converter.build_precision(variant)
    return str(converter.convert(lambda: subject.build(precision), recipe, variant, folder, base))


def open_step(fmt: str, path: str, spec, recipe: Recipe, vocab_size: int, batch_sizes: tuple, repeats: int,
              seed: int) -> dict:
    """Load the artifact in its runtime (time, RSS), then time it on random token ids where its speed means something."""
    before, start = current_rss_bytes(), time.perf_counter()
    runtime = registry.get(fmt).load(path, spec, recipe)
    out = {"load_s": time.perf_counter() - start, "load_rss_bytes": current_rss_bytes() - before,
           "runtime": runtime.description, "representative": runtime.representative, "latency": {}}
    if runtime.representative:
        rng = np.random.default_rng(seed)
        for batch in batch_sizes:
            ids = rng.integers(1, vocab_size, size=(batch, recipe.max_length), dtype=np.int64)
            mask = np.ones_like(ids)
            samples = sample_latency_ms(lambda: runtime.encode(ids, mask), repeats, warmup=1)
            out["latency"][int(batch)] = latency_summary(samples)
    return out


# ---------------------------------------------------------------- rows


def _new_row(subject: Subject, params: int, fmt: str, variant: str) -> dict:
    return {"model": subject.arch.name, "family": subject.arch.config["model_type"], "params": params,
            "format": fmt, "variant": variant, "key": f"{fmt}_{variant}", "weights": subject.weights,
            "status": MEASURED, "size_bytes": None, "convert_s": None, "convert_peak_rss_bytes": None,
            "load_s": None, "load_rss_bytes": None, "notes": [], "from_cache": False}


def _skipped(subject: Subject, params: int, fmt: str, variant: str, reason: str) -> dict:
    return {**_new_row(subject, params, fmt, variant), "status": "left to the fit", "notes": [reason]}


def _summary(exc: Exception) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip() or 'no message').splitlines()[0]}"


def row_key(subject: Subject, fmt: str, variant: str, recipe: Recipe, settings: dict) -> str:
    """The cache key of one measured row: the network, the converter's code, the recipe and how it was timed."""
    payload = {"arch": asdict(subject.arch), "seed": subject.seed, "format": fmt, "variant": variant,
               "code": artifacts.code_version(registry.get(fmt)), "recipe": recipe.as_dict(), "settings": settings}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _stored(key: str) -> dict | None:
    folder = cache_dir()
    file = folder / "profiles" / f"{key}.json" if folder is not None else None
    if file is None or not file.is_file():
        return None
    try:
        return {**json.loads(file.read_text(encoding="utf-8")), "from_cache": True}
    except (ValueError, OSError):
        file.unlink(missing_ok=True)  # a damaged entry is measured again
        return None


def _store(key: str, row: dict) -> None:
    folder = cache_dir()
    if folder is not None and row["status"] == MEASURED:
        write_json_atomic(folder / "profiles" / f"{key}.json", row)


class _Limits:
    """How each step runs: timing settings, and the memory and time it may take before it is stopped."""

    def __init__(self, batch_sizes, repeats: int, memory_limit_bytes: int | None, timeout_s: float | None):
        self.batch_sizes, self.repeats = tuple(int(b) for b in batch_sizes), int(repeats)
        self.memory, self.timeout = memory_limit_bytes, timeout_s

    def run(self, fn, *args):
        return run_in_child(fn, *args, preload=CHILD_PRELOAD, memory_limit_bytes=self.memory, timeout_s=self.timeout)

    @property
    def settings(self) -> dict:
        return {"batch_sizes": self.batch_sizes, "repeats": self.repeats}


def _convert(row: dict, subject: Subject, recipe: Recipe, scratch: str, base: str | None, limits: _Limits):
    """Build one artifact in a child; fill the row with its cost, or its status and reason."""
    try:
        registry.get(row["format"]).preflight(None)
        built = limits.run(convert_step, row["format"], row["variant"], subject, recipe, scratch, base)
    except PlatformNotAvailable as exc:
        row["status"], row["notes"] = "not on this platform", [str(exc)]
    except ChildProcessFailed as exc:
        row["status"], row["notes"] = "killed", [str(exc)]
        row["convert_peak_rss_bytes"], row["convert_s"] = exc.peak_rss_bytes or None, exc.seconds
    except Exception as exc:  # a converter that cannot handle an architecture: quote it, go on
        row["status"], row["notes"] = "failed", [f"conversion failed: {_summary(exc)}"]
    else:
        row.update(size_bytes=dir_size_bytes(built.value), convert_s=built.seconds,
                   convert_peak_rss_bytes=built.peak_rss_bytes)
        return built.value
    return None


def _open(row: dict, path: str, spec, subject: Subject, recipe: Recipe, limits: _Limits) -> None:
    """Load time and RSS, and latency where the runtime runs representatively here; otherwise a note why not."""
    try:
        opened = limits.run(open_step, row["format"], path, spec, recipe, subject.arch.config["vocab_size"],
                            limits.batch_sizes, limits.repeats, subject.seed).value
    except PlatformNotAvailable as exc:
        row["notes"].append(f"load and latency {exc}")
        return
    except (ChildProcessFailed, Exception) as exc:
        row["notes"].append(f"load failed: {_summary(exc)}")
        return
    row.update(load_s=opened["load_s"], load_rss_bytes=opened["load_rss_bytes"])
    for batch, summary in opened["latency"].items():
        row[f"p50_ms_b{batch}"], row[f"p95_ms_b{batch}"] = summary["p50_ms"], summary["p95_ms"]
    if not opened["representative"]:
        row["notes"].append(f"{opened['runtime']}: loaded, not timed (its speed says nothing about the target device)")


def _profile_format(subject: Subject, spec, params: int, fmt: str, variants: list[str], recipe: Recipe,
                    limits: _Limits, skip: dict[str, str], bar) -> list[dict]:
    converter = registry.get(fmt)
    keys = {v: row_key(subject, fmt, v, recipe, limits.settings) for v in variants}
    stored = {v: _stored(keys[v]) for v in variants if v not in skip}
    if all(stored.values()):  # every row to measure was measured before: no artifact to rebuild
        bar.update(len(variants))
        return [stored[v] if v in stored else _skipped(subject, params, fmt, v, skip[v]) for v in variants]
    rows, built = [], {}
    with tempfile.TemporaryDirectory(prefix=f"profile-{fmt}-") as scratch:
        for variant in variants:
            bar.set_description(f"{subject.arch.name} {fmt}_{variant}")
            row = _new_row(subject, params, fmt, variant)
            rows.append(row)
            base = built.get(converter.base) if converter.derives(variant) else None
            if variant in skip:
                rows[-1] = _skipped(subject, params, fmt, variant, skip[variant])
            elif converter.derives(variant) and base is None:
                row["status"] = "not built"
                row["notes"] = [f"derives from {fmt}_{converter.base}, which was not built"]
            else:
                path = _convert(row, subject, recipe, scratch, base, limits)
                if path is not None:
                    _open(row, path, spec, subject, recipe, limits)
                    built[variant] = path
                    _store(keys[variant], row)
                    if variant != converter.base or not any(converter.derives(v) for v in variants):
                        shutil.rmtree(path, ignore_errors=True)  # full-size artifacts are gigabytes each
            bar.update(1)
    return rows


def profile(subject: Subject, pairs, recipe: Recipe, batch_sizes=(1,), repeats: int = 5,
            memory_limit_bytes: int | None = None, timeout_s: float | None = None,
            skip: dict[str, str] | None = None) -> list[dict]:
    """One row per (format, variant) of `subject`: measured, or with its status and the reason.

    `pairs` come from `measure.plan` (each format's base first); `skip` maps a variant to the reason it
    is left to the fit (too slow here). Rows are plain dicts, as results.json stores them.
    """
    params = total_params(subject.arch)
    spec = random_spec(subject.arch, params)
    limits = _Limits(batch_sizes, repeats, memory_limit_bytes, timeout_s)
    rows = []
    with progress_bar(len(pairs), subject.arch.name, unit="step") as bar:
        for fmt in dict.fromkeys(f for f, _ in pairs):
            variants = [v for f, v in pairs if f == fmt]
            rows += _profile_format(subject, spec, params, fmt, variants, recipe, limits, skip or {}, bar)
    return rows
