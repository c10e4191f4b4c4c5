"""Executed notebooks become self-contained HTML reports; results.json files become the index page.

The index is built from results.json files only (results are data, reports are
views), so it can be rebuilt at any time without re-running anything.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from pathlib import Path

from workbench.core.files import atomic_path
from workbench.run.results import RESULTS_FILE, load_results, mark_failed

REPORT_FILE = "report.html"
EXECUTED_FILE = "notebook.ipynb"

# External scripts nbconvert's lab template links (require.js, MathJax): dropped so the
# report opens offline with no failed requests; the notebooks use no widgets or LaTeX.
_EXTERNAL_SCRIPT = re.compile(r'<script[^>]*\ssrc="https?://[^"]*"[^>]*>\s*</script>', re.IGNORECASE)

_TOGGLE = """
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
    notebook = nbformat.read(executed, as_version=4)
    exporter = HTMLExporter(template_name="lab", embed_images=True)
    body, _ = exporter.from_notebook_node(notebook)
    body = _EXTERNAL_SCRIPT.sub("", body)
    toolbar = '<div id="wb-toolbar"><button id="wb-toggle" onclick="wbToggleCode()">Show code</button></div>'
    body = body.replace("</head>", _TOGGLE + "</head>", 1)
    body = re.sub(r"<body([^>]*)>", lambda m: _body_open(m.group(1)) + toolbar, body, count=1)
    with atomic_path(destination) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return destination


def _body_open(attributes: str) -> str:
    if 'class="' in attributes:
        return "<body" + attributes.replace('class="', 'class="wb-hide-code ', 1) + ">"
    return f'<body class="wb-hide-code"{attributes}>'


def partial_notebook(output_dir: Path) -> Path:
    """Where papermill writes while a notebook runs."""
    return Path(output_dir) / f".{EXECUTED_FILE}.partial"


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
                                   cwd=str(PROJECT_ROOT), progress_bar=progress)
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
        return load_results(output_dir).get("status") == "complete"
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
    output_dir = Path(output_dir)
    partial, executed = partial_notebook(output_dir), output_dir / EXECUTED_FILE
    if partial.exists():
        partial.replace(executed)
    return notebook_to_html(executed, output_dir / REPORT_FILE) if executed.exists() else None


def has_report(output_dir: Path) -> bool:
    """Complete means report written: results.json complete and report.html beside it."""
    return results_complete(output_dir) and (Path(output_dir) / REPORT_FILE).exists()


# ---------------------------------------------------------------- index page

def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.7g}"
    if value is None:
        return "n/a"
    return str(value)


def collect_runs(reports_dir: str | Path) -> list[dict]:
    """Every results.json under `reports_dir`, with its folder, newest first."""
    runs = []
    for path in sorted(Path(reports_dir).glob(f"*/{RESULTS_FILE}")):
        try:
            data = load_results(path)
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, found {type(data).__name__}")
        except (OSError, ValueError) as exc:
            data = {"notebook": path.parent.name, "status": f"unreadable results.json ({path}): {exc}"}
        for key, empty in (("results", {}), ("parameters", {}), ("claims", []), ("headline", []),
                           ("environment", {})):
            if not isinstance(data.get(key), type(empty)):
                data[key] = empty
        data["_folder"] = path.parent
        runs.append(data)
    return sorted(runs, key=lambda r: r.get("updated_at", ""), reverse=True)


def _findings(runs: list[dict]) -> str:
    """The best variant each run found and every published claim that did not hold, as HTML."""
    best = [f"<li><b>{html.escape(str(r.get('notebook')))}</b>: {html.escape(k)} = "
            f"<b>{html.escape(_format(v))}</b></li>"
            for r in runs for k, v in r.get("results", {}).items() if k.startswith("best_")]
    failed = [f"<li><b>{html.escape(str(r.get('notebook')))}</b>: {html.escape(c['claim'])} &mdash; measured "
              f"{html.escape(str(c['measured']))} ({html.escape(str(c['source']))})</li>"
              for r in runs for c in r.get("claims", []) if c.get("holds") is False]
    held = sum(1 for r in runs for c in r.get("claims", []) if c.get("holds") is True)
    parts = []
    if best:
        parts.append(f"<h2>Best per study</h2><ul>{''.join(best)}</ul>")
    if failed or held:
        parts.append(f"<h2>Claims checked</h2><p>{held} held, {len(failed)} did not.</p>"
                     + (f"<ul class='failed-claims'>{''.join(failed)}</ul>" if failed else ""))
    return "".join(parts)


def build_index(reports_dir: str | Path) -> Path:
    """Write reports_dir/index.html from the results.json files found there."""
    reports_dir = Path(reports_dir)
    runs = collect_runs(reports_dir)
    rows = []
    for run in runs:
        folder: Path = run["_folder"]
        link = f"{folder.name}/{REPORT_FILE}"
        has_report = (folder / REPORT_FILE).exists()
        name = html.escape(str(run.get("notebook", folder.name)))
        title = f'<a href="{html.escape(link)}">{name}</a>' if has_report else name
        if run.get("label"):
            title += f'<br><em class="label">{html.escape(str(run["label"]))}</em>'
        status = str(run.get("status", "unknown"))
        if status == "complete" and not has_report:
            status = "complete, report not rendered: run the suite again to render it"
        css = "ok" if status == "complete" else "failed"
        results = run.get("results", {})
        headline = {k: results[k] for k in run.get("headline") or results if k in results}
        numbers = "".join(f"<li><code>{html.escape(k)}</code> {html.escape(_format(v))}</li>"
                          for k, v in headline.items())
        params = "".join(f"<li><code>{html.escape(str(k))}</code> = {html.escape(repr(v))}</li>"
                         for k, v in run.get("parameters", {}).items())
        env = run.get("environment", {})
        versions = ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items()
                             if v and k in ("workbench", "torch", "transformers"))
        rows.append(
            f'<tr class="{css}"><td>{title}<br><small>{html.escape(folder.name)}</small></td>'
            f'<td>{html.escape(status)}</td><td><ul>{numbers}</ul></td>'
            f'<td><details><summary>{len(run.get("parameters", {}))} parameters</summary><ul>{params}</ul></details></td>'
            f'<td>{html.escape(str(run.get("updated_at", "")))}<br><small>{html.escape(versions)}<br>'
            f'{html.escape(str(env.get("git_sha") or ""))[:12]}</small></td></tr>'
        )
    failed = [r for r in runs if r.get("status") != "complete"]
    summary = (f"<p>{len(runs)} run(s); {len(failed)} not complete.</p>" if runs
               else "<p>No runs yet: <code>workbench run</code> produces them.</p>") + _findings(runs)
    built = datetime.now(timezone.utc).isoformat(timespec="seconds")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Embedding workbench reports</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 0.5em; vertical-align: top; text-align: left; }}
tr.failed td:nth-child(2) {{ color: #b00020; font-weight: bold; }}
tr.ok td:nth-child(2) {{ color: #2e7d32; }}
.failed-claims li {{ color: #b00020; }}
em.label {{ color: #8a5a00; font-size: 90%; }}
ul {{ margin: 0; padding-left: 1.1em; }} code {{ font-size: 90%; }}
</style></head><body>
<h1>Embedding workbench reports</h1>
<p>Built {html.escape(built)} from the <code>results.json</code> files in this folder.</p>
{summary}
<table><thead><tr><th>Study</th><th>Status</th><th>Headline numbers</th><th>Parameters</th><th>Date, versions</th></tr></thead>
<tbody>
{''.join(rows)}
</tbody></table></body></html>
"""
    destination = reports_dir / "index.html"
    with atomic_path(destination) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return destination
