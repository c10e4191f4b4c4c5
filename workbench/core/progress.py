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


def quiet_transformers() -> None:
    """No download bars or per-call truncation warnings from transformers (studies count truncation themselves)."""
    import warnings

    # transformers imports tqdm.auto, which asks for ipywidgets; its bars are switched off below anyway.
    warnings.filterwarnings("ignore", message="IProgress not found")
    import transformers

    warnings.filterwarnings("ignore", message=r".*were truncated", category=UserWarning)
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


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
