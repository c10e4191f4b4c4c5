"""Where things live: the project root, bundled data, and how relative paths resolve.

A notebook runs with its own folder as working directory in JupyterLab and with
the caller's in papermill, so relative paths are resolved the same way in both:
inputs against the working directory first, then the project root; outputs
against the project root (or WORKBENCH_OUTPUT_ROOT, which tests use).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = PROJECT_ROOT / "data"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
REPORTS_DIR = PROJECT_ROOT / "reports"
DEFAULT_CACHE = PROJECT_ROOT / ".cache" / "embeddings"  # embeddings cache; WORKBENCH_CACHE_DIR overrides
CACHE_ENV = "WORKBENCH_CACHE_DIR"  # the cache folder, or "off" to disable it


def input_path(path: str | os.PathLike) -> Path:
    """An existing input file or folder; relative paths try the working directory, then the project root."""
    candidate = Path(path).expanduser()
    tried = [candidate] if candidate.is_absolute() else [Path.cwd() / candidate, PROJECT_ROOT / candidate]
    for option in tried:
        if option.exists():
            return option.resolve()
    raise FileNotFoundError(f"input {str(path)!r} not found; looked at: {', '.join(str(p) for p in tried)}")


def output_path(path: str | os.PathLike) -> Path:
    """Absolute output location; relative paths land under WORKBENCH_OUTPUT_ROOT or the project root."""
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return candidate
    root = Path(os.environ.get("WORKBENCH_OUTPUT_ROOT") or PROJECT_ROOT)
    return root / candidate
