"""Any format served through the workbench's own loader (`Converter.load`), for `core.serving`.

The loader's module imports the workbench's converters, and torch with them: a format whose runtime library
imports torch anyway (mlx-embeddings does, through mlx-vlm) loses nothing by it; the figure's list of imported
libraries says so either way. Run as a script.
"""

from __future__ import annotations


def load(artifact: str, fmt: str, spec: dict, recipe: dict):
    from workbench.convert import registry
    from workbench.core.embedding import Recipe
    from workbench.core.models import ModelSpec

    model_spec = ModelSpec(**{**spec, "matryoshka_dims": tuple(spec.get("matryoshka_dims", ()))})
    return registry.get(fmt).load(artifact, model_spec, Recipe(**recipe)).encode


if __name__ == "__main__":
    from workbench.core import serving

    serving.serve(load)
