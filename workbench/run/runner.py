"""Which cells of a suite need running, the suite's progress bar, and running cells on this machine.

Executors (this module's local threads, `dask_executor`'s cluster) share the plan and the progress bar, so a cell
is skipped, resumed or re-run by the same rules whichever runs it.
"""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

from workbench.run import report
from workbench.run.report import finalize, has_report, results_complete
from workbench.run.results import RunStatus, load_results
from workbench.run.suite import SuiteEntry


class CellState(Enum):
    """What a cell's folder holds before the suite runs; the value is how `--dry-run` shows it."""

    COMPLETE = "complete"
    REPORT_MISSING = "finished, report missing"
    REPORT_RENDERED = "finished, report rendered"
    FAILED = "failed earlier"
    STOPPED = "stopped earlier"
    NOT_RUN = "not run"
    DUPLICATE = "duplicate"  # of an earlier cell with the same notebook and parameters: `Cell.duplicate_of`


@dataclass(frozen=True)
class Cell:
    """One suite entry as planned: its folder, what is there now, and whether it runs."""

    entry: SuiteEntry
    folder: Path
    state: CellState
    runs: bool
    duplicate_of: str = ""  # the cell that runs in its place, for a DUPLICATE

    @property
    def shown(self) -> str:
        """The state as `--dry-run` prints it."""
        return f"duplicate of {self.duplicate_of}" if self.state is CellState.DUPLICATE else self.state.value


def plan(entries: list[SuiteEntry], reports: Path, force: bool, render: bool = True) -> list[Cell]:
    """Every entry with its state; a finished run whose report is missing gets it now (unless `render` is off).

    An entry that reads other studies' runs is keyed by their content as they are now (`SuiteEntry.with_evidence`),
    and runs when it is not complete for that content, or when an entry planned with it runs (and may change it).
    """
    cells: list[Cell] = []
    seen: dict[Path, str] = {}
    for entry in entries:
        entry = entry.with_evidence(reports)
        folder = entry.folder(reports)
        if folder in seen:  # identical notebook and parameters: one run, one folder
            cells.append(Cell(entry, folder, CellState.DUPLICATE, False, duplicate_of=seen[folder]))
            continue
        seen[folder] = entry.name
        state = _state(folder)
        if state is CellState.REPORT_MISSING and not force and render and finalize(folder):
            state = CellState.REPORT_RENDERED
        # a dry run renders nothing: a finished run counts as complete, since the real run only renders its report
        complete = has_report(folder) or (not render and state is CellState.REPORT_MISSING)
        cells.append(Cell(entry, folder, state, force or not complete))
    if any(c.runs for c in cells if not c.entry.reads_other_runs):  # what the readers read is about to change
        cells = [replace(c, runs=True) if c.entry.reads_other_runs and c.state is not CellState.DUPLICATE else c
                 for c in cells]
    return cells


def _state(folder: Path) -> CellState:
    if has_report(folder):
        return CellState.COMPLETE
    if results_complete(folder):
        return CellState.REPORT_MISSING
    try:
        status = load_results(folder).get("status", "")
    except (OSError, ValueError, AttributeError):
        return CellState.NOT_RUN
    return CellState.FAILED if RunStatus.of(status) is RunStatus.FAILED else CellState.STOPPED


class SuiteProgress:
    """One bar for the whole suite: cells done of the total, with how many run now and how many failed."""

    def __init__(self, total: int, enabled: bool):
        from tqdm import tqdm

        self.lock = threading.Lock()
        self.running: list[str] = []
        self.failed = 0
        self.done = 0
        self.total = total
        # a bar only on a terminal: in a log file its redraws are noise, and the lines below say the same
        self.bar = tqdm(total=total, desc="suite", unit="cell", disable=not (enabled and sys.stderr.isatty()),
                        dynamic_ncols=True, file=sys.stderr)
        self._postfix()

    def _postfix(self) -> None:
        self.bar.set_postfix_str(f"running {len(self.running)}, failed {self.failed}", refresh=True)

    def _line(self, message: str, error: bool = False) -> None:
        """A line above the bar, on stdout (stderr for errors), flushed: a pipe or a log sees it at once."""
        stream = sys.stderr if error else sys.stdout
        self.bar.write(message, file=stream)
        stream.flush()

    def say(self, message: str, error: bool = False) -> None:
        with self.lock:
            self._line(message, error)

    def started(self, entry: SuiteEntry, folder: Path, where: str = "") -> None:
        with self.lock:
            self.running.append(entry.name)
            self._line(f"{entry.name}: running {entry.notebook.name}{where} -> {folder}")
            self._postfix()

    def _not_running(self, entry: SuiteEntry) -> None:
        if entry.name in self.running:
            self.running.remove(entry.name)

    def up_to_date(self, entry: SuiteEntry, folder: Path) -> None:
        """A cell planned to run that turned out complete (a reader whose evidence did not change): one fewer."""
        with self.lock:
            self.total -= 1
            self.bar.total = self.total
            self._line(f"{entry.name}: up to date in {folder}: what it reads did not change")
            self._postfix()

    def requeued(self, entry: SuiteEntry) -> None:
        """The cell's worker died: it waits to run again."""
        with self.lock:
            self._not_running(entry)
            self._postfix()

    def finished(self, entry: SuiteEntry, html_path: Path | None, error: str | None) -> None:
        with self.lock:
            self._not_running(entry)
            self.done += 1
            if error:
                self.failed += 1
                where = f"\n  report with the error: {html_path}" if html_path else ""
                self._line(f"[{self.done}/{self.total}] {entry.name}: FAILED: {error}{where}", error=True)
            else:
                self._line(f"[{self.done}/{self.total}] {entry.name}: report {html_path}")
            self.bar.update(1)
            self._postfix()

    def close(self) -> None:
        self.bar.close()


def run_local(entries: list[SuiteEntry], reports: Path, kernel: str, jobs: int, progress: SuiteProgress) \
        -> list[tuple[str, str]]:
    """Run the entries in `jobs` threads on this machine, each notebook in its own kernel; the failures as
    (name, error)."""
    failures = []

    def run(entry: SuiteEntry):
        folder = entry.folder(reports)
        progress.started(entry, folder)
        parameters = {**entry.parameters, "output_dir": str(folder.resolve())}
        html_path, error = report.execute_notebook(entry.notebook, folder, parameters, kernel, progress=False)
        progress.finished(entry, html_path, error)
        return entry, error

    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        for future in as_completed([pool.submit(run, entry) for entry in entries]):
            entry, error = future.result()
            if error:
                failures.append((entry.name, error))
    finally:  # on Ctrl-C, return at once (the caller kills the kernels) rather than wait for running notebooks
        pool.shutdown(wait=False, cancel_futures=True)
    return failures
