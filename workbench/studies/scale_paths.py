"""Study 05's check that both Core ML conversion paths write the same artifact: per (model, variant), the plain
and the lean package built from the same random weights, compared in a child under the step's limits, kept in
the cache (`path_checks/`) like the profile rows."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from workbench.convert import artifacts, path_check, pipeline, registry
from workbench.convert.path_check import PATH_COMPARISONS, PathComparison
from workbench.core.architectures import architecture, published_recipe
from workbench.core.cache import keep_record, read_record
from workbench.core.params import as_list
from workbench.core.progress import progress_bar
from workbench.core.records import from_dict, to_dict


def _key(model: str, variant: str, max_length: int, seed: int) -> str:
    payload = {"arch": asdict(architecture(model)), "variant": variant, "seed": seed,
               "recipe": published_recipe(architecture(model), max_length).as_dict(), "schema": PATH_COMPARISONS.schema,
               "code": [artifacts.code_version(registry.get(fmt)) for fmt in ("coreml", "coreml-lean")],
               "check": hashlib.sha256(Path(path_check.__file__).read_bytes()).hexdigest()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


def compare_paths(pairs, max_length: int, limits: pipeline.Limits, seed: int
                  ) -> tuple[list[PathComparison], dict[str, str]]:
    """(the comparisons made or found in the cache, why each pair that could not be compared was not)."""
    done, failed = [], {}
    with progress_bar(len(pairs), "plain vs lean", unit="check") as bar:
        for model, variant in pairs:
            key = _key(model, variant, max_length, seed)
            found = read_record("path_checks", key, lambda raw: from_dict(PathComparison, raw, "path_checks"))
            if found is None:
                try:
                    found = limits.run(path_check.compare, architecture(model), variant,
                                       published_recipe(architecture(model), max_length), seed).value
                except Exception as exc:  # one pair's failure must not cost the study's other results
                    failed[f"{model} {variant}"] = pipeline.summary(exc)
                if found is not None:
                    keep_record("path_checks", key, to_dict(found))
            if found is not None:
                done.append(found)
            bar.update(1)
    return done, failed


def comparison_table(done: list[PathComparison], failed: dict[str, str]) -> pd.DataFrame:
    """One line per pair, in words and units."""
    lines = [{"model": c.model, "variant": c.variant, "weights": c.weights,
              "tensors compared": f"{c.tensors:,}", "largest weight difference": f"{c.max_weight_difference:.3g}",
              "same inputs and output": "yes" if c.same_inputs and c.same_output else "no",
              f"lowest cosine over {c.rows} inputs": f"{c.min_cosine:.7f}", "time": f"{c.seconds:,.0f} s",
              "verdict": "the same artifact" if c.holds else
              f"differs (needs equal weights, the same declarations and cosine >= {path_check.MIN_COSINE})"}
             for c in done]
    lines += [{"model": pair, "verdict": f"not compared: {reason}"} for pair, reason in failed.items()]
    return pd.DataFrame(lines).fillna("")


def validated(pairs) -> list[tuple[str, str]]:
    """The compare_paths parameter as (model, variant) pairs, checked before anything runs."""
    from workbench.convert import coreml_lean

    pairs = as_list(pairs, "compare_paths", allow_empty=True)
    for pair in pairs:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and pair[1] in coreml_lean.VARIANTS):
            raise ValueError(f"compare_paths: each entry is [model, variant] with a variant the lean path builds "
                             f"({', '.join(coreml_lean.VARIANTS)}); got {pair!r}")
        architecture(pair[0])  # an unknown name fails here, with the known ones
    return [(str(model), str(variant)) for model, variant in pairs]
