"""Evaluation workbench for on-device text-embedding models."""

from workbench.embed import Embeddings, Recipe, embed
from workbench.models import DEFAULT_MODEL, REGISTRY, LoadedModel, ModelSpec, load_model

__version__ = "0.1.0"
__all__ = ["DEFAULT_MODEL", "REGISTRY", "Embeddings", "LoadedModel", "ModelSpec", "Recipe", "embed", "load_model"]
