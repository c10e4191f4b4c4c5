"""Two runs side by side: the parameters (and weights) that differ, then every headline number that changed and
which way.

`workbench compare A B` takes run folders or their hashes (the part after the notebook's name, or its
start), prints the table and writes it as an HTML page in the reports folder.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import TypeGuard

from workbench.core.files import atomic_path
from workbench.core.provenance import WEIGHTS, fingerprint
from workbench.run.formatting import number, text_table
from workbench.run.index_page import collect_runs, labelled_numbers, run_title
from workbench.run.results import RESULTS_FILE

# Words in a headline label that say which way is better; checked in order, the first found decides.
HIGHER_IS_BETTER = ("cosine", "spearman", "ndcg", "recall", "agreement", "auc", "items that fit")
LOWER_IS_BETTER = ("latency", "size", "l2", "rss", "memory", "disk", "convert", "load", "overhead")


def _finite_number(value) -> TypeGuard[float]:
    """An int or float (not a bool) that is finite: a change can be computed from it."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def direction(label: str) -> int:
    """+1 when a larger value is better, -1 when smaller is, 0 when the label does not say."""
    name = label.lower()
    for words, sign in ((HIGHER_IS_BETTER, 1), (LOWER_IS_BETTER, -1)):
        if any(word in name for word in words):
            return sign
    return 0


def find_run(reference: str, reports_dir: Path) -> Path:
    """A run folder from a path, a folder name under `reports_dir`, or the start of its hash."""
    path = Path(reference)
    if (path / RESULTS_FILE).exists():
        return path
    if (reports_dir / reference / RESULTS_FILE).exists():
        return reports_dir / reference
    found = [f.parent for f in sorted(reports_dir.glob(f"*/{RESULTS_FILE}"))
             if f.parent.name.rpartition("-")[2].startswith(reference)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise ValueError(f"{reference}: no run folder (with results.json) or hash under {reports_dir}; "
                         "`workbench report` lists the runs in index.html")
    raise ValueError(f"{reference} matches {len(found)} runs ({', '.join(f.name for f in found)}); "
                     "give more of the hash")


def _run(folder: Path) -> dict:
    runs = [r for r in collect_runs(folder.parent) if r["_folder"].resolve() == folder.resolve()]
    return runs[0]


def differences(a: dict, b: dict) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str, str, str]]]:
    """(parameter, A, B) for every parameter that differs; (label, A, B, change, better/worse) for every labelled
    headline number that changed."""
    params = [(k, repr(a["parameters"].get(k)), repr(b["parameters"].get(k)))
              for k in dict.fromkeys([*a["parameters"], *b["parameters"]])
              if a["parameters"].get(k) != b["parameters"].get(k)]
    weights_a, weights_b = _weights(a), _weights(b)  # same parameters, other bytes: a hub snapshot that moved
    params += [(k, weights_a.get(k, "not recorded"), weights_b.get(k, "not recorded"))
               for k in dict.fromkeys([*weights_a, *weights_b]) if weights_a.get(k) != weights_b.get(k)]
    labels_a, labels_b = labelled_numbers(a), labelled_numbers(b)
    changed = []
    for label in dict.fromkeys([*labels_a, *labels_b]):
        va, vb = labels_a.get(label), labels_b.get(label)
        if va == vb:
            continue
        shown_a = "absent" if label not in labels_a else number(va, label) if va is not None else "not measured"
        shown_b = "absent" if label not in labels_b else number(vb, label) if vb is not None else "not measured"
        if shown_a == shown_b:  # a change below the digits shown is not a change a reader can see
            continue
        change, verdict = "", ""
        if _finite_number(va) and _finite_number(vb):
            change = number(vb - va, label)
            if va:
                change += f" ({100 * (vb - va) / abs(va):+.1f} %)"
            sign = direction(label)
            verdict = "" if sign == 0 else "better" if (vb - va) * sign > 0 else "worse"
        changed.append((label, shown_a, shown_b, change, verdict))
    return params, changed


def _weights(run: dict) -> dict[str, str]:
    """The recorded weights' revision and hashes by label; nothing for a run that recorded none (or random weights)."""
    recorded = WEIGHTS.read(run) or []
    return {k: v for w in recorded for k, v in fingerprint(w).items()}


def _html_table(header: tuple, rows: list[tuple]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in row[:-1])
                   + f'<td class="{html.escape(str(row[-1]))}">{html.escape(str(row[-1]))}</td></tr>' for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def compare(reference_a: str, reference_b: str, reports_dir: str | Path) -> tuple[str, Path]:
    """The comparison as text, and the HTML page written for it under `reports_dir`."""
    reports_dir = Path(reports_dir)
    a, b = (_run(find_run(r, reports_dir)) for r in (reference_a, reference_b))
    if a.get("notebook") != b.get("notebook"):
        raise ValueError(f"{a['_folder'].name} is a {a.get('notebook')} run and {b['_folder'].name} a "
                         f"{b.get('notebook')} run: compare two runs of the same study")
    params, changed = differences(a, b)
    names = (f"A: {a['_folder'].name} ({run_title(a)})", f"B: {b['_folder'].name} ({run_title(b)})")
    text = [*names, ""]
    text += [text_table(("parameter", "A", "B"), params), ""] if params else ["identical parameters", ""]
    text += [text_table(("headline number", "A", "B", "B - A", "B is"), changed)] if changed else \
        ["no headline number changed"]
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(names[0])} vs '
            f"{html.escape(names[1])}</title><style>body {{ font-family: system-ui, sans-serif; margin: 2em; }} "
            "td, th { border-bottom: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; } "
            "table { border-collapse: collapse; } td.better { color: #2e7d32; } td.worse { color: #b00020; }"
            f"</style></head><body><h1>Compare runs</h1><p>{html.escape(names[0])}<br>{html.escape(names[1])}</p>"
            f"<h2>Parameters that differ</h2>{_html_table(('parameter', 'A', 'B'), params) if params else '<p>none</p>'}"
            "<h2>Headline numbers that changed</h2>"
            + (_html_table(("headline number", "A", "B", "B - A", "B is"), changed) if changed else "<p>none</p>")
            + "</body></html>\n")
    destination = reports_dir / f"compare-{a['_folder'].name}-vs-{b['_folder'].name}.html"
    with atomic_path(destination) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return "\n".join(text), destination
