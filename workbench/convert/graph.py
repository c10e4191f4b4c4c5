"""The shippable graph every exporter traces: token ids and mask in, the final embedding out.

transformers 5 builds attention masks with ops the Core ML frontend lacks (`new_ones`) and
changed BertModel's positional arguments, so exporters trace this wrapper instead: keyword
inputs, a pre-built 4-D additive float mask (causal AND padding for a decoder), eager
attention. Pooling, last-N averaging, the model's Dense layers, the FP16 clamp and L2
normalisation all run inside it, through the same function `workbench.embed` uses.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from workbench.convert.registry import fixed_shape
from workbench.core.embedding import Recipe, hidden_layers, pooled_output
from workbench.core.models import LoadedModel

MASK_MIN = -1e4  # additive mask value: large enough to zero a softmax weight, finite in fp16
OUTPUT_NAME = "embedding"  # the one output of every artifact: [batch, dim]


def additive_mask(attention_mask: torch.Tensor, causal: bool) -> torch.Tensor:
    """[B, T] 0/1 padding mask -> [B, 1, T, T] additive float mask (0 keep, MASK_MIN drop)."""
    keep = attention_mask[:, None, None, :].to(torch.float32)
    if causal:
        size = attention_mask.shape[-1]
        keep = keep * torch.tril(torch.ones(size, size, dtype=torch.float32))[None, None]
    return (1.0 - keep) * MASK_MIN


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    """Unit rows; dividing by the largest component first keeps the sum of squares finite in fp16."""
    x = x / x.abs().amax(dim=-1, keepdim=True).clamp_min(1e-12)
    return x / x.pow(2).sum(dim=-1, keepdim=True).sqrt().clamp_min(1e-12)


class EmbeddingGraph(torch.nn.Module):
    """input_ids, attention_mask [B, T] -> the [B, dim] embedding, exactly as a user ships it."""

    def __init__(self, loaded: LoadedModel, recipe: Recipe):
        super().__init__()
        self.model = loaded.model
        self.recipe = recipe
        self.causal = loaded.spec.architecture == "decoder"
        self.dense = torch.nn.ModuleList()
        self.activations = []
        for layer in loaded.dense_layers:  # parameters, so converters keep their names
            linear = torch.nn.Linear(layer["weight"].shape[1], layer["weight"].shape[0], bias=layer["bias"] is not None,
                                     dtype=layer["weight"].dtype)
            linear.weight.data.copy_(layer["weight"])
            if layer["bias"] is not None:
                linear.bias.data.copy_(layer["bias"])
            self.dense.append(linear)
            self.activations.append(layer["activation"])

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        deepest = self.recipe.last_n_layers
        mask = additive_mask(attention_mask, self.causal).to(self.model.dtype)
        layers = hidden_layers(self.model, self.causal, deepest, input_ids=input_ids, attention_mask=mask)
        dense = [{"weight": d.weight, "bias": d.bias, "activation": a} for d, a in zip(self.dense, self.activations)]
        pooled = pooled_output(layers, attention_mask, self.recipe, dense)
        return l2_normalize(pooled) if self.recipe.normalize else pooled


def torch_encoder(graph: EmbeddingGraph, recipe: Recipe, spec) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """(ids, mask) -> [B, dim] through the torch graph, padded to the artifact's fixed shape like the real one."""
    def encode(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        ids, mask = fixed_shape(ids, mask, recipe.max_length, spec.padding_side)
        with torch.inference_mode():
            return graph(torch.from_numpy(ids), torch.from_numpy(mask)).float().numpy()

    return encode


def eager(loaded: LoadedModel) -> LoadedModel:
    """`loaded` switched to eager attention, the one every exporter can trace (weights shared, not copied)."""
    loaded.model.set_attn_implementation("eager")
    return loaded
