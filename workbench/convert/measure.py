"""Study 03's measurements: every (format, variant) of a checkpoint built, opened and then evaluated.

The shared runner (`workbench.convert.pipeline`) builds and opens each artifact in its own child process; this
module adds a third child per artifact that embeds every evaluation set with it and times it on real queries.
Artifacts are kept in the artifact cache, keyed by everything that can change them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from workbench.convert import artifacts, pipeline, registry
from workbench.convert.rows import TRAINED, ArtifactRow
from workbench.core import comparison, evaluation, serving
from workbench.core.embedding import Recipe
from workbench.core.models import LoadedModel, load_model
from workbench.core.params import as_list
from workbench.core.progress import quiet_transformers

REFERENCE = ("torch", "fp32")
TORCH_SERVING = str(Path(serving.__file__).with_name("serve_torch.py"))  # how the reference is served
CHILD_PRELOAD = ("workbench.convert.measure", *pipeline.CHILD_PRELOAD)  # the evaluation step lives here


# ---------------------------------------------------------------- the evaluation step (module level for spawn)


def runner_for(loaded: LoadedModel, fmt: str, variant: str, path: str, sha256: str, recipe: Recipe,
               use_runtime: bool, opened: registry.Runtime | None = None
               ) -> tuple[LoadedModel, str, dict[str, registry.Encode]]:
    """`loaded` encoding through the artifact at `path` (its real runtime, or the converter's stand-in), keyed in
    the embeddings cache by the artifact's SHA-256, with what produced its vectors and the other compute units
    to time; the torch FP32 reference is `loaded` itself. `opened`: the runtime, when the caller loaded it already."""
    if (fmt, variant) == REFERENCE:
        return loaded, "torch FP32 reference", {}
    key = pipeline.variant_key(fmt, variant)
    converter = registry.get(fmt)
    if use_runtime:
        runtime = opened or converter.load(path, loaded.spec, recipe)
    elif converter.stand_in is not None:
        runtime = converter.stand_in(path, loaded, recipe)
    else:
        raise RuntimeError(f"{key} cannot run here and {fmt} has no stand-in to embed with")
    runner = replace(loaded, encoder=runtime.encode, artifact_sha256=sha256, precision=key)
    return runner, runtime.description, runtime.also_timed


def evaluate_step(fmt: str, variant: str, model: str, path: str, sha256: str, data_args: tuple,
                  recipe: Recipe, batch_sizes: tuple, repeats: int, batch_size: int, use_runtime: bool) -> dict:
    """Embed every set with a variant and time it; runs in its own process.

    `use_runtime`: the real runtime embeds and is timed; otherwise the converter's stand-in (the artifact's
    weights in the torch graph) embeds, and nothing is timed.
    """
    quiet_transformers()
    loaded = load_model(model)
    data = evaluation.load_eval_data(*data_args)
    key = pipeline.variant_key(fmt, variant)
    runner, description, also_timed = runner_for(loaded, fmt, variant, path, sha256, recipe, use_runtime)
    out: dict[str, Any] = {"runtime": description, "runs_on": "runtime" if use_runtime else "stand-in"}
    out["embedded"] = evaluation.embed_all(runner, data, recipe, batch_size)
    timed = {key: runner, **{f"{key}@{units}": replace(runner, encoder=encode) for units, encode in also_timed.items()}}
    out["latency"] = comparison.measure_latency(timed, data.queries, recipe, batch_sizes, repeats) if use_runtime \
        else None
    return out


# ---------------------------------------------------------------- the rows


@dataclass(frozen=True)
class Measured:
    """The rows, the torch FP32 reference first, and per row key what its evaluation returned (embeddings, latency)."""

    rows: list[ArtifactRow]
    evaluated: dict[str, dict]


def parameter_count(loaded: LoadedModel) -> int:
    return int(sum(p.numel() for p in loaded.model.parameters()))


def fp32_bytes(loaded: LoadedModel) -> int:
    """Bytes of the FP32 weights (4 per parameter): the size every ratio is taken against."""
    return 4 * parameter_count(loaded)


def probe(loaded: LoadedModel, recipe: Recipe) -> pipeline.Probe:
    """One real query at the recipe's length: the call timed for a runtime that is not representative here."""
    tokens = loaded.tokenizer([loaded.spec.query_prompt + "a query to time one call"], padding="max_length",
                              truncation=True, max_length=recipe.max_length, return_tensors="np")
    return pipeline.Probe(tokens["input_ids"].astype(np.int64), tokens["attention_mask"].astype(np.int64))


def run_variants(loaded: LoadedModel, model: str, pairs, data_args: tuple, recipe: Recipe, batch_sizes=(1, 32),
                 repeats: int = 10, batch_size: int = 32, limits: pipeline.Limits | None = None) -> Measured:
    """The torch FP32 reference first, then each (format, variant): built (or taken from the cache) and evaluated.

    A variant that cannot run here, or whose converter raises, becomes a row with its status and a note; the
    rows already measured are kept. Each step runs under `limits` (default: the memory available now).
    """
    batch_sizes = tuple(int(b) for b in as_list(batch_sizes, "batch_sizes"))
    limits = limits or pipeline.Limits(pipeline.default_memory_limit(), preload=CHILD_PRELOAD)
    args = (data_args, recipe, batch_sizes, repeats, batch_size)
    params = parameter_count(loaded)
    reference = ArtifactRow(*REFERENCE, TRAINED, model=model, params=params, size_bytes=fp32_bytes(loaded))
    evaluated = {reference.key: limits.run(evaluate_step, *REFERENCE, model, "", "", *args, True).value}
    tokens = probe(loaded, recipe)
    reference = pipeline.with_resident(replace(reference, runtime=evaluated[reference.key]["runtime"]), TORCH_SERVING,
                                       model, loaded.spec, recipe, tokens, limits.timeout_s)

    def evaluate(row: ArtifactRow, artifact: artifacts.Cached, opened: dict | None) -> ArtifactRow:
        use_runtime = opened is not None and opened["representative"]
        evaluated[row.key] = limits.run(evaluate_step, row.format, row.variant, model, row.path, artifact.sha256,
                                        *args, use_runtime).value
        notes = row.notes if use_runtime else (*row.notes, "accuracy from the stand-in")
        return replace(row, runtime=evaluated[row.key]["runtime"], notes=notes)

    def cache_key(converter: registry.Converter, variant: str, base_key: str) -> str:
        return artifacts.artifact_key(converter, variant, loaded, recipe, base_key)

    rows = pipeline.run(pipeline.Checkpoint(model), loaded.spec, list(pairs), recipe, tokens, limits,
                        preflight_model=loaded, cache_key=cache_key, evaluate=evaluate, model=model, params=params)
    return Measured([reference, *rows], evaluated)
