"""Build and measure artifacts: each conversion and each evaluation in its own clean child process.

A conversion's child reports wall time and peak RSS; an evaluation's child reports RSS after
loading, the embeddings of every evaluation set and the latency. Artifacts are taken from the
artifact cache when an identical one was built before (its recorded cost comes with it).
Nothing here branches on a format: every format is reached through `registry.get(name)`.
"""

from __future__ import annotations

import tempfile
import time
import traceback
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from workbench.convert import artifacts, registry
from workbench.core import comparison, evaluation
from workbench.core.cache import cache_dir
from workbench.core.embedding import Recipe
from workbench.core.models import LoadedModel, load_model
from workbench.core.params import as_list
from workbench.core.precision import PlatformNotAvailable
from workbench.core.progress import quiet_transformers
from workbench.core.resources import ChildProcessFailed, current_rss_bytes, dir_size_bytes, run_in_child

REFERENCE = ("torch", "fp32")
# Children fork from a server that imported these once: three steps per variant start in milliseconds, not in
# the 5-10 s each import of torch, transformers and a runtime takes. What the server holds counts in every
# child's baseline RSS, so a step's own RSS (peak minus baseline) is unchanged.
CHILD_PRELOAD = ("workbench.convert.measure", "transformers", "onnxruntime", "coremltools", "mlx_embeddings.utils")


def plan(formats, variants) -> list[tuple[str, str]]:
    """(format, variant) pairs to run: requested variants each format knows, its base variant first."""
    formats = list(dict.fromkeys(as_list(formats, "formats")))
    variants = list(dict.fromkeys(as_list(variants, "variants")))
    converters = {f: registry.get(f) for f in formats}
    known = {v for c in converters.values() for v in c.variants}
    stray = [v for v in variants if v not in known]
    if stray:
        raise ValueError(f"variant {stray[0]!r} belongs to none of {', '.join(formats)}; known: "
                         + "; ".join(f"{f}: {', '.join(c.variants)}" for f, c in converters.items()))
    pairs = []
    for f, c in converters.items():
        wanted = [v for v in c.variants if v in variants]
        if any(c.derives(v) for v in wanted):  # the base is built first, even when not asked for
            wanted = [c.base] + [v for v in wanted if v != c.base]
        pairs += [(f, v) for v in wanted]
    return pairs


def variant_key(fmt: str, variant: str) -> str:
    return f"{fmt}_{variant}"


# ---------------------------------------------------------------- child-process steps (module level for spawn)


def convert_step(fmt: str, variant: str, model: str, recipe: Recipe, folder: str, base: str | None) -> str:
    """Write one artifact; runs in its own process so its peak RSS is the conversion's."""
    quiet_transformers()
    return str(registry.get(fmt).convert(lambda: load_model(model), recipe, variant, folder, base))


def load_step(fmt: str, path: str, spec, recipe: Recipe, ids, mask) -> dict:
    """Open the artifact with its real runtime, alone in a process: seconds and resident memory it takes.

    Where the runtime runs here but its speed means nothing for the target device, one call on the
    given tokens is timed for the row's note instead of a latency table entry.
    """
    before, start = current_rss_bytes(), time.perf_counter()
    runtime = registry.get(fmt).load(path, spec, recipe)
    out = {"load_s": time.perf_counter() - start, "load_rss_bytes": current_rss_bytes() - before,
           "runtime": runtime.description, "representative": runtime.representative}
    if not runtime.representative:
        start = time.perf_counter()
        runtime.encode(ids, mask)
        out["one_call_ms"] = (time.perf_counter() - start) * 1e3
    return out


def evaluate_step(fmt: str, variant: str, model: str, path: str | None, sha256: str, data_args: tuple,
                  recipe: Recipe, batch_sizes: tuple, repeats: int, batch_size: int, use_runtime: bool) -> dict:
    """Embed every set with a variant and time it; runs in its own process.

    `use_runtime`: the real runtime embeds and is timed; otherwise the converter's stand-in (the artifact's
    weights in the torch graph) embeds, and nothing is timed.
    """
    quiet_transformers()
    loaded = load_model(model)
    data = evaluation.load_eval_data(*data_args)
    key = variant_key(fmt, variant)
    if (fmt, variant) == REFERENCE:
        runtime, runner = registry.Runtime(None, "torch FP32 reference"), loaded
    else:
        converter = registry.get(fmt)
        runtime = (converter.load(path, loaded.spec, recipe) if use_runtime else
                   converter.stand_in(path, loaded, recipe))
        runner = replace(loaded, encoder=runtime.encode, artifact_sha256=sha256, precision=key)
    out = {"runtime": runtime.description}
    out["embedded"] = evaluation.embed_all(runner, data, recipe, batch_size)
    timed = {key: runner, **{f"{key}@{units}": replace(runner, encoder=encode)
                             for units, encode in runtime.also_timed.items()}}
    out["latency"] = comparison.measure_latency(timed, data.queries, recipe, batch_sizes, repeats) if use_runtime \
        else None
    return out


# ---------------------------------------------------------------- the rows


@dataclass
class Variant:
    """One measured row: what it cost to make, what it keeps, how fast it runs (None: not measured)."""

    fmt: str
    variant: str
    path: str | None = None
    size_bytes: int | None = None
    convert: artifacts.Cached | None = None  # the artifact and what building it cost
    evaluated: dict | None = None
    notes: list[str] = field(default_factory=list)
    cached: bool = False  # the artifact came from the cache; `convert` holds the cost measured when it was built
    loaded: dict | None = None  # load_step's load time and RSS of the artifact in its own runtime

    @property
    def key(self) -> str:
        return variant_key(self.fmt, self.variant)


def parameter_count(loaded: LoadedModel) -> int:
    return int(sum(p.numel() for p in loaded.model.parameters()))


def fp32_bytes(loaded: LoadedModel) -> int:
    """Bytes of the FP32 weights (4 per parameter): the size every ratio is taken against."""
    return 4 * parameter_count(loaded)


@contextmanager
def _artifact_root():
    """The artifact cache folder, or a temporary one removed afterwards when the cache is off."""
    folder = cache_dir()
    if folder is not None:
        (folder / "artifacts").mkdir(parents=True, exist_ok=True)
        yield folder / "artifacts"
        return
    with tempfile.TemporaryDirectory(prefix="workbench-artifacts-") as scratch:
        yield Path(scratch)


def _build(row: Variant, loaded: LoadedModel, model: str, recipe: Recipe, root: Path, base: Variant | None) -> None:
    """Find the artifact in the cache or convert it in a child, then size it."""
    converter = registry.get(row.fmt)
    base_key = base.convert.key if base is not None else ""
    key = artifacts.artifact_key(converter, row.variant, loaded, recipe, base_key)
    found = artifacts.lookup(root, key)
    row.cached = found is not None
    if found is None:
        with tempfile.TemporaryDirectory(prefix="convert-", dir=root) as scratch:
            built = run_in_child(convert_step, row.fmt, row.variant, model, recipe, scratch,
                                 base.path if base is not None else None, preload=CHILD_PRELOAD)
            found = artifacts.store(root, key, built.value, built.seconds, built.peak_rss_bytes,
                                    built.baseline_rss_bytes)
    row.convert, row.path = found, str(found.path)
    row.size_bytes = dir_size_bytes(found.path)


def _open(row: Variant, loaded: LoadedModel, recipe: Recipe) -> dict | None:
    """The artifact's load time and RSS from its own runtime, or None (with the reason in the row) where it cannot run."""
    tokens = loaded.tokenizer([loaded.spec.query_prompt + "a query to time one call"], padding="max_length",
                              truncation=True, max_length=recipe.max_length, return_tensors="np")
    try:
        opened = run_in_child(load_step, row.fmt, row.path, loaded.spec, recipe, tokens["input_ids"].astype(np.int64),
                              tokens["attention_mask"].astype(np.int64), preload=CHILD_PRELOAD).value
    except PlatformNotAvailable as exc:
        row.notes.append(f"{exc} (load and latency)")
        return None
    if not opened["representative"]:
        row.notes.append(f"{opened['runtime']}: one batch-1 call took {opened['one_call_ms']:,.0f} ms here, not "
                         "representative of the target device, so no latency is reported; accuracy from the stand-in")
    return opened


def run_variants(loaded: LoadedModel, model: str, pairs, data_args: tuple, recipe: Recipe, batch_sizes=(1, 32),
                 repeats: int = 10, batch_size: int = 32) -> list[Variant]:
    """The torch FP32 reference first, then each (format, variant): built (or taken from the cache) and evaluated.

    A variant that cannot run here, or whose converter raises, becomes a row with a note; the
    rows already measured are kept.
    """
    batch_sizes = tuple(int(b) for b in as_list(batch_sizes, "batch_sizes"))
    args = (data_args, recipe, batch_sizes, repeats, batch_size)
    reference = Variant(*REFERENCE, size_bytes=fp32_bytes(loaded))
    reference.evaluated = run_in_child(evaluate_step, *REFERENCE, model, None, "", *args, True,
                                       preload=CHILD_PRELOAD).value
    rows, built = [reference], {}
    with _artifact_root() as root:
        for fmt, variant in pairs:
            row = Variant(fmt, variant)
            rows.append(row)
            converter = registry.get(fmt)
            base = built.get((fmt, converter.base)) if converter.derives(variant) else None
            try:
                converter.preflight(loaded)
                if converter.derives(variant) and base is None:
                    raise PlatformNotAvailable(f"not built: it derives from {variant_key(fmt, converter.base)}, "
                                               "which was not built")
                _build(row, loaded, model, recipe, root, base)
                built[(fmt, variant)] = row
                row.loaded = _open(row, loaded, recipe)
                use_runtime = row.loaded is not None and row.loaded["representative"]
                row.evaluated = run_in_child(evaluate_step, fmt, variant, model, row.path, row.convert.sha256,
                                             *args, use_runtime, preload=CHILD_PRELOAD).value
            except (PlatformNotAvailable, ChildProcessFailed) as exc:
                row.notes.append(str(exc))
            except Exception as exc:  # one variant's converter bug must not cost the rows already measured
                summary = f"{type(exc).__name__}: {(str(exc).strip() or 'no message').splitlines()[0]}"
                row.notes.append(f"failed on this machine ({summary})")
                warnings.warn(f"{row.key} failed; its row carries the note. Traceback:\n"
                              + "".join(traceback.format_exception(exc)), stacklevel=2)
            if converter.outside_graph and row.path:
                row.notes.append(converter.outside_graph)
    return rows
