"""Suites: YAML lists of (notebook, parameters) validated into records, each with a stable output folder."""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from workbench.core.paths import NOTEBOOKS_DIR, input_path

ENTRY_KEYS = ("name", "notebook", "parameters")
# Notebooks that read other studies' latest runs: never up to date by their own hash, and run after the others.
READS_OTHER_RUNS = ("07_deployment",)


@dataclass(frozen=True)
class SuiteEntry:
    """One notebook with one parameter set."""

    name: str
    notebook: Path
    parameters: dict

    def run_hash(self) -> str:
        """16 hex of SHA-256 over notebook content, parameters and workbench version: the output folder's id."""
        from workbench import __version__

        digest = hashlib.sha256()
        digest.update(self.notebook.read_bytes())
        digest.update(json.dumps(self.parameters, sort_keys=True, default=str).encode())
        digest.update(__version__.encode())
        return digest.hexdigest()[:16]

    def folder(self, reports: Path) -> Path:
        return Path(reports) / f"{self.notebook.stem}-{self.run_hash()}"

    @property
    def reads_other_runs(self) -> bool:
        return self.notebook.stem in READS_OTHER_RUNS


def notebook_parameters(notebook: Path) -> list[str]:
    """The names a notebook's `parameters` cell declares (output_dir included)."""
    import papermill

    return list(papermill.inspect_notebook(str(notebook)))


def _check_names(path: Path, i: int, notebook: Path, parameters: dict) -> None:
    """Refuse a parameter the notebook does not declare (papermill would only warn, and run on the default)."""
    known = notebook_parameters(notebook)
    for name in parameters:
        if name not in known:
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{path}: runs[{i}] parameter {name!r} is not one of {notebook.stem}'s{hint}. "
                             f"Its parameters: {', '.join(known)}")


def load_suite(path: str | Path) -> list[SuiteEntry]:
    """Read a suite YAML: `runs: [{name, notebook, parameters}]`, checked entry by entry."""
    import yaml

    path = input_path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; pass a suite YAML file, for example suites/default.yaml")
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({str(exc).replace('<unicode string>', str(path))})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("runs"), list) or not spec["runs"]:
        raise ValueError(f"{path}: a suite needs a non-empty 'runs:' list of {{name, notebook, parameters}}")
    known = sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.ipynb"))
    entries = []
    for i, run in enumerate(spec["runs"]):
        if not isinstance(run, dict):
            raise ValueError(f"{path}: runs[{i}] must be a mapping with keys {', '.join(ENTRY_KEYS)}")
        for key in run:
            if key not in ENTRY_KEYS:
                close = difflib.get_close_matches(str(key), ENTRY_KEYS, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ValueError(f"{path}: runs[{i}] has unknown key {key!r}{hint} Allowed: {', '.join(ENTRY_KEYS)}")
        notebook = NOTEBOOKS_DIR / f"{run.get('notebook', '')}.ipynb"
        if not notebook.exists():
            raise ValueError(f"{path}: runs[{i}] notebook {run.get('notebook')!r} not found; known: {', '.join(known)}")
        parameters = run.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise ValueError(f"{path}: runs[{i}] parameters must be a mapping of name: value")
        _check_names(path, i, notebook, parameters)
        entries.append(SuiteEntry(str(run.get("name") or notebook.stem), notebook, dict(parameters)))
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: run names must be unique; got {names}")
    return entries
