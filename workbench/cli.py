"""The `workbench` command: run a suite of notebooks, rebuild the index, render one report, list things."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from workbench.paths import NOTEBOOKS_DIR, PROJECT_ROOT, REPORTS_DIR, input_path
from workbench.results import RESULTS_FILE

DEFAULT_SUITE = PROJECT_ROOT / "suites" / "default.yaml"


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


def load_suite(path: str | Path) -> list[SuiteEntry]:
    """Read a suite YAML: `runs: [{name, notebook, parameters}]`, checked entry by entry."""
    import yaml

    path = input_path(path)
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(spec, dict) or not isinstance(spec.get("runs"), list) or not spec["runs"]:
        raise ValueError(f"{path}: a suite needs a non-empty 'runs:' list of {{name, notebook, parameters}}")
    entries = []
    for i, run in enumerate(spec["runs"]):
        unknown = set(run) - {"name", "notebook", "parameters"}
        if unknown:
            raise ValueError(f"{path}: runs[{i}] has unknown keys {sorted(unknown)}; allowed: name, notebook, parameters")
        notebook = NOTEBOOKS_DIR / f"{run.get('notebook', '')}.ipynb"
        if not notebook.exists():
            known = ", ".join(p.stem for p in sorted(NOTEBOOKS_DIR.glob("*.ipynb")))
            raise ValueError(f"{path}: runs[{i}] notebook {run.get('notebook')!r} not found; known: {known}")
        entries.append(SuiteEntry(str(run.get("name") or notebook.stem), notebook, dict(run.get("parameters") or {})))
    return entries


def cmd_run(args) -> int:
    from workbench.report import build_index, execute_notebook

    entries = load_suite(args.suite)
    if args.only:
        entries = [e for e in entries if e.name in args.only or e.notebook.stem in args.only]
        if not entries:
            print(f"--only {args.only} matches no run in {args.suite}", file=sys.stderr)
            return 2
    reports = Path(args.reports)
    failures = []
    for number, entry in enumerate(entries, 1):
        folder = reports / f"{entry.notebook.stem}-{entry.run_hash()}"
        done = folder / RESULTS_FILE
        if done.exists() and not args.force and json.loads(done.read_text()).get("status") == "complete":
            print(f"[{number}/{len(entries)}] {entry.name}: up to date in {folder} (use --force to re-run)")
            continue
        print(f"[{number}/{len(entries)}] {entry.name}: running {entry.notebook.name} -> {folder}")
        parameters = {**entry.parameters, "output_dir": str(folder.resolve())}
        html_path, error = execute_notebook(entry.notebook, folder, parameters, progress=not args.quiet)
        if error:
            failures.append((entry.name, error))
            print(f"  FAILED: {error}\n  report with the error: {html_path}", file=sys.stderr)
        else:
            print(f"  report: {html_path}")
    index = build_index(reports)
    print(f"index: {index}")
    if failures:
        print(f"{len(failures)} of {len(entries)} run(s) failed: " + "; ".join(n for n, _ in failures), file=sys.stderr)
        return 1
    return 0


def cmd_report(args) -> int:
    from workbench.report import build_index

    print(build_index(args.reports))
    return 0


def cmd_html(args) -> int:
    from workbench.report import notebook_to_html

    print(notebook_to_html(args.notebook, args.output))
    return 0


def cmd_list(args) -> int:
    import papermill

    from workbench.models import REGISTRY

    print("Models (registry name, Hugging Face id, dim, pooling):")
    for spec in REGISTRY.values():
        print(f"  {spec.name:24} {spec.hf_id:42} {spec.dim:5}  {spec.pooling}")
    print("\nNotebooks and their parameters:")
    for notebook in sorted(NOTEBOOKS_DIR.glob("*.ipynb")):
        print(f"  {notebook.stem}")
        for name, info in papermill.inspect_notebook(str(notebook)).items():
            print(f"    {name:18} {info['inferred_type_name']:10} = {info['default']:24} {info['help']}")
    print("\nSuites:")
    for suite in sorted((PROJECT_ROOT / "suites").glob("*.yaml")):
        print(f"  {suite.relative_to(PROJECT_ROOT)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute a suite of notebooks into HTML reports and rebuild the index")
    run.add_argument("suite", nargs="?", default=str(DEFAULT_SUITE), help="suite YAML (default: suites/default.yaml)")
    run.add_argument("--only", nargs="+", metavar="NAME", help="run only these entries (name or notebook)")
    run.add_argument("--force", action="store_true", help="re-run entries whose results.json is complete")
    run.add_argument("--reports", default=str(REPORTS_DIR), help="output folder (default: reports/)")
    run.add_argument("--quiet", action="store_true", help="no per-cell progress bar")
    run.set_defaults(func=cmd_run)
    report = sub.add_parser("report", help="rebuild reports/index.html from the results.json files")
    report.add_argument("--reports", default=str(REPORTS_DIR), help="folder holding the runs (default: reports/)")
    report.set_defaults(func=cmd_report)
    to_html = sub.add_parser("html", help="render an executed notebook (e.g. papermill output) as an HTML report")
    to_html.add_argument("notebook", help="executed .ipynb")
    to_html.add_argument("-o", "--output", help="HTML path (default: beside the notebook)")
    to_html.set_defaults(func=cmd_html)
    listing = sub.add_parser("list", help="models, notebooks with their parameters, suites")
    listing.set_defaults(func=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
