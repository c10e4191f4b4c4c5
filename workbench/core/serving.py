"""Resident memory of a serving process: a fresh interpreter that loads one artifact and embeds a batch.

What a process that serves embeddings holds is its total RSS: the interpreter, the runtime's libraries and the
model, as Activity Monitor shows it. The pipeline's measuring children fork from a server that imported torch,
transformers and every runtime, so their RSS cannot say that. Each format names a serving script instead
(`Converter.serving_script`); it runs as a fresh `python -P` (the script's folder is not put on the import path,
where `onnx.py` would hide the onnx package) and imports only what it imports. The process reports which heavy
libraries it ended up holding, so a figure that includes one a real server would not load says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from workbench.core.resources import current_rss_bytes
from workbench.core.units import MB

HEAVY_LIBRARIES = ("torch", "transformers", "onnxruntime", "mlx", "coremltools", "tensorflow")
Encode = Callable[[np.ndarray, np.ndarray], np.ndarray]
# (artifact path, the format's name, the model spec and recipe as dicts) -> an encode of ids and mask
ServeLoad = Callable[[str, str, dict, dict], Encode]


@dataclass(frozen=True)
class Resident:
    rss_bytes: int  # total RSS after loading the artifact and embedding one input
    baseline_bytes: int  # RSS before the runtime was imported and the artifact loaded: the interpreter alone
    imported: tuple[str, ...]  # the heavy libraries the process held (HEAVY_LIBRARIES it had imported)


def serve(load: ServeLoad) -> None:
    """A serving script's main: `python -P SCRIPT REQUEST.json`; writes the measurement to the request's `out`."""
    request = json.loads(Path(sys.argv[1]).read_text())
    baseline = current_rss_bytes()
    encode = load(request["artifact"], request["format"], request["spec"], request["recipe"])
    encode(np.load(request["ids"]), np.load(request["mask"]))
    imported = [name for name in HEAVY_LIBRARIES if name in sys.modules]
    Path(request["out"]).write_text(json.dumps({"rss_bytes": current_rss_bytes(), "baseline_bytes": baseline,
                                                "imported": imported}))


def measure(script: str, artifact: str, fmt: str, spec: dict, recipe: dict, ids: np.ndarray, mask: np.ndarray,
            timeout_s: float | None = None) -> Resident:
    """Run `script` on one artifact in a fresh interpreter; a script that fails raises with its last error line."""
    with tempfile.TemporaryDirectory(prefix="workbench-resident-") as scratch:
        folder = Path(scratch)
        np.save(folder / "ids.npy", ids)
        np.save(folder / "mask.npy", mask)
        request = {"artifact": str(artifact), "format": fmt, "spec": spec, "recipe": recipe,
                   "ids": str(folder / "ids.npy"), "mask": str(folder / "mask.npy"), "out": str(folder / "out.json")}
        (folder / "request.json").write_text(json.dumps(request))
        done = subprocess.run([sys.executable, "-P", script, str(folder / "request.json")], capture_output=True,
                              text=True, timeout=timeout_s, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if done.returncode != 0 or not (folder / "out.json").exists():
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            raise RuntimeError(f"the serving process failed ({lines[-1] if lines else f'exit {done.returncode}'})")
        out = json.loads((folder / "out.json").read_text())
    return Resident(int(out["rss_bytes"]), int(out["baseline_bytes"]), tuple(out["imported"]))


def imported_note(found: Resident) -> str:
    """What the resident figure holds besides the model, for the row's notes."""
    libraries = ", ".join(found.imported) or "no heavy library"
    return (f"resident memory: a fresh process holding the interpreter ({found.baseline_bytes / MB:,.0f} MB), "
            f"{libraries} and the artifact, after embedding one input")
