"""Exact architectures of the registry's models, shipped as data so they can be built offline.

Size on disk, conversion RAM and time, load RSS and latency depend on the architecture, not on the
trained values of the weights. A model whose weights are not on this machine can therefore be built
from its record with seeded random weights and measured for everything but accuracy; every such
model carries RANDOM_WEIGHTS in its source so no report can take it for the real one.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from workbench.core.precision import ModelPrecision, torch_dtype
from workbench.core.units import MILLION

RECORDS_FILE = Path(__file__).parent / "data" / "architectures.json"
RANDOM_WEIGHTS = "random weights: size, RAM, time and latency measured; accuracy not measured"


@dataclass(frozen=True)
class Architecture:
    """A published model's network: its transformers config and the sentence-transformers head after it."""

    name: str
    config: dict  # the config.json fields that shape the network
    pooling: str
    dense: tuple[tuple[int, int, bool, str], ...]  # (in, out, bias, activation) per Dense module, in order
    normalize: bool
    published_params: int
    published_precision: int  # how the published count is rounded (0: exact)
    published_counts: str  # what the published count covers: transformer, + Dense, + LM head
    source: str
    base: str = ""  # the registry model a scaled architecture derives from ("" for a published one)

    def transformers_config(self):
        """The transformers config object (no download: built from the record)."""
        from transformers import AutoConfig

        fields = {k: v for k, v in self.config.items() if k != "model_type"}
        return AutoConfig.for_model(self.config["model_type"], **fields)

    @property
    def registry_name(self) -> str:
        return self.base or self.name

    @property
    def output_dim(self) -> int:
        """The embedding's dimension: the last Dense module's width, else the transformer's."""
        return self.dense[-1][1] if self.dense else self.config["hidden_size"]

    def scaled(self, name: str = "", **overrides) -> "Architecture":
        """The same family with some config fields changed (width, depth): a point of a size series.

        A Dense head is scaled with the width (EmbeddingGemma's 768 -> 3072 -> 768 becomes h -> 4h -> h);
        the published count no longer applies, so it is zeroed.
        """
        config = {**self.config, **overrides}
        old, new = self.config["hidden_size"], config["hidden_size"]
        dense = tuple((n_in * new // old, n_out * new // old, bias, activation)
                      for n_in, n_out, bias, activation in self.dense)
        label = "-".join(f"{k.removeprefix('num_').removesuffix('_size')}{v}" for k, v in sorted(overrides.items()))
        return Architecture(name or f"{self.name}@{label}", config, self.pooling, dense, self.normalize, 0, 0, "",
                            f"{self.source}; scaled: {overrides}", base=self.registry_name)

    @property
    def dense_params(self) -> int:
        return sum(i * o + (o if bias else 0) for i, o, bias, _ in self.dense)

    @property
    def lm_head_params(self) -> int:
        """An untied LM head in the published checkpoint that the embedding model does not use."""
        return self.config["vocab_size"] * self.config["hidden_size"] if "LM head" in self.published_counts else 0


@cache
def records() -> dict[str, Architecture]:
    raw = json.loads(RECORDS_FILE.read_text(encoding="utf-8"))
    return {name: Architecture(name=name, config=r["config"], pooling=r["pooling"],
                               dense=tuple(tuple(d) for d in r["dense"]), normalize=r["normalize"],
                               published_params=r["published_params"], published_precision=r["published_precision"],
                               published_counts=r["published_counts"], source=r["source"])
            for name, r in raw.items() if not name.startswith("_")}


def architecture(name: str) -> Architecture:
    """The record of a registry model, or an error naming the known ones."""
    known = records()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"no architecture record for {name!r}{hint} Known: {', '.join(known)}")
    return known[name]


def transformer_params(arch: Architecture) -> int:
    """Parameters of the transformer alone, counted on the meta device (no memory is allocated)."""
    import torch
    from transformers import AutoModel

    with torch.device("meta"):
        model = AutoModel.from_config(arch.transformers_config())
    return sum(p.numel() for p in model.parameters())


def total_params(arch: Architecture) -> int:
    """Parameters of the network a random build holds: the transformer and the Dense head."""
    return transformer_params(arch) + arch.dense_params


def random_spec(arch: Architecture, params: int | None = None):
    """The registry spec of `arch`'s base model, renamed and resized to the architecture (nothing is built)."""
    from dataclasses import replace

    from workbench.core.models import REGISTRY

    params = total_params(arch) if params is None else params
    return replace(REGISTRY[arch.registry_name], name=arch.name, dim=arch.output_dim, params_millions=params / MILLION)


def published_recipe(arch: Architecture, max_length: int):
    """The architecture's own pooling and head at the given token count, last layer only (as published)."""
    from workbench.core.embedding import Recipe

    return Recipe(max_length=max_length, last_n_layers=1, pooling=arch.pooling, normalize=arch.normalize)


def random_model(arch: Architecture | str, precision: ModelPrecision = "fp32", seed: int = 0):
    """A model at `arch` (a record or a registry name) with seeded random weights, built in `precision`.

    The weights are created directly in the target dtype, so a 4B model in fp16 never needs 16 GB of fp32
    first. The result has no tokenizer (random weights have no vocabulary worth tokenizing into); its
    `source` says RANDOM_WEIGHTS, which every report shows and which stops accuracy from being computed.
    """
    import math

    import torch
    from transformers import AutoModel

    from workbench.core.models import LoadedModel

    arch = architecture(arch) if isinstance(arch, str) else arch
    dtype = torch_dtype(precision)
    torch.manual_seed(seed)
    model = AutoModel.from_config(arch.transformers_config(), dtype=dtype).eval()
    dense = []
    for n_in, n_out, bias, activation in arch.dense:
        weight = torch.randn(n_out, n_in, dtype=dtype) / math.sqrt(n_in)
        dense.append({"weight": weight, "bias": torch.zeros(n_out, dtype=dtype) if bias else None,
                      "activation": activation, "out_features": n_out})
    spec = random_spec(arch, sum(p.numel() for p in model.parameters()) + arch.dense_params)
    return LoadedModel(model=model, tokenizer=None, spec=spec, source=f"{RANDOM_WEIGHTS} (seed {seed})",
                       dense_layers=dense, precision=precision)


def is_random(loaded) -> bool:
    """True for a model built by `random_model`: no accuracy figure may come from it."""
    return str(loaded.source).startswith(RANDOM_WEIGHTS)
