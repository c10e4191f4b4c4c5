"""The `workbench` command: run a suite of notebooks, rebuild the index, render one report, list things."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.core.paths import NOTEBOOKS_DIR, PROJECT_ROOT, REPORTS_DIR
from workbench.run.config import ConfigError, resolve_config
from workbench.run.suite import load_suite


def cmd_run(args) -> int:
    from workbench.core.progress import batch_mode
    from workbench.run.dask_executor import ClusterLost, tidy
    from workbench.run.index_page import build_index
    from workbench.run.runner import CellState, SuiteProgress, plan, run_local

    cli = {"suite": args.suite, "reports": args.reports, "jobs": args.jobs, "kernel": args.kernel,
           "force": True if args.force else None, "progress": False if args.quiet else None,
           "executor": args.executor, "scheduler": args.scheduler, "retries": args.retries}
    config, sources = resolve_config(cli, args.config)
    if args.print_config:
        width = max(map(len, sources))
        for key, source in sources.items():
            print(f"{key:{width}}  {getattr(config, key)!r:50}  ({source})")
        return 0
    entries = load_suite(config.suite)
    if args.only:
        entries = [e for e in entries if {e.name, e.written_as, e.notebook.stem} & set(args.only)]
        if not entries:
            print(f"--only {args.only} matches no run in {config.suite}", file=sys.stderr)
            return 2
    if args.dry_run:
        return _print_plan(plan(entries, Path(config.reports), config.force, render=False))
    _check_kernel(config.kernel)
    reports = _writable_folder(Path(config.reports))
    tidy(reports)  # a Dask client stopped mid-write leaves no half folder behind, whichever executor runs next
    cells = plan(entries, reports, config.force)
    for cell in cells:
        if cell.state is CellState.DUPLICATE:
            print(f"{cell.entry.name}: same notebook and parameters as {cell.duplicate_of}; runs once in {cell.folder}")
        elif cell.state is CellState.REPORT_RENDERED:
            print(f"{cell.entry.name}: report rendered from the finished run in {cell.folder} (it had been stopped "
                  "before)")
        if not cell.runs and cell.state is not CellState.DUPLICATE:
            print(f"{cell.entry.name}: up to date in {cell.folder} (use --force to re-run)")
    todo = [cell.entry for cell in cells if cell.runs]
    progress = SuiteProgress(len(todo), config.progress)
    failures: list[tuple[str, str]] = []
    second: list = []  # the readers that run after the rest
    lost = None
    try:
        # --force also recomputes cached embeddings (a damaged or stale entry never survives a forced run)
        with batch_mode(WORKBENCH_CACHE_DIR=config.cache_dir, WORKBENCH_REFRESH_CACHE="1" if config.force else "0"):
            first = [e for e in todo if not e.reads_other_runs]
            if config.executor == "dask" and first:
                failures += _run_on_dask(first, reports, config, sources, progress)
            else:
                failures += run_local(first, reports, config.kernel, config.jobs, progress)
            # studies that read the others' runs read this machine's reports/: they run here, after the rest, keyed
            # by what the rest wrote (one whose evidence came out unchanged is up to date after all)
            readers = plan([e for e in todo if e.reads_other_runs], reports, config.force)
            for cell in readers:
                if not cell.runs:
                    progress.up_to_date(cell.entry, cell.folder)
            second = [cell.entry for cell in readers if cell.runs]
            failures += run_local(second, reports, config.kernel, config.jobs, progress)
    except KeyboardInterrupt:
        _abort([entry.folder(reports) for entry in todo + second])
    except ClusterLost as exc:
        lost = exc
    finally:
        progress.close()
    index = build_index(reports)
    print(f"index: {index}")
    if lost:
        print(f"workbench: {lost}. Every cell that came back is kept in {reports}; run the same command again to "
              "resume.", file=sys.stderr)
        return 1
    if failures:
        print(f"{len(failures)} of {len(todo)} run(s) failed: " + "; ".join(n for n, _ in failures), file=sys.stderr)
        return 1
    return 0


def _run_on_dask(entries, reports: Path, config, sources: dict, progress) -> list[tuple[str, str]]:
    from workbench.run.dask_executor import run_dask, worker_environment

    environment = worker_environment(config.cache_dir, sources["cache_dir"], config.force)
    return run_dask(entries, reports, config.kernel, config.scheduler or None, config.jobs, config.retries,
                    environment, progress)


def _print_plan(cells) -> int:
    """`--dry-run`: every cell, its hash, whether it is complete, and its RAM where it can be estimated."""
    from workbench.run.estimates import ram_estimate
    from workbench.run.formatting import text_table
    from workbench.run.runner import CellState

    rows = [(c.entry.name, c.entry.run_hash(), c.shown, "runs" if c.runs else "skipped",
             ram_estimate(c.entry)) for c in cells]
    print(text_table(("cell", "hash", "now", "next run", "RAM"), rows, rule=False))
    print(f"{sum(c.runs for c in cells)} of {len(cells)} cell(s) would run; "
          f"{sum(c.state is CellState.COMPLETE for c in cells)} complete")
    return 0


def _abort(folders: list[Path]) -> None:
    """Stop now: kill the kernels, drop half-written notebooks, keep every finished run's notebook and results."""
    import os

    import psutil

    from workbench.run.report import keep_or_drop_partial

    for child in psutil.Process().children(recursive=True):
        child.kill()
    for folder in folders:
        keep_or_drop_partial(folder)
    print("interrupted: finished runs are kept; run the same command again to resume", file=sys.stderr, flush=True)
    os._exit(130)


def cmd_report(args) -> int:
    import os

    from workbench.run.index_page import UNREADABLE, build_index, collect_runs

    reports = Path(args.reports)
    if reports.exists() and not reports.is_dir():
        raise ValueError(f"--reports {reports} is a file; pass the folder that holds the runs")
    if not reports.is_dir():
        raise ValueError(f"--reports {reports}: no such folder (`workbench run` writes runs there first)")
    if not os.access(reports, os.W_OK | os.X_OK):
        raise ValueError(f"--reports {reports} is not writable, and index.html and summary.md are written there; "
                         "copy the runs to a folder you can write and pass that")
    runs = collect_runs(reports)
    try:
        print(build_index(reports, runs))
    except OSError as exc:
        raise ValueError(f"--reports {reports}: could not write {exc.filename or 'the index'} ({exc.strerror}); "
                         "pass a folder you can write") from None
    damaged = [r for r in runs if str(r.get("status", "")).startswith(UNREADABLE)]
    if damaged:
        print(f"{len(damaged)} run(s) with an unreadable results.json; the index lists each with the reason: "
              + ", ".join(Path(r["_folder"]).name for r in damaged), file=sys.stderr)
    return 0


def cmd_claims(args) -> int:
    from workbench.run.claims_file import claims_records, render

    reports = Path(args.reports)
    if not reports.is_dir():
        raise ValueError(f"--reports {reports}: no such folder (`workbench run` writes runs there first)")
    records = claims_records(reports)
    if not records:
        raise ValueError(f"--reports {reports} holds no complete run with claims; `workbench run` makes them")
    print(render(records, args.format))
    return 0


def cmd_compare(args) -> int:
    from workbench.run.compare import compare

    text, page = compare(args.a, args.b, Path(args.reports))
    print(text)
    print(f"\n{page}")
    return 0


def _writable_folder(path: Path) -> Path:
    """The reports folder, created if missing; a file there, or a folder nobody may write, is explained."""
    import os

    if path.exists() and not path.is_dir():
        raise ValueError(f"reports {path} is a file; pass a folder with --reports")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"reports folder {path} cannot be created ({exc.strerror}); pass another with --reports") \
            from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"reports folder {path} is not writable; pass another with --reports")
    return path


def _check_kernel(name: str) -> None:
    """The Jupyter kernel exists, before any run folder is made."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        known = ", ".join(sorted(KernelSpecManager().find_kernel_specs())) or "none"
        raise ValueError(f"kernel {name!r} is not installed; installed kernels: {known} (see `jupyter kernelspec "
                         "list`)") from None


def cmd_html(args) -> int:
    from workbench.run.report import notebook_to_html

    print(notebook_to_html(args.notebook, args.output))
    return 0


def cmd_list(args) -> int:
    import papermill

    from workbench.core.models import REGISTRY

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
    run = sub.add_parser("run", help="execute a suite of notebooks into HTML reports and rebuild the index",
                         description="Values come from, highest first: these options, --config, $WORKBENCH_CONFIG, "
                                     "./workbench.yaml, ~/.config/workbench/config.yaml, defaults.")
    run.add_argument("suite", nargs="?", help="suite YAML (default: suites/default.yaml)")
    run.add_argument("--only", nargs="+", metavar="NAME",
                     help="run only these entries (name, a grid's name or one of its cells, or notebook)")
    run.add_argument("--force", action="store_true",
                     help="re-run entries whose results.json is complete, recomputing their cached embeddings")
    run.add_argument("--jobs", type=int, help="cells run in parallel: threads, or a LocalCluster's workers "
                                               "(default 1)")
    run.add_argument("--reports", help="output folder (default: reports/)")
    run.add_argument("--kernel", help="Jupyter kernel name (default: python3)")
    run.add_argument("--config", help="YAML file of run settings (suite, reports, jobs, kernel, cache_dir, ...)")
    run.add_argument("--print-config", action="store_true", help="show the resolved settings and their sources")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--dry-run", action="store_true",
                     help="list every cell (grids expanded) with its hash, whether it is complete and its RAM; run "
                          "nothing")
    run.add_argument("--executor", choices=("local", "dask"), help="local threads (default) or a Dask cluster")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="Dask scheduler, e.g. tcp://host:8786 (default: a LocalCluster of --jobs workers)")
    run.add_argument("--retries", type=int, help="runs again of a cell whose Dask worker died (default 2)")
    run.set_defaults(func=cmd_run)
    report = sub.add_parser("report", help="rebuild reports/index.html and reports/summary.md from the results.json "
                                           "files")
    report.add_argument("--reports", default=str(REPORTS_DIR), help="folder holding the runs (default: reports/)")
    report.set_defaults(func=cmd_report)
    claims = sub.add_parser("claims", help="every verdict on a published claim across the runs, as one table "
                                           "(Markdown, CSV or JSON) to paste into a design review")
    claims.add_argument("--reports", default=str(REPORTS_DIR), help="folder holding the runs (default: reports/)")
    claims.add_argument("--format", choices=("md", "csv", "json"), default="md", help="output format (default md)")
    claims.set_defaults(func=cmd_claims)
    comparison = sub.add_parser("compare", help="two runs of one study: parameters that differ, headline numbers "
                                                 "that changed (printed, and written as an HTML page)")
    comparison.add_argument("a", help="run folder, its name under --reports, or the start of its hash")
    comparison.add_argument("b", help="the run to compare with A (B - A is reported)")
    comparison.add_argument("--reports", default=str(REPORTS_DIR), help="folder holding the runs (default: reports/)")
    comparison.set_defaults(func=cmd_compare)
    to_html = sub.add_parser("html", help="render an executed notebook (e.g. papermill output) as an HTML report")
    to_html.add_argument("notebook", help="executed .ipynb")
    to_html.add_argument("-o", "--output", help="HTML path (default: beside the notebook)")
    to_html.set_defaults(func=cmd_html)
    listing = sub.add_parser("list", help="models, notebooks with their parameters, suites")
    listing.set_defaults(func=cmd_list)
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    import signal

    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops a suite as cleanly as Ctrl-C
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, ValueError, FileNotFoundError, NotADirectoryError) as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
