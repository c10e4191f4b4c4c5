"""The studies, one record each: the one place a study's name, title and relations to other studies are written.

The index page orders and titles its sections from here, the suite runs a study after the studies it reads, and
the dry run's RAM floor reads the parameters that name a study's models. A notebook in notebooks/ without a
record still runs; it just gets its file name as title and no ordering or estimate.

A study's conclusions, what it records with the labels the index shows and its claim function, are a
`conclusions.Conclusions` naming this record, one per study in workbench/studies/ (which run/ may not import:
tests/test_layout.py). The notebook starts its run with that record and hands its measurements to
`Run.conclude`; the index reads what that wrote into results.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.core.paths import NOTEBOOKS_DIR


@dataclass(frozen=True)
class Study:
    """One notebook of the workbench and what other code needs to know about it without running it."""

    name: str  # the notebook's file stem, and the `notebook` its results.json records
    title: str  # the heading of its section on the index page
    reads: tuple[Study, ...] = ()  # studies whose latest complete runs it reads: it runs after them, every time
    model_parameters: tuple[str, ...] = ()  # parameters naming the registry models it loads or builds in full
    checked_by: str = ""  # the command whose run measures the claims a smaller run of this study cannot reach
    checked_in: str = ""  # that command's wall time as last measured, with the machine and date

    @property
    def notebook(self) -> Path:
        return NOTEBOOKS_DIR / f"{self.name}.ipynb"


PRECISION = Study("01_precision_accuracy", "01 · Precision: does FP16 / BF16 keep the embeddings?",
                  model_parameters=("model",))
POOLING = Study("02_pooling", "02 · Pooling: which recipe, and does padding break it?", model_parameters=("model",))
QUANTIZATION = Study("03_quantization", "03 · Conversion and quantization: Core ML, ONNX Runtime, MLX",
                     model_parameters=("model",))
# 04 embeds with its model only when it sweeps real vectors, so its `model` gives no RAM floor.
CAPACITY = Study("04_hnsw_capacity", "04 · Vector index capacity: HNSW and exact engines")
SCALE = Study("05_scale", "05 · At the sizes users ship", model_parameters=("models", "large"),
              checked_by="workbench run suites/scale.yaml",
              checked_in="79 min on 2 cores / 24 GB, 2026-12-04, from an empty cache, its plain-against-lean check "
                         "included")
STORAGE = Study("06_vector_storage", "06 · Vector storage: precision, rescoring, exact search or HNSW",
                model_parameters=("model",))
DEPLOYMENT = Study("07_deployment", "07 · What to ship on a device: the configuration within its budgets",
                   reads=(QUANTIZATION, STORAGE))

STUDIES: tuple[Study, ...] = (PRECISION, POOLING, QUANTIZATION, CAPACITY, SCALE, STORAGE, DEPLOYMENT)
_BY_NAME = {study.name: study for study in STUDIES}


def find(name: str) -> Study | None:
    """The study recorded under `name` (a notebook stem, or a results.json's `notebook`), or None for one
    the workbench does not know."""
    return _BY_NAME.get(name)
