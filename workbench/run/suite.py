"""Suites: YAML lists of (notebook, parameters) validated into records, each with a stable output folder.

An entry may carry `grid:` (parameter -> list of values): it stands for the cross product, each cell an entry of
its own exactly as if written by hand (same parameters, same hash, same folder), less the cells `exclude:` names.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

from workbench.core.files import read_utf8
from workbench.core.paths import NOTEBOOKS_DIR, input_path
from workbench.run import catalog

ENTRY_KEYS = ("name", "notebook", "parameters", "grid", "exclude", "ram_gb")


@dataclass(frozen=True)
class SuiteEntry:
    """One notebook with one parameter set."""

    name: str
    notebook: Path
    parameters: dict
    ram_gb: float | None = None  # RAM the entry declares it needs (a Dask worker resource); not part of the hash
    written_as: str = ""  # the name in the suite file, which a grid's cells share (`--only` takes it)
    evidence: str = ""  # for a study that reads other runs: the content hash of those runs (`with_evidence`)

    def run_hash(self) -> str:
        """16 hex of SHA-256 over notebook content, parameters, workbench version and, for a study that reads
        other runs, their content: the output folder's id, so an unchanged cell is found complete."""
        from workbench import __version__

        digest = hashlib.sha256()
        digest.update(self.notebook.read_bytes())
        digest.update(json.dumps(self.parameters, sort_keys=True, default=str).encode())
        digest.update(__version__.encode())
        digest.update(self.evidence.encode())
        return digest.hexdigest()[:16]

    def with_evidence(self, reports: Path) -> "SuiteEntry":
        """This entry with the content hash of the latest complete run of each study it reads, as they are now."""
        from dataclasses import replace

        study = catalog.find(self.notebook.stem)
        if study is None or not study.reads:
            return self
        from workbench.run.index_page import collect_runs

        # the newest complete run of each, chosen as deploy.evidence chooses it (collect_runs is newest first)
        runs = collect_runs(self.parameters.get("reports_dir") or reports)
        digest = hashlib.sha256(json.dumps(sorted(map(str, self.parameters.get("runs") or []))).encode())
        for read in study.reads:
            found = next((Path(r["_folder"]) for r in runs
                          if r.get("status") == "complete" and r.get("notebook") == read.name), None)
            digest.update(f"{read.name}:{found.name if found else '-'}:".encode())
            if found is not None:
                digest.update(hashlib.sha256((found / "results.json").read_bytes()).digest())
        return replace(self, evidence=digest.hexdigest())

    def folder(self, reports: Path) -> Path:
        return Path(reports) / f"{self.notebook.stem}-{self.run_hash()}"

    @property
    def reads_other_runs(self) -> bool:
        """Whether its study reads other studies' latest runs (`catalog.Study.reads`): then its own hash never
        says it is up to date, and it runs after the entries that do not."""
        study = catalog.find(self.notebook.stem)
        return bool(study and study.reads)


def _parameters_cell(notebook: Path) -> dict[str, ast.expr | None]:
    """Each name the `parameters`-tagged cell assigns, with its value's expression, read without papermill (whose
    import alone, schema validators included, took seconds here: a warm `workbench run` reads every notebook)."""
    try:
        cells = json.loads(read_utf8(notebook)).get("cells", [])
    except (OSError, ValueError) as exc:
        raise ValueError(f"{notebook}: not a readable notebook ({exc})") from None
    tagged = [c for c in cells if "parameters" in (c.get("metadata") or {}).get("tags", [])]
    if not tagged:
        return {}
    source = tagged[0].get("source", "")
    try:
        tree = ast.parse("".join(source) if isinstance(source, list) else source)
    except SyntaxError as exc:
        raise ValueError(f"{notebook}: its parameters cell is not valid Python ({exc.msg}, line {exc.lineno})") \
            from None
    out: dict[str, ast.expr | None] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = node.value
        elif isinstance(node, ast.Assign):
            out.update({t.id: node.value for t in node.targets if isinstance(t, ast.Name)})
    return out


def notebook_parameters(notebook: Path) -> list[str]:
    """The names a notebook's `parameters` cell declares (output_dir included)."""
    return list(_parameters_cell(notebook))


def notebook_defaults(notebook: Path) -> dict:
    """The values a notebook's `parameters` cell assigns (those that are literals)."""
    defaults = {}
    for name, value in _parameters_cell(notebook).items():
        try:
            defaults[name] = ast.literal_eval(value)  # type: ignore[arg-type]  # None (no value) raises, skipped
        except (ValueError, SyntaxError, TypeError):
            continue
    return defaults


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
    """Read a suite YAML: `runs: [{name, notebook, parameters, grid, exclude, ram_gb}]`, checked entry by entry;
    a grid entry becomes one entry per cell."""
    import yaml

    path = input_path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; pass a suite YAML file, for example suites/default.yaml")
    try:
        spec = yaml.safe_load(read_utf8(path)) or {}
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
        where = f"{path}: runs[{i}]"
        grid = _checked_grid(where, run.get("grid"), parameters)
        _check_names(path, i, notebook, {**parameters, **grid})
        ram_gb = _checked_ram(where, run.get("ram_gb"))
        name = str(run.get("name") or notebook.stem)
        for cell in expand_grid(where, grid, run.get("exclude")):
            entries.append(SuiteEntry(cell_name(name, cell), notebook, {**parameters, **cell}, ram_gb, name))
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: run names must be unique; got {names}")
    return entries


def _checked_grid(where: str, grid, parameters: dict) -> dict:
    """`grid:` as parameter -> non-empty list of distinct values, none of them also fixed in `parameters`."""
    if grid is None:
        return {}
    if not isinstance(grid, dict) or not grid:
        raise ValueError(f"{where} grid must be a mapping of parameter: [values], for example grid: {{max_length: "
                         "[32, 64]}")
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"{where} grid {name!r} must be a non-empty list of values; got {values!r}")
        if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
            raise ValueError(f"{where} grid {name!r} lists a value twice: {values!r}")
        if name in parameters:
            raise ValueError(f"{where} sets {name!r} in both parameters and grid; keep it in one of them")
    return grid


def _checked_ram(where: str, ram_gb) -> float | None:
    if ram_gb is None:
        return None
    if isinstance(ram_gb, bool) or not isinstance(ram_gb, (int, float)) or not math.isfinite(ram_gb) or ram_gb <= 0:
        raise ValueError(f"{where} ram_gb must be a positive number of gigabytes; got {ram_gb!r}")
    return float(ram_gb)


def expand_grid(where: str, grid: dict, exclude=None) -> list[dict]:
    """The cross product of `grid`, in the order written, less every cell that matches an `exclude` mapping.

    An exclusion that matches no cell is refused: it is a typo far more often than it is intended.
    """
    if exclude is not None and not (isinstance(exclude, list) and all(isinstance(e, dict) for e in exclude)):
        raise ValueError(f"{where} exclude must be a list of mappings, for example exclude: [{{model: a, max_length: "
                         "64}]")
    exclude = exclude or []
    if exclude and not grid:
        raise ValueError(f"{where} has exclude: but no grid: to exclude cells from")
    for j, rule in enumerate(exclude):
        unknown = [k for k in rule if k not in grid]
        if unknown or not rule:
            raise ValueError(f"{where} exclude[{j}] names {unknown or 'nothing'}; it may name only grid parameters: "
                             f"{', '.join(grid)}")
    cells = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    kept = [cell for cell in cells if not any(_matches(cell, rule) for rule in exclude)]
    for j, rule in enumerate(exclude):
        if not any(_matches(cell, rule) for cell in cells):
            raise ValueError(f"{where} exclude[{j}] {rule!r} matches no cell of the grid")
    if not kept:
        raise ValueError(f"{where} exclude removes every cell of the grid")
    return kept


def _matches(cell: dict, rule: dict) -> bool:
    return all(cell[name] == value for name, value in rule.items())


def cell_name(name: str, cell: dict) -> str:
    """The entry's name, with a grid cell's values: `precision[model=bge-small-en-v1.5,max_length=64]`."""
    if not cell:
        return name
    values = ",".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in cell.items())
    return f"{name}[{values}]"
