"""The traceable form of a transformer that every exporter shares.

transformers 5 builds attention masks with ops the Core ML frontend lacks (`new_ones`)
and changed BertModel's positional arguments, so exporters trace this wrapper instead:
keyword inputs, a pre-built 4-D additive float mask (causal AND padding for a decoder),
eager attention, and every hidden layer stacked in one output so pooling, last-N
averaging, clamp and L2 are re-applied outside the graph by `workbench.embed`.
"""

from __future__ import annotations

import torch

MASK_MIN = -1e4  # additive mask value: large enough to zero a softmax weight, finite in fp16


def additive_mask(attention_mask: torch.Tensor, causal: bool) -> torch.Tensor:
    """[B, T] 0/1 padding mask -> [B, 1, T, T] additive float mask (0 keep, MASK_MIN drop)."""
    keep = attention_mask[:, None, None, :].to(torch.float32)
    if causal:
        size = attention_mask.shape[-1]
        keep = keep * torch.tril(torch.ones(size, size, dtype=torch.float32))[None, None]
    return (1.0 - keep) * MASK_MIN


class HiddenStates(torch.nn.Module):
    """input_ids, attention_mask -> all hidden states stacked as [layers + 1, B, T, H]."""

    def __init__(self, model: torch.nn.Module, causal: bool):
        super().__init__()
        self.model = model
        self.causal = causal

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = additive_mask(attention_mask, self.causal).to(self.model.dtype)
        extra = {"use_cache": False} if self.causal else {}
        out = self.model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True, **extra)
        layers = list(out.hidden_states)
        layers[-1] = out.last_hidden_state
        return torch.stack(layers, dim=0)


def eager_model(source: str) -> torch.nn.Module:
    """FP32 weights from a local folder with eager attention (safetensors only, no remote code)."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(source, use_safetensors=True, dtype="float32", trust_remote_code=False,
                                      attn_implementation="eager", local_files_only=True)
    return model.eval()
