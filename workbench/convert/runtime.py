"""Run a converted model through the workbench's own embedding pipeline.

A backend that returns every hidden layer is wrapped so that `workbench.embed`
sees the same call as a torch model; pooling, last-N averaging, clamp and L2 then
come from the one tested implementation, whatever runtime produced the layers.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Callable

import numpy as np
import torch

from workbench.core.models import LoadedModel


class LayersModel:
    """Callable like a transformers model: (input_ids, attention_mask) -> .hidden_states, .last_hidden_state."""

    def __init__(self, run_layers: Callable[[np.ndarray, np.ndarray], np.ndarray]):
        self.run_layers = run_layers  # int64 [B, T] ids and mask -> float [layers + 1, B, T, H]

    def __call__(self, input_ids, attention_mask, output_hidden_states=False, **_unused):
        stacked = self.run_layers(input_ids.numpy().astype(np.int64), attention_mask.numpy().astype(np.int64))
        layers = tuple(torch.from_numpy(np.asarray(stacked, dtype=np.float32)))
        return SimpleNamespace(last_hidden_state=layers[-1], hidden_states=layers)


def with_backend(loaded: LoadedModel, run_layers: Callable, precision: str) -> LoadedModel:
    """`loaded` with its torch model replaced by another runtime; tokenizer, spec and Dense layers kept."""
    return replace(loaded, model=LayersModel(run_layers), precision=precision)
