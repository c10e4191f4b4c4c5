"""Evaluation workbench for on-device text-embedding models.

The top-level names are resolved on first use, so `import workbench.index.engines` (and every
child process that measures a vector index) does not pay for importing torch.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "Embeddings": "workbench.core.embedding",
    "Recipe": "workbench.core.embedding",
    "embed": "workbench.core.embedding",
    "DEFAULT_MODEL": "workbench.core.models",
    "REGISTRY": "workbench.core.models",
    "LoadedModel": "workbench.core.models",
    "ModelSpec": "workbench.core.models",
    "load_model": "workbench.core.models",
    "mteb_model": "workbench.mteb_bridge.model",  # imports mteb (8 s): only when asked for
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """A top-level name, or a submodule (`wb.results`) imported on first use as before the lazy imports."""
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
    else:
        try:
            value = import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module 'workbench' has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_EXPORTS])
