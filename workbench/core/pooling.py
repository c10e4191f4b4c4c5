"""Pooling strategies as pure functions of (hidden states, attention mask).

`hidden` is [batch, seq, dim], `mask` is [batch, seq] with 1 for real tokens.
Every function works under left and right padding: positions are found from
the mask, never assumed.
"""

from __future__ import annotations

import torch

from workbench.core.models import POOLING_NAMES


def mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average over real tokens only: padding cannot move the result."""
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    counts = weights.sum(dim=1).clamp(min=1)
    return (hidden * weights).sum(dim=1) / counts


def mean_unmasked(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average over every position, padding included: the bug the seeds warn about."""
    return hidden.mean(dim=1)


def first_token_index(mask: torch.Tensor) -> torch.Tensor:
    """Index of the first real token in each row (0 under right padding)."""
    return mask.to(torch.int64).argmax(dim=1)


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real token in each row, under left or right padding."""
    seq_len = mask.shape[1]
    return seq_len - 1 - mask.to(torch.int64).flip(dims=[1]).argmax(dim=1)


def _select(hidden: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Row i of the result is hidden[i, index[i]], as a 0/1-weighted sum: exact, and traceable by every
    exporter (advanced indexing with two index tensors becomes a gather over a list the Core ML tools reject)."""
    positions = torch.arange(hidden.shape[1], device=hidden.device)
    weights = (positions[None, :] == index[:, None]).to(hidden.dtype)
    return (hidden * weights.unsqueeze(-1)).sum(dim=1)


def cls(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The first real token ([CLS] for BERT-style tokenizers)."""
    return _select(hidden, first_token_index(mask))


def last_token(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The last real token (what decoder embedders such as Qwen3-Embedding are trained on)."""
    return _select(hidden, last_token_index(mask))


def max(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # noqa: A001 - strategy name
    """Element-wise maximum over real tokens."""
    filler = torch.finfo(hidden.dtype).min
    return hidden.masked_fill(mask.unsqueeze(-1) == 0, filler).max(dim=1).values


POOLERS = {
    "mean": mean,
    "mean_unmasked": mean_unmasked,
    "cls": cls,
    "last_token": last_token,
    "max": max,
}
assert tuple(POOLERS) == POOLING_NAMES


def check_pooling(name: str) -> str:
    """Return `name` if it is a pooling strategy, else fail listing the valid ones."""
    if name not in POOLERS:
        raise ValueError(f"unknown pooling {name!r}; valid strategies: {', '.join(POOLERS)}")
    return name


def pool(name: str, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Apply the named strategy."""
    return POOLERS[check_pooling(name)](hidden, mask)


def average_last_layers(hidden_states: tuple[torch.Tensor, ...] | list[torch.Tensor], n: int) -> torch.Tensor:
    """Mean of the last `n` hidden layers (the seed recipe averages 4 to reduce per-layer noise)."""
    if n < 1 or n > len(hidden_states):
        raise ValueError(f"last_n_layers must be between 1 and {len(hidden_states)} for this model; got {n}")
    if n == 1:
        return hidden_states[-1]
    return torch.stack(list(hidden_states[-n:]), dim=0).mean(dim=0)
