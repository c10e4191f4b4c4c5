"""The reports folder's front page and its Markdown digest, built from results.json files only.

First every seed claim checked by any run, with its verdict and a link to the evidence; then one section
per study with the few numbers a user came for (runs of the same study side by side) and its key plot;
then every run's status, parameters and versions. Numbers carry the labels and units their study gave
them; raw result keys stay in results.json. It can be rebuilt at any time without re-running anything.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

from workbench.core.files import atomic_path
from workbench.run import catalog
from workbench.run.claims import (
    EVIDENCE_ANCHOR,
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NOT_MEASURABLE,
    OTHER_SUBJECT,
    VERDICTS,
    Claim,
    claims_html,
    counts,
    from_dict,
    unreached_html,
)
from workbench.run.formatting import number
from workbench.run.report import REPORT_FILE
from workbench.run.results import RESULTS_FILE, RunStatus, load_results

INDEX_FILE = "index.html"
SUMMARY_FILE = "summary.md"
KEY_PLOT = "key-plot.png"  # a study saves its key figure under this name; the index shows it as a thumbnail
NOT_MEASURED = "not measured"


UNREADABLE = "unreadable results.json"  # the status of a run whose file could not be read or has the wrong shape
LAYOUT: tuple[tuple[str, dict | list], ...] = (("results", {}), ("parameters", {}), ("claims", []), ("headline", []),
                                               ("labels", {}), ("environment", {}))


def _malformed(data: dict) -> list[str]:
    """What in a results.json does not have the layout a run writes (a missing key is an older layout, not wrong)."""
    wrong = [f"'{key}' is {'null' if data[key] is None else type(data[key]).__name__}, not "
             f"{'an object' if isinstance(empty, dict) else 'a list'}"
             for key, empty in LAYOUT if key in data and not isinstance(data[key], type(empty))]
    claims = data.get("claims")
    wrong += [f"claim {i + 1} has neither a quote nor a claim" for i, c in enumerate(claims if isinstance(claims, list) else [])
              if not (isinstance(c, dict) and isinstance(c.get("quote", c.get("claim")), str))]
    return wrong


def _read_run(path: Path) -> dict:
    """One run's results.json; one that cannot be read, or has the wrong shape, becomes a run whose status says so
    (and whose malformed parts are dropped, so nothing in it is counted as a verdict)."""
    try:
        if path.is_dir():
            raise ValueError("a folder, not a file")
        data = load_results(path)
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, found {type(data).__name__}")
    except (OSError, ValueError) as exc:
        return {"notebook": path.parent.name, "status": f"{UNREADABLE} ({path}): {exc}"}
    wrong = _malformed(data)
    if wrong:
        return {"notebook": str(data.get("notebook", path.parent.name)),
                "status": f"{UNREADABLE} ({path}): {'; '.join(wrong)}"}
    return data


def collect_runs(reports_dir: str | Path) -> list[dict]:
    """Every results.json under `reports_dir`, with its folder, newest first; a damaged one becomes a failed run.
    Hidden folders are skipped: they hold a run folder still being written or swapped (`dask_executor`)."""
    runs = []
    for path in sorted(Path(reports_dir).glob(f"*/{RESULTS_FILE}")):
        if path.parent.name.startswith("."):
            continue
        data = _read_run(path)
        for key, empty in LAYOUT:
            if not isinstance(data.get(key), type(empty)):
                data[key] = empty
        data["_folder"] = path.parent
        runs.append(data)
    _name_apart(runs)
    return sorted(runs, key=lambda r: str(r.get("updated_at", "")), reverse=True)


def _model_of(run: dict) -> str:
    parameters = run.get("parameters", {})
    model = parameters.get("model") or parameters.get("models") or parameters.get("preset_name")
    if isinstance(model, list):
        model = ", ".join(map(str, model)) or None
    return str(model) if model else run["_folder"].name


def _name_apart(runs: list[dict]) -> None:
    """Give each run its title: the model, plus the parameters that differ from other runs of the same study on
    the same model ("all-minilm-l6-v2, max_length=64"), so side-by-side columns never look alike."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault((str(run.get("notebook")), _model_of(run)), []).append(run)
    for (_, model), group in groups.items():
        names = dict.fromkeys(k for r in group for k in r["parameters"] if k != "output_dir")
        differing = [k for k in names if len({repr(r["parameters"].get(k)) for r in group}) > 1]
        for run in group:
            extra = ", ".join(f"{k}={run['parameters'].get(k)!r}" for k in differing)
            run["_title"] = f"{model}, {extra}" if extra else model


def run_title(run: dict) -> str:
    """What tells two runs apart on the page: the model (or models), else the folder, and what else differs."""
    return run.get("_title") or _model_of(run)


def _report_link(run: dict, anchor: str = "") -> str:
    folder: Path = run["_folder"]
    if not (folder / REPORT_FILE).exists():
        return ""
    return f"{folder.name}/{REPORT_FILE}" + (f"#{anchor}" if anchor else "")


# what a reader must see first: verdicts on the claims' own models, then values measured on other models
_READING_ORDER = (FAILS, INCONCLUSIVE, HOLDS, OTHER_SUBJECT, NOT_MEASURABLE)


class ClaimRow(NamedTuple):
    """One claim as the index lists it: the verdict, which run made it, and where its evidence is."""

    claim: Claim
    title: str  # study number and run title
    link: str  # the run's report, at its claims
    notebook: str  # the study that made it
    run: str  # the run's folder under the reports folder


def claim_rows(runs: list[dict]) -> list[ClaimRow]:
    """Every claim of every complete run: failures first."""
    rows = [ClaimRow(from_dict(c), f"{str(r.get('notebook', ''))[:2]} · {run_title(r)}",
                     _report_link(r, EVIDENCE_ANCHOR), str(r.get("notebook", "")), Path(r["_folder"]).name)
            for r in runs if r.get("status") == RunStatus.COMPLETE for c in r["claims"] if isinstance(c, dict)]
    return sorted(rows, key=lambda row: _READING_ORDER.index(row.claim.verdict))


def _claims_table(rows: list[ClaimRow]) -> str:
    return claims_html([r.claim for r in rows], [r.title for r in rows], [r.link for r in rows])


def _unreached_html(rows: list[ClaimRow]) -> str:
    """The claims these runs could not measure, one collapsed line per run (`claims.unreached_html`)."""
    out = []
    for title in dict.fromkeys(r.title for r in rows):
        group = [r for r in rows if r.title == title]
        study = catalog.find(group[0].notebook)
        out.append(unreached_html([r.claim for r in group], "these runs", study,
                                  f" of {study.title if study is not None else title}", [r.title for r in group],
                                  [r.link for r in group]))
    return "".join(out)


def labelled_numbers(run: dict) -> dict:
    """A run's headline numbers by the label its study gave them (unlabelled keys stay in results.json only)."""
    return {run["labels"][k]: run["results"].get(k) for k in run["headline"] if run["labels"].get(k)}


def headline(runs: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The labelled headline numbers of runs of one study, side by side: (row labels, one column per run)."""
    numbers = [labelled_numbers(run) for run in runs]
    labels = list(dict.fromkeys(label for by_label in numbers for label in by_label))
    columns = [[NOT_MEASURED if by_label.get(label) is None and label in by_label else
                number(by_label.get(label), label) for label in labels] for by_label in numbers]
    return labels, columns


def _study_order(runs: list[dict]) -> list[str]:
    """The catalog's studies in its order, then any other notebook's runs by name."""
    found = {str(r.get("notebook")) for r in runs}
    known = [s.name for s in catalog.STUDIES]
    return [s for s in known if s in found] + sorted(found - set(known))


def _title(notebook: str) -> str:
    study = catalog.find(notebook)
    return study.title if study else notebook


def _headline_html(group: list[dict]) -> str:
    labels, columns = headline(group)
    if not labels:
        return "<p>No headline numbers recorded (an interrupted run, or one written before results had labels: " \
               "run it again).</p>"
    heads = []
    for run in group:
        link = _report_link(run)
        title = html.escape(run_title(run))
        head = f'<a href="{html.escape(link)}">{title}</a>' if link else title
        if run.get("label"):
            head += f'<br><em class="label">{html.escape(str(run["label"]))}</em>'
        heads.append(f"<th>{head}<br><small>{html.escape(run['_folder'].name)}</small></th>")
    raw = [labelled_numbers(run) for run in group]

    def cell(label: str, run: int, shown: str) -> str:  # words wrap in a column of their own; numbers stay whole
        kind = ' class="text"' if isinstance(raw[run].get(label), str) else ""
        return f"<td{kind}>{html.escape(shown)}</td>"

    body = "".join(f"<tr><th>{html.escape(label)}</th>" + "".join(cell(label, j, col[i]) for j, col in
                                                                  enumerate(columns)) + "</tr>"
                   for i, label in enumerate(labels))
    return f'<div class="scroll"><table class="headline"><thead><tr><th></th>{"".join(heads)}</tr></thead>' \
           f"<tbody>{body}</tbody></table></div>"


def _thumbnails(group: list[dict]) -> str:
    shown = []
    for run in group:
        if (run["_folder"] / KEY_PLOT).exists():
            image = f'<img src="{html.escape(run["_folder"].name)}/{KEY_PLOT}" alt="key plot of {html.escape(run_title(run))}">'
            link = _report_link(run)
            shown.append(f'<a href="{html.escape(link)}">{image}</a>' if link else image)
    return f'<div class="thumbs">{"".join(shown)}</div>' if shown else ""


def _status_rows(runs: list[dict]) -> str:
    rows = []
    for run in runs:
        folder: Path = run["_folder"]
        link = _report_link(run)
        status = str(run.get("status", "unknown"))
        if status == RunStatus.COMPLETE and not link:
            status = "complete, report not rendered: run the suite again to render it"
        name = html.escape(_title(str(run.get("notebook", folder.name))))
        title = f'<a href="{html.escape(link)}">{name}</a>' if link else name
        params = "".join(f"<li><code>{html.escape(str(k))}</code> = {html.escape(repr(v))}</li>"
                         for k, v in run["parameters"].items())
        env = run["environment"]
        packages = env.get("packages", {}) if isinstance(env.get("packages"), dict) else {}
        versions = ", ".join(f"{k} {v}" for k, v in packages.items() if v and k in ("workbench", "torch", "transformers"))
        css = "ok" if status == RunStatus.COMPLETE else "failed"
        rows.append(f'<tr class="{css}"><td>{title}<br><small>{html.escape(folder.name)}</small></td>'
                    f'<td class="status">{html.escape(status)}</td>'
                    f'<td><details><summary>{len(run["parameters"])} parameters</summary><ul>{params}</ul></details></td>'
                    f'<td>{html.escape(str(run.get("updated_at", "")))}<br><small>{html.escape(versions)}<br>'
                    f'{html.escape(str(env.get("git_sha") or ""))[:12]}</small></td></tr>')
    return "".join(rows)


_STYLE = """<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 80em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; } .scroll { overflow-x: auto; }
td, th { border-bottom: 1px solid #ddd; padding: 0.4em 0.6em; vertical-align: top; text-align: left; }
table.headline td { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.headline td.text { text-align: left; white-space: normal; min-width: 14em; max-width: 30em; }
table.headline tbody th { font-weight: normal; }
table.runs { width: 100%; } tr.failed td.status { color: #b00020; font-weight: bold; }
tr.ok td.status { color: #2e7d32; } em.label { color: #8a5a00; font-size: 90%; font-weight: normal; }
.thumbs img { max-width: 320px; border: 1px solid #ddd; margin: 0.5em 0.5em 0 0; }
ul { margin: 0; padding-left: 1.1em; } code { font-size: 90%; } h2 { margin-top: 1.8em; }
</style>"""


def index_html(runs: list[dict]) -> str:
    """The whole page as a string (escaped throughout)."""
    built = datetime.now(timezone.utc).isoformat(timespec="seconds")
    incomplete = sum(r.get("status") != RunStatus.COMPLETE for r in runs)
    parts = [f"<h1>Embedding workbench reports</h1><p>Built {html.escape(built)} from {len(runs)} run(s)' "
             f"<code>results.json</code>; {incomplete} not complete.</p>"]
    if not runs:
        parts.append("<p>No runs yet: <code>workbench run</code> produces them.</p>")
    rows = claim_rows(runs)
    if rows:
        checked = [r for r in rows if r.claim.verdict != NOT_MEASURABLE]
        tally = counts([r.claim for r in checked])
        parts.append("<h2>Published claims, checked</h2><p>" +
                     (", ".join(f"{tally[v]} {v}" for v in VERDICTS if tally[v]) or "None checked") + ".</p>")
        if checked:
            parts.append(_claims_table(checked))
        parts.append(_unreached_html([r for r in rows if r.claim.verdict == NOT_MEASURABLE]))
    for study in _study_order(runs):
        group = [r for r in runs if str(r.get("notebook")) == study and r.get("status") == RunStatus.COMPLETE]
        if group:
            parts.append(f"<h2>{html.escape(_title(study))}</h2>{_headline_html(group)}{_thumbnails(group)}")
    if runs:
        parts.append('<h2>Every run</h2><div class="scroll"><table class="runs"><thead><tr><th>Study</th><th>Status'
                     "</th><th>Parameters</th><th>Date, versions</th></tr></thead><tbody>"
                     f"{_status_rows(runs)}</tbody></table></div>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Embedding workbench reports</title>'
            f"{_STYLE}</head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


def _markdown_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def summary_markdown(runs: list[dict]) -> str:
    """The index as Markdown, for pasting into a pull request: the claims' verdicts and each study's headline."""
    lines = ["# Embedding workbench: summary", ""]
    rows = claim_rows(runs)
    if rows:
        lines += ["## Published claims", "", "| verdict | claim | value | threshold | run |", "|---|---|---|---|---|"]
        lines += [f"| {c.verdict} | {_markdown_cell(c.quote)} | {_markdown_cell(c.value)} | "
                  f"{_markdown_cell(c.threshold)} | {_markdown_cell(title)} |" for c, title, _, _, _ in rows]
        lines.append("")
    for study in _study_order(runs):
        group = [r for r in runs if str(r.get("notebook")) == study and r.get("status") == RunStatus.COMPLETE]
        labels, columns = headline(group)
        if not labels:
            continue
        lines += [f"## {_title(study)}", "",
                  "| | " + " | ".join(_markdown_cell(run_title(r)) for r in group) + " |",
                  "|---|" + "---:|" * len(group)]
        lines += [f"| {_markdown_cell(label)} | " + " | ".join(_markdown_cell(col[i]) for col in columns) + " |"
                  for i, label in enumerate(labels)]
        lines.append("")
    return "\n".join(lines)


def build_index(reports_dir: str | Path, runs: list[dict] | None = None) -> Path:
    """Write reports_dir/index.html and reports_dir/summary.md from the results.json files found there (`runs`,
    when the caller has already collected them)."""
    reports_dir = Path(reports_dir)
    runs = collect_runs(reports_dir) if runs is None else runs
    for name, text in ((SUMMARY_FILE, summary_markdown(runs)), (INDEX_FILE, index_html(runs))):
        with atomic_path(reports_dir / name) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return reports_dir / INDEX_FILE
