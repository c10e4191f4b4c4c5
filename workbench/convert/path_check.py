"""The plain and the lean Core ML package of one variant, built from the same weights, compared tensor by tensor
and embedding by embedding: the evidence, at a size the tests cannot reach, that the lean path writes the same
artifact (issue 26, item 3). Study 05 runs it at 0.6B in a child under the step's limits.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from workbench.convert import chunks, coreml, coreml_lean
from workbench.convert.graph import EmbeddingGraph, eager
from workbench.core.architectures import Architecture, random_model
from workbench.core.embedding import Recipe
from workbench.core.metrics import cosine_rows
from workbench.core.models import LoadedModel
from workbench.core.records import Table

MIN_COSINE = 0.99999  # the issue's bar for the two packages' stand-in embeddings of one input
PROBE_ROWS = 8


@dataclass(frozen=True)
class PathComparison:
    """One variant of one model converted on both paths from the same weights."""

    model: str
    variant: str
    weights: str
    tensors: int  # decompressed tensors found in both packages, matched by parameter name and shape
    max_weight_difference: float  # the largest |lean - plain| over every value of those tensors
    same_inputs: bool  # both declare the same inputs (names, shapes, types) ...
    same_output: bool  # ... and the same output
    rows: int  # random token inputs both stand-ins embedded
    min_cosine: float  # the lowest cosine between the two stand-ins' embeddings of one input
    seconds: float  # both conversions and the comparison

    @property
    def holds(self) -> bool:
        return (self.same_inputs and self.same_output and self.max_weight_difference == 0.0
                and self.min_cosine >= MIN_COSINE)


PATH_COMPARISONS = Table("path_comparisons", "path-comparison/1", PathComparison)


class ModelSource:
    """A model in memory as a `chunks.WeightSource`, so the lean path reads the very tensors the plain one traces."""

    def __init__(self, loaded: LoadedModel):
        self.config, self.spec = loaded.model.config, loaded.spec
        self.dense_head = chunks.dense_shapes(loaded.dense_layers)
        self._state = {f"model.{k}": v for k, v in loaded.model.state_dict().items()}
        for j, layer in enumerate(loaded.dense_layers):
            self._state.update({f"dense.{j}.{part}": layer[part] for part in ("weight", "bias")
                                if layer[part] is not None})

    def chunk_state(self, chunk: chunks.Chunk, names: list[str]) -> dict[str, torch.Tensor]:
        return {name: self._state[name].to(torch.float16) for name in names}


def _declared(path) -> tuple[list, list]:
    import coremltools as ct

    description = ct.models.MLModel(str(path), skip_model_load=True).get_spec().description
    return list(description.input), list(description.output)


def compare(arch: Architecture, variant: str, recipe: Recipe, seed: int = 0) -> PathComparison:
    """Build `variant` of `arch` (seeded random fp16 weights) on both paths and compare the two packages."""
    start = time.perf_counter()
    loaded = random_model(arch, "fp16", seed)
    scratch = Path(tempfile.mkdtemp(prefix="path-check-"))
    try:
        fp16 = coreml.convert(lambda: loaded, recipe, "fp16", scratch / "plain")
        plain = coreml.convert(lambda: loaded, recipe, variant, scratch / "plain", fp16) if variant != "fp16" else fp16
        lean = coreml_lean.convert_lean(ModelSource(loaded), recipe, variant, scratch / "lean")
        (plain_in, plain_out), (lean_in, lean_out) = _declared(plain), _declared(lean)
        graph = EmbeddingGraph(eager(loaded), recipe)
        plain_state = coreml.decompressed_state_dict(plain, graph)
        lean_state = coreml_lean.decompressed_state_dict(lean, graph)
        shared = sorted(set(plain_state) & set(lean_state))
        if not shared:
            raise RuntimeError(f"no tensor of {plain} matched one of {lean}: nothing to compare")
        difference = max(float((lean_state[n] - plain_state[n]).abs().max()) for n in shared)
        del plain_state, lean_state, graph
        ids = np.random.default_rng(seed).integers(1, arch.config["vocab_size"], (PROBE_ROWS, recipe.max_length))
        mask = np.ones_like(ids)
        # The stand-ins in fp32, the CPU's fast precision (at 0.6B the check took 325 s, 334 s in fp16: the two
        # conversions are most of it); each decompressed tensor is loaded exactly either way, and the lean one
        # still rounds to fp16 between chunks, as its package does.
        loaded = replace(loaded, model=loaded.model.float())
        plain_vectors = coreml.stand_in(plain, loaded, recipe).encode(ids, mask)
        lean_vectors = coreml_lean.stand_in(lean, loaded, recipe).encode(ids, mask)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return PathComparison(model=arch.name, variant=variant, weights=loaded.source, tensors=len(shared),
                          max_weight_difference=difference, same_inputs=plain_in == lean_in,
                          same_output=plain_out == lean_out, rows=PROBE_ROWS,
                          min_cosine=float(cosine_rows(plain_vectors, lean_vectors).min()),
                          seconds=time.perf_counter() - start)
