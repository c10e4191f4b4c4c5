"""Progress bars that show in a terminal or JupyterLab and stay out of batch-rendered reports."""

from __future__ import annotations

import contextlib
import os

BATCH_ENV = "WORKBENCH_PROGRESS"  # "0": no progress bars (set while `workbench run` renders reports)


def progress_enabled() -> bool:
    return os.environ.get(BATCH_ENV, "1") != "0"


def progress_bar(total: int, desc: str, unit: str = "it"):
    """A text tqdm bar (no widget dependency), disabled in batch mode."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not progress_enabled(), leave=False)


@contextlib.contextmanager
def batch_mode(**extra: str):
    """Kernels started inside this block inherit the switch that turns bars off (and any `extra` variables)."""
    settings = {BATCH_ENV: "0", **extra}
    previous = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
