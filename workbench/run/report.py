"""Executed notebooks become self-contained HTML reports, written only once the run is complete.

The index page over all runs is `index_page`'s: it reads results.json files only.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from workbench.core.files import NotUtf8Error, atomic_path, read_utf8
from workbench.run.results import STEP_LOG, RunStatus, load_results, mark_failed

REPORT_FILE = "report.html"
EXECUTED_FILE = "notebook.ipynb"

# External scripts nbconvert's lab template links (require.js, MathJax): dropped so the
# report opens offline with no failed requests; the notebooks use no widgets or LaTeX.
_EXTERNAL_SCRIPT = re.compile(r'<script[^>]*\ssrc="https?://[^"]*"[^>]*>\s*</script>', re.IGNORECASE)

_PAGE_SCRIPT = """
<style>
body.wb-hide-code .jp-CodeCell .jp-Cell-inputWrapper,
body.wb-hide-code .jp-OutputPrompt, body.wb-hide-code .jp-InputPrompt { display: none; }
#wb-toolbar { position: fixed; top: 0.6em; right: 0.8em; z-index: 10; }
#wb-toolbar button { font: 13px sans-serif; padding: 0.3em 0.8em; cursor: pointer; }
</style>
<script>
function wbToggleCode() {
  const hidden = document.body.classList.toggle("wb-hide-code");
  document.getElementById("wb-toggle").textContent = hidden ? "Show code" : "Hide code";
}
// A table of SORTABLE_ROWS rows or more sorts by a click on a column header: numbers by value (thousands
// separators and units ignored), text alphabetically; a second click reverses.
const SORTABLE_ROWS = 10;
function wbCellValue(row, column) {
  const text = row.cells[column] ? row.cells[column].innerText.trim() : "";
  const number = parseFloat(text.replace(/,/g, ""));
  return isNaN(number) ? text : number;
}
document.addEventListener("DOMContentLoaded", () => {
  for (const table of document.querySelectorAll("table")) {
    const body = table.tBodies[0], head = table.tHead;
    if (!body || !head || body.rows.length < SORTABLE_ROWS) continue;
    Array.from(head.rows[head.rows.length - 1].cells).forEach((th, column) => {
      th.style.cursor = "pointer";
      th.title = "click to sort";
      th.addEventListener("click", () => {
        const ascending = th.dataset.sorted !== "ascending";
        const rows = Array.from(body.rows).sort((a, b) => {
          const x = wbCellValue(a, column), y = wbCellValue(b, column);
          const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
          return ascending ? order : -order;
        });
        th.dataset.sorted = ascending ? "ascending" : "descending";
        rows.forEach(row => body.appendChild(row));
      });
    });
  }
});
</script>
"""


def notebook_to_html(executed: str | Path, destination: str | Path | None = None) -> Path:
    """Render an executed notebook as one self-contained HTML file, code hidden behind a toggle."""
    import nbformat
    from nbconvert import HTMLExporter

    executed = Path(executed)
    if not executed.exists():
        raise FileNotFoundError(f"{executed} does not exist; run the notebook first (papermill or workbench run)")
    destination = Path(destination) if destination else executed.with_suffix(".html")
    try:
        notebook = nbformat.reads(read_utf8(executed), as_version=4)
    except (ValueError, AttributeError, KeyError) as exc:  # NotUtf8Error names the line and the fix itself
        message = str(exc) if isinstance(exc, NotUtf8Error) else f"{executed}: not a Jupyter notebook ({exc})"
        raise ValueError(message) from None
    warnings = _move_library_output(notebook, destination.parent / STEP_LOG)
    exporter = HTMLExporter(template_name="lab", embed_images=True)
    body, _ = exporter.from_notebook_node(notebook)
    body = _EXTERNAL_SCRIPT.sub("", body)
    toolbar = '<div id="wb-toolbar"><button id="wb-toggle" onclick="wbToggleCode()">Show code</button></div>'
    body = body.replace("</head>", _PAGE_SCRIPT + "</head>", 1)
    body = re.sub(r"<body([^>]*)>", lambda m: _body_open(m.group(1)) + toolbar, body, count=1)
    body = body.replace("</body>", _warnings_box(warnings) + "</body>", 1)
    with atomic_path(destination) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return destination


_PYTHON_WARNING = re.compile(r"(?:^|: )(\w*Warning: .+)$")
_LOGGED_WARNING = re.compile(r"\bWARNING\b[\s|:]*(.+)$")


def _move_library_output(notebook, log: Path) -> list[str]:
    """Take every stderr output (progress bars, converter logs, warnings) out of the page and append it to `log`;
    return the distinct warnings among it, for one folded box."""
    captured = []
    for cell in notebook.cells:
        outputs = cell.get("outputs")
        if outputs is None:
            continue
        captured += [o["text"] for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stderr"]
        cell["outputs"] = [o for o in outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    text = "".join(captured)
    if text:
        previous = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        with atomic_path(log) as tmp:
            tmp.write_text(previous + text, encoding="utf-8")
    found: list[str] = []
    for line in text.replace("\r", "\n").splitlines():
        match = _PYTHON_WARNING.search(line.strip()) or _LOGGED_WARNING.search(line.strip())
        if match and match.group(1) not in found:
            found.append(match.group(1))
    return found


def _warnings_box(warnings: list[str]) -> str:
    """At most one folded box at the end of the page: the distinct warnings, and where the full output went."""
    if not warnings:
        return ""
    items = "".join(f"<li><code>{html.escape(w)}</code></li>" for w in warnings)
    return (f'<details id="wb-warnings" style="margin:2em 1em"><summary>{len(warnings)} distinct warning'
            f'{"s" if len(warnings) > 1 else ""} (the libraries\' full output is in <a href="{STEP_LOG}">{STEP_LOG}</a>)'
            f"</summary><ul>{items}</ul></details>")


def _body_open(attributes: str) -> str:
    if 'class="' in attributes:
        return "<body" + attributes.replace('class="', 'class="wb-hide-code ', 1) + ">"
    return f'<body class="wb-hide-code"{attributes}>'


def partial_notebook(output_dir: Path) -> Path:
    """Where papermill writes while a notebook runs (ending in .ipynb, the suffix papermill expects)."""
    return Path(output_dir) / f".{Path(EXECUTED_FILE).stem}.partial.ipynb"


# The kernel's own log (not cell output) goes quiet below errors: its "running over TCP without encryption"
# notice on a local machine would otherwise print for every notebook.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]


def kernel_manager_logging_to(log: Path):
    """A kernel manager class whose kernels write their own log (stderr) to `log`, not to the terminal.

    jupyter_client interrupts a kernel before it asks it to shut down; a kernel still inside a message handler then
    logs "ERROR | KeyboardInterrupt caught in kernel." at the end of a run that succeeded, which a reader takes
    for a failure (issue 29). The cells' own output still reaches the notebook as before.
    """
    from jupyter_client.manager import AsyncKernelManager

    class KernelLoggingToFile(AsyncKernelManager):
        async def start_kernel(self, **kwargs):
            with open(log, "ab") as stream:  # the kernel process keeps its own copy of the descriptor
                kwargs.setdefault("stderr", stream)
                return await super().start_kernel(**kwargs)

    return KernelLoggingToFile


def execute_notebook(notebook: str | Path, output_dir: str | Path, parameters: dict, kernel: str = "python3",
                     progress: bool = True) -> tuple[Path | None, str | None]:
    """Run a notebook with papermill into `output_dir`, then render its HTML (also when it failed).

    Papermill rewrites its output after every cell, so it writes to a temp name that
    becomes notebook.ipynb only when execution ends; an interrupted run leaves no
    half-written notebook. Returns the HTML path and the error text (None on success).
    """
    import papermill

    from workbench.core.paths import PROJECT_ROOT

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    partial = partial_notebook(output_dir)
    error = None
    try:
        papermill.execute_notebook(str(notebook), str(partial), parameters=parameters, kernel_name=kernel,
                                   cwd=str(PROJECT_ROOT), progress_bar=progress, extra_arguments=KERNEL_ARGUMENTS,
                                   kernel_manager_class=kernel_manager_logging_to(output_dir / STEP_LOG))
    except papermill.PapermillExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue}"
        mark_failed(output_dir, error)
    except BaseException:
        keep_or_drop_partial(output_dir)
        raise
    return finalize(output_dir), error


def results_complete(output_dir: Path) -> bool:
    """Whether the run's results.json says complete (every number recorded; its report may still be missing)."""
    try:
        return load_results(output_dir).get("status") == RunStatus.COMPLETE
    except (OSError, ValueError, AttributeError):
        return False


def keep_or_drop_partial(output_dir: Path) -> None:
    """On an interrupt: a finished run's notebook becomes notebook.ipynb (the report is rendered from it by the next
    run); an unfinished one's half-written notebook is removed."""
    partial = partial_notebook(output_dir)
    if partial.exists() and results_complete(output_dir):
        partial.replace(Path(output_dir) / EXECUTED_FILE)
    else:
        partial.unlink(missing_ok=True)


def finalize(output_dir: Path) -> Path | None:
    """The executed notebook in place, then its report rendered; None when there is no notebook to render.

    Renaming before rendering means a stop at any moment leaves either the notebook (the next run renders it)
    or both: a finished run is never lost.
    """
    import nbformat

    output_dir = Path(output_dir)
    partial, executed = partial_notebook(output_dir), output_dir / EXECUTED_FILE
    if partial.exists():
        partial.replace(executed)
    if not executed.exists():
        return None
    try:
        nbformat.read(executed, as_version=4)
    except (ValueError, OSError):  # cut short by a kill -9 while papermill wrote it: the entry runs again
        executed.unlink()
        return None
    return notebook_to_html(executed, output_dir / REPORT_FILE)


def has_report(output_dir: Path) -> bool:
    """Complete means report written: results.json complete and report.html beside it."""
    return results_complete(output_dir) and (Path(output_dir) / REPORT_FILE).exists()
