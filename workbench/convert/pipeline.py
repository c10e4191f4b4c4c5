"""One artifact runner for every study: build, open and measure each (subject, format, variant).

Study 03 runs it on a checkpoint's trained weights and evaluates each artifact afterwards; study 05 runs it on
seeded random builds of exact architectures. Each conversion and each load runs alone in a child process under
a memory and a time limit, so its peak RSS is its own, and a step killed for memory keeps the peak it reached.
Every (format, variant) ends as an `ArtifactRow` whose status says whether it was measured and, if not, why;
one variant's failure never costs the rows already measured. Nothing here branches on a format's name.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import traceback
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import numpy as np

from workbench.convert import artifacts, chunks, registry
from workbench.convert.rows import TRAINED, ArtifactRow, Latency, Status
from workbench.core import serving
from workbench.core.architectures import RANDOM_WEIGHTS, Architecture, random_model
from workbench.core.cache import cache_dir
from workbench.core.embedding import Recipe
from workbench.core.files import temporary_files_in
from workbench.core.models import LoadedModel, ModelSpec, load_model
from workbench.core.params import as_list
from workbench.core.precision import ModelPrecision, PlatformNotAvailable
from workbench.core.progress import quiet_transformers
from workbench.core.resources import (
    ChildProcessFailed,
    available_memory_bytes,
    current_rss_bytes,
    dir_size_bytes,
    latency_summary,
    run_in_child,
    sample_latency_ms,
)
from workbench.core.units import GB, MS

# Children fork from a server that imported these once, so each step starts in milliseconds rather than the 5-10 s
# an import of torch, transformers and a runtime takes. What the server holds is in every child's baseline RSS,
# so a step's own RSS (peak minus baseline) is unchanged.
CHILD_PRELOAD = ("workbench.convert.pipeline", "transformers", "onnxruntime", "coremltools", "mlx_embeddings.utils")


def plan(formats, variants, path: registry.ConversionPath = "plain", model_type: str = "") -> list[tuple[str, str]]:
    """(format, variant) pairs to run: requested variants each format knows, its base variant first.

    On the lean `path`, a variant goes to the lean converter of its format where one converts `model_type` (a
    Qwen3 decoder chunk by chunk, never holding the whole model); any other stays on the plain path."""
    formats = list(dict.fromkeys(as_list(formats, "formats")))
    variants = list(dict.fromkeys(as_list(variants, "variants")))
    converters = {f: registry.get(f) for f in formats}
    known = {v for c in converters.values() for v in c.variants}
    stray = [v for v in variants if v not in known]
    if stray:
        raise ValueError(f"variant {stray[0]!r} belongs to none of {', '.join(formats)}; known: "
                         + "; ".join(f"{f}: {', '.join(c.variants)}" for f, c in converters.items()))
    routed: dict[str, list[str]] = {}  # format on the path -> its variants, in the order asked
    for f, c in converters.items():
        for v in (v for v in c.variants if v in variants):
            routed.setdefault(registry.on_path(f, v, path, model_type), []).append(v)
    pairs = []
    for f, wanted in routed.items():
        c = registry.get(f)
        # the base is built first, even when not asked for
        if c.base is not None and any(c.derives(v) for v in wanted):
            wanted = [c.base] + [v for v in wanted if v != c.base]
        pairs += [(f, v) for v in wanted]
    return pairs


def variant_key(fmt: str, variant: str) -> str:
    return f"{fmt}_{variant}"



class Subject(Protocol):
    """What the artifacts are made from; picklable, since each conversion child builds it afresh."""

    @property
    def weights(self) -> str: ...  # TRAINED, or what the random weights are

    def build(self, precision: ModelPrecision) -> LoadedModel: ...

    def source(self) -> chunks.WeightSource: ...  # the weights a part at a time, for the lean path


@dataclass(frozen=True)
class Checkpoint:
    """A model's trained weights: a registry name, hub id or local folder, loaded as the checkpoint stores them."""

    model: str
    weights: str = TRAINED

    def build(self, precision: ModelPrecision) -> LoadedModel:
        return load_model(self.model)  # `precision` is for random builds: a checkpoint has its own dtype

    def source(self) -> chunks.WeightSource:
        return chunks.SafetensorsSource(self.model)


@dataclass(frozen=True)
class RandomBuild:
    """An exact (or scaled) architecture with seeded random weights, created in the dtype the format starts from."""

    arch: Architecture
    seed: int = 0

    def build(self, precision: ModelPrecision) -> LoadedModel:
        return random_model(self.arch, precision, self.seed)

    def source(self) -> chunks.WeightSource:
        return chunks.RandomSource(self.arch, self.seed)  # each part from a seed of its own

    @property
    def weights(self) -> str:
        return f"{RANDOM_WEIGHTS} (seed {self.seed})"


@dataclass(frozen=True)
class Limits:
    """How each step runs: the memory and time it may take before it is stopped, and what its children preload."""

    memory_limit_bytes: int | None = None
    timeout_s: float | None = None
    preload: tuple[str, ...] = CHILD_PRELOAD

    def run(self, fn, *args):
        return run_in_child(fn, *args, preload=self.preload, memory_limit_bytes=self.memory_limit_bytes,
                            timeout_s=self.timeout_s)


def default_memory_limit(margin_bytes: float = 1.5 * GB) -> int:
    """What one step may hold: the memory available now, less a margin for the notebook and the OS."""
    return int(available_memory_bytes() - margin_bytes)


@dataclass(frozen=True)
class Probe:
    """Token ids and mask [n, T] at the recipe's length: batches of the first rows are timed, one row for one call."""

    ids: np.ndarray
    mask: np.ndarray

    @classmethod
    def random(cls, vocab_size: int, rows: int, length: int, seed: int) -> "Probe":
        ids = np.random.default_rng(seed).integers(1, vocab_size, size=(rows, length), dtype=np.int64)
        return cls(ids, np.ones_like(ids))


# ---------------------------------------------------------------- child-process steps (module level for spawn)


def convert_step(fmt: str, variant: str, subject: Subject, recipe: Recipe, folder: str, base: str | None) -> str:
    """Write one artifact; alone in its process, so the process's peak RSS is the conversion's."""
    quiet_transformers()
    converter = registry.get(fmt)
    with temporary_files_in(Path(folder) / "tmp"):  # removed with the step's scratch folder
        if converter.convert_from_source is not None:  # the lean path: the whole model is never built
            return str(converter.convert_from_source(subject.source(), recipe, variant, folder, base))
        precision = converter.build_precision(variant)
        assert converter.convert is not None  # a converter has one of the two (registry.Converter checks)
        return str(converter.convert(lambda: subject.build(precision), recipe, variant, folder, base))


def open_step(fmt: str, path: str, spec: ModelSpec, recipe: Recipe, probe: Probe, batch_sizes: tuple,
              repeats: int) -> dict:
    """Load the artifact in its real runtime (seconds, RSS it adds), then time it on the probe.

    Where the runtime runs here but its speed says nothing about the target device, one call is timed for the
    row's note instead of a latency entry.
    """
    before, start = current_rss_bytes(), time.perf_counter()
    runtime = registry.get(fmt).load(path, spec, recipe)
    out: dict[str, Any] = {"load_s": time.perf_counter() - start, "load_rss_bytes": current_rss_bytes() - before,
           "runtime": runtime.description, "representative": runtime.representative, "latency": {}}
    if not runtime.representative:
        start = time.perf_counter()
        try:
            runtime.encode(probe.ids[:1], probe.mask[:1])
        except PlatformNotAvailable as exc:  # loaded, but this runtime cannot run the architecture here
            out["not_run"] = str(exc)
        else:
            out["one_call_s"] = time.perf_counter() - start
        return out
    for batch in batch_sizes:
        ids, mask = probe.ids[:batch], probe.mask[:batch]
        out["latency"][int(batch)] = latency_summary(sample_latency_ms(lambda: runtime.encode(ids, mask),
                                                                       repeats, warmup=1))
    return out


# ---------------------------------------------------------------- the loop


# (row, the built artifact, what open_step returned or None) -> the row with what the study measured besides
Evaluate = Callable[[ArtifactRow, artifacts.Cached, "dict | None"], ArtifactRow]
# (converter, variant, the base artifact's key or "") -> the artifact cache key; None: artifacts are not kept
CacheKey = Callable[[registry.Converter, str, str], str]


def summary(exc: BaseException) -> str:
    """An exception in one line: its type and the first line of its message."""
    return f"{type(exc).__name__}: {(str(exc).strip() or 'no message').splitlines()[0]}"


@contextmanager
def _artifact_root(cached: bool) -> Iterator[Path]:
    """The artifact cache folder where artifacts are kept and the cache is on; otherwise a scratch folder."""
    folder = cache_dir() if cached else None
    if folder is not None:
        (folder / "artifacts").mkdir(parents=True, exist_ok=True)
        yield folder / "artifacts"
        return
    with tempfile.TemporaryDirectory(prefix="workbench-artifacts-") as scratch:
        yield Path(scratch)


def _build(row: ArtifactRow, subject: Subject, recipe: Recipe, root: Path, base: artifacts.Cached | None,
           cache_key: CacheKey | None, limits: Limits) -> tuple[ArtifactRow, artifacts.Cached]:
    """Find the artifact in the cache or convert it in a child; the row gets its size and what building it cost."""
    key = cache_key(registry.get(row.format), row.variant, base.key if base else "") if cache_key else ""
    found = artifacts.lookup(root, key) if key else None
    from_cache = found is not None
    if found is None:
        with tempfile.TemporaryDirectory(prefix="convert-", dir=root) as scratch:
            built = limits.run(convert_step, row.format, row.variant, subject, recipe, scratch,
                               str(base.path) if base else None)
            found = artifacts.store(root, key or row.key, built.value, built.seconds, built.peak_rss_bytes,
                                    built.baseline_rss_bytes)
    return replace(row, path=str(found.path), size_bytes=dir_size_bytes(found.path), convert_s=found.seconds,
                   convert_peak_rss_bytes=found.peak_rss_bytes, convert_step_rss_bytes=found.step_rss_bytes,
                   from_cache=from_cache), found


def _open(row: ArtifactRow, spec: ModelSpec, recipe: Recipe, probe: Probe, batch_sizes: tuple, repeats: int,
          limits: Limits) -> tuple[ArtifactRow, dict | None]:
    """Load time and RSS, and latency where the runtime runs representatively here; otherwise a note why not."""
    try:
        opened = limits.run(open_step, row.format, row.path, spec, recipe, probe, batch_sizes, repeats).value
    except PlatformNotAvailable as exc:
        return replace(row, notes=(*row.notes, f"{exc} (load and latency)")), None
    except Exception as exc:  # ChildProcessFailed included: the artifact exists, its row keeps what was measured
        return replace(row, notes=(*row.notes, f"load failed: {summary(exc)}")), None
    latency = tuple(Latency(b, s["p50_ms"] * MS, s["p95_ms"] * MS) for b, s in opened["latency"].items())
    notes = row.notes
    if "not_run" in opened:
        notes += (opened["not_run"],)
    elif not opened["representative"]:
        notes += (f"{opened['runtime']}: one batch-1 call took {opened['one_call_s'] / MS:,.0f} ms here, not "
                  "representative of the target device, so no latency is reported",)
    row = replace(row, load_s=opened["load_s"], load_rss_bytes=opened["load_rss_bytes"], latency=latency,
                  runtime=opened["runtime"], notes=notes)
    if "not_run" in opened:
        return row, opened
    assert row.path is not None  # opened, so built
    return with_resident(row, registry.get(row.format).serving_script, row.path, spec, recipe, probe,
                         limits.timeout_s), opened


def with_resident(row: ArtifactRow, script: str, artifact: str, spec: ModelSpec, recipe: Recipe, probe: Probe,
                  timeout_s: float | None) -> ArtifactRow:
    """The row with the resident memory of a fresh process that serves `artifact` with `script` and embeds the
    probe's first row (`core.serving`), or a note saying why it is missing (the other numbers stand)."""
    try:
        found = serving.measure(script, artifact, row.format, asdict(spec), asdict(recipe), probe.ids[:1],
                                probe.mask[:1], timeout_s)
    except Exception as exc:
        return replace(row, notes=(*row.notes, f"resident memory not measured: {summary(exc)}"))
    return replace(row, resident_bytes=found.rss_bytes, resident_baseline_bytes=found.baseline_bytes,
                   notes=(*row.notes, serving.imported_note(found)))


def _failed(row: ArtifactRow, exc: Exception) -> ArtifactRow:
    """The row of a step that raised: killed (with the peak it reached), not on this platform, or failed."""
    if isinstance(exc, PlatformNotAvailable):
        return replace(row, status=Status.NOT_ON_PLATFORM, notes=(*row.notes, str(exc)))
    if isinstance(exc, ChildProcessFailed):
        return replace(row, status=Status.KILLED, notes=(*row.notes, str(exc)),
                       convert_peak_rss_bytes=row.convert_peak_rss_bytes or exc.peak_rss_bytes or None,
                       convert_s=row.convert_s if row.convert_s is not None else exc.seconds)
    warnings.warn(f"{row.key} failed; its row carries the note. Traceback:\n"
                  + "".join(traceback.format_exception(exc)), stacklevel=3)
    return replace(row, status=Status.FAILED, notes=(*row.notes, f"failed on this machine ({summary(exc)})"))


def _still_needed(pairs: list[tuple[str, str]], done: int, fmt: str, variant: str) -> bool:
    """Whether a pair after the `done`-th derives from this artifact (a format's base is planned before them)."""
    converter = registry.get(fmt)
    return variant == converter.base and any(f == fmt and converter.derives(v) for f, v in pairs[done + 1:])


def run(subject: Subject, spec: ModelSpec, pairs: list[tuple[str, str]], recipe: Recipe, probe: Probe,
        limits: Limits = Limits(), *, batch_sizes: tuple = (), repeats: int = 1, preflight_model=None,
        cache_key: CacheKey | None = None, evaluate: Evaluate | None = None, model: str = "",
        params: int | None = None, bar=None) -> list[ArtifactRow]:
    """One row per (format, variant) in `pairs` (from `plan`: each format's base first).

    `cache_key` keeps artifacts in the artifact cache under that key (a checkpoint's are small and reused);
    without it, each artifact is removed as soon as nothing later derives from it (full-size random builds are
    gigabytes each). `evaluate` runs after an artifact is built and opened, for what a study measures besides.
    """
    rows = []
    with _artifact_root(cache_key is not None) as root:
        built: dict[tuple[str, str], artifacts.Cached] = {}
        for done, (fmt, variant) in enumerate(pairs):
            if bar is not None:
                bar.set_description(f"{model} {fmt}_{variant}".strip())
            converter = registry.get(fmt)
            row = ArtifactRow(fmt, variant, subject.weights, model=model, params=params,
                              conversion_path=converter.conversion_path)
            base = None
            if converter.base is not None and converter.derives(variant):
                base = built.get((fmt, converter.base))
            try:
                converter.preflight(preflight_model)
                if converter.derives(variant) and base is None:
                    row = replace(row, status=Status.NOT_BUILT, notes=(
                        f"not built: it derives from {fmt}_{converter.base}, which was not built",))
                else:
                    row, artifact = _build(row, subject, recipe, root, base, cache_key, limits)
                    built[(fmt, variant)] = artifact
                    row, opened = _open(row, spec, recipe, probe, batch_sizes, repeats, limits)
                    if evaluate is not None:
                        row = evaluate(row, artifact, opened)
            except Exception as exc:  # one variant's failure must not cost the rows already measured
                row = _failed(row, exc)
            if converter.outside_graph and row.path:
                row = replace(row, notes=(*row.notes, converter.outside_graph))
            rows.append(row)
            if cache_key is None:  # full-size artifacts are gigabytes each: gone once nothing derives from them
                for done_fmt, done_variant in [p for p in built if not _still_needed(pairs, done, *p)]:
                    shutil.rmtree(built.pop((done_fmt, done_variant)).path.parent, ignore_errors=True)
            if bar is not None:
                bar.update(1)
    return rows if cache_key is not None else [replace(r, path=None) for r in rows]
