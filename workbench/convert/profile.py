"""Profile a network at its true architecture with random weights: what each artifact costs.

Size on disk, conversion time and peak RAM, load time and RSS, and latency depend on the network, not on the
trained values of its weights, so they are measured on a seeded random build of the exact architecture
(`workbench.core.architectures`) by the shared runner (`workbench.convert.pipeline`). Every row says so and
holds no accuracy figure. Measured rows are kept in the cache (`profiles/`), so an interrupted suite resumes
where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace

from workbench.convert import artifacts, pipeline, registry
from workbench.convert.rows import ARTIFACTS, ArtifactRow, Status
from workbench.core.architectures import random_spec, total_params
from workbench.core.cache import keep_record, read_record
from workbench.core.embedding import Recipe
from workbench.core.progress import progress_bar


def row_key(subject: pipeline.RandomBuild, fmt: str, variant: str, recipe: Recipe, settings: dict) -> str:
    """The cache key of one measured row: the network, the converter's code, the recipe and how it was timed."""
    payload = {"arch": asdict(subject.arch), "seed": subject.seed, "format": fmt, "variant": variant,
               "code": artifacts.code_version(registry.get(fmt)), "recipe": recipe.as_dict(), "settings": settings,
               "schema": ARTIFACTS.schema}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _stored(key: str) -> ArtifactRow | None:
    row = read_record("profiles", key, ArtifactRow.from_dict)
    return replace(row, from_cache=True) if row is not None else None


def _store(key: str, row: ArtifactRow) -> None:
    if row.status is Status.MEASURED:
        keep_record("profiles", key, row.as_dict())


def _to_measure(pairs: list[tuple[str, str]], stored: dict) -> list[tuple[str, str]]:
    """The pairs not in the cache, with the base each derived one is made from (rebuilt, as it is not kept)."""
    missing = [pair for pair in pairs if pair not in stored]
    bases = {(fmt, registry.get(fmt).base) for fmt, variant in missing if registry.get(fmt).derives(variant)}
    return [pair for pair in pairs if pair in missing or pair in bases]


def profile(subject: pipeline.RandomBuild, pairs: list[tuple[str, str]], recipe: Recipe, batch_sizes=(1,),
            repeats: int = 5, limits: pipeline.Limits = pipeline.Limits(),
            skip: dict[str, str] | None = None) -> list[ArtifactRow]:
    """One row per (format, variant) of `subject`: measured, or with its status and the reason.

    `pairs` come from `pipeline.plan` (each format's base first); `skip` maps a variant to the reason it is left
    to the fit (too slow here). Rows in the profile cache are not rebuilt: a row added to a suite costs its own
    step (and its base's), not its model's other rows.
    """
    params = total_params(subject.arch)
    batch_sizes, skip = tuple(int(b) for b in batch_sizes), skip or {}
    settings = {"batch_sizes": batch_sizes, "repeats": int(repeats)}
    keys = {pair: row_key(subject, *pair, recipe, settings) for pair in pairs}
    left = [pair for pair in pairs if pair[1] not in skip]
    measured = {pair: row for pair in left if (row := _stored(keys[pair])) is not None}
    to_measure = _to_measure(left, measured)
    with progress_bar(len(pairs), subject.arch.name, unit="step") as bar:
        bar.update(len(pairs) - len(to_measure))
        if to_measure:
            probe = pipeline.Probe.random(subject.arch.config["vocab_size"], max(batch_sizes, default=1),
                                          recipe.max_length, subject.seed)
            rows = pipeline.run(subject, random_spec(subject.arch, params), to_measure, recipe, probe, limits,
                                batch_sizes=batch_sizes, repeats=int(repeats), model=subject.arch.name,
                                params=params, bar=bar)
            for pair, row in zip(to_measure, rows):
                measured[pair] = row
                _store(keys[pair], row)
    return [measured[pair] if pair in measured else
            ArtifactRow(*pair, subject.weights, model=subject.arch.name, params=params, status=Status.LEFT_TO_FIT,
                        notes=(skip[pair[1]],)) for pair in pairs]
