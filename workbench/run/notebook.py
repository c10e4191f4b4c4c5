"""Notebook conveniences: quiet, readable defaults and small display helpers."""

from __future__ import annotations

import html

import pandas as pd

from workbench.core.embedding import Recipe
from workbench.core.files import atomic_path
from workbench.core.models import LoadedModel
from workbench.core.progress import quiet_transformers
from workbench.run.claims import EVIDENCE_ANCHOR, NOT_MEASURABLE, Claim, claims_html, unreached_html
from workbench.run.formatting import column_label, number
from workbench.run.index_page import KEY_PLOT
from workbench.run.results import Run


def setup() -> None:
    """Readable tables, no download progress noise, figures sized for an HTML report."""
    import matplotlib as mpl

    quiet_transformers()
    pd.set_option("display.float_format", lambda x: f"{x:.7g}")
    pd.set_option("display.max_colwidth", 80)
    pd.set_option("display.max_rows", 100)
    mpl.rcParams.update({"figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3})


def model_card(loaded: LoadedModel, recipe: Recipe, run: Run | None = None):
    """The model's spec, which weights it loaded (hub revision, SHA-256 per file) and the recipe in one
    two-column table; with `run`, the weights' provenance is recorded in its results.json (`tables.weights`)."""
    from workbench.core import provenance

    spec = loaded.spec
    weights = provenance.of(loaded)
    if run is not None:
        run.record_rows(provenance.WEIGHTS, [weights])
    rows = {
        "model": spec.name,
        "weights from": loaded.source,
        **provenance.fingerprint(weights),
        "architecture": spec.architecture,
        "dimension": spec.dim,
        "max tokens": spec.max_tokens,
        "trained pooling": spec.pooling,
        "padding side": spec.padding_side,
        "query prompt": spec.query_prompt or "(none)",
        "license": spec.license or "(unknown)",
    }
    rows.update({f"recipe: {k}": v for k, v in recipe.as_dict().items()})
    return table(pd.DataFrame({"value": [str(v) for v in rows.values()]}, index=list(rows)))


def html_block(text_html: str):
    """Show a computed paragraph (already escaped by its producer)."""
    from IPython.display import HTML

    return HTML(f'<div style="max-width:60em;line-height:1.5">{text_html}</div>')



def parameters_table(run: Run):
    """Every parameter of this run, defaults included, as recorded in results.json (values shown whole)."""
    parameters = run.payload["parameters"]
    frame = pd.DataFrame({"value": [repr(v) for v in parameters.values()]}, index=list(parameters))
    return table(frame, f"parameters ({run.path.name} in {run.dir})")


def headline_table(run: Run):
    """The run's headline numbers as the index shows them: the page's closing summary, in words with units."""
    from workbench.run.index_page import headline

    labels, (column,) = headline([run.payload])
    return table(pd.DataFrame({"value": column}, index=labels), "headline numbers (the index page shows these)")


def collapsible(frame: pd.DataFrame, summary: str):
    """A long table folded under a one-line summary, rendered by `table` (escaped, whole, formatted by unit)."""
    from IPython.display import HTML

    return HTML(f"<details><summary>{html.escape(summary)}</summary>{table(frame).data}</details>")


def _label(column) -> str:
    return column_label(column[-1] if isinstance(column, tuple) else column)


def table(frame: pd.DataFrame | pd.Series, caption: str = "", highlight_max: bool = False, empty: str = ""):
    """The one way a report shows a table: every row (never truncated), column names in words with units,
    each number formatted by its column's unit (`formatting.number`), text escaped; `highlight_max` marks
    each numeric column's best value. A wide table scrolls sideways instead of being cut. A table with no rows
    is the sentence `empty` (what would fill it), never a header over nothing."""
    from IPython.display import HTML

    if len(frame) == 0:
        return HTML(f"<p><em>{html.escape(empty or 'Nothing to show in this run.')}</em></p>")
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    labels = {c: _label(c) for c in frame.columns}

    def cell_for(label):
        return lambda value: html.escape(number(value, label))

    styler = frame.style.format({c: cell_for(labels[c]) for c in frame.columns})
    styler = styler.format_index(lambda v: html.escape(number(v)), axis=0).format_index(
        lambda v: html.escape(column_label(v)), axis=1)
    if isinstance(frame.index, pd.RangeIndex):
        styler = styler.hide(axis="index")  # row numbers say nothing
    if highlight_max:
        styler = styler.highlight_max(axis=0, color="#fff3b0", subset=frame.select_dtypes("number").columns)
    if caption:
        styler = styler.set_caption(html.escape(caption))
    return HTML(f'<div style="overflow-x:auto">{styler.to_html()}</div>')


def table_with_notes(frame: pd.DataFrame, note_column: str, caption: str = ""):
    """`table` with one column of long notes moved under the table as a numbered list: the column keeps the
    numbers ("1, 3"), so no row grows dozens of lines tall in a narrow column. Equal notes share a number."""
    from IPython.display import HTML, display

    numbers: dict[str, int] = {}
    refs = []
    for text in frame[note_column].fillna(""):
        parts = [part.strip() for part in str(text).split("; ") if part.strip()]
        refs.append(", ".join(str(numbers.setdefault(part, len(numbers) + 1)) for part in parts))
    shown = frame.drop(columns=note_column).assign(**{"notes": refs})
    items = "".join(f"<li>{html.escape(text)}</li>" for text in numbers)
    display(table(shown, caption))
    return HTML(f'<ol class="wb-notes" style="max-width:60em;font-size:90%">{items}</ol>' if items else "")


def claims(found: list[Claim]):
    """The claims this run checked, under the anchor the index's evidence links point to; those it could not
    measure fold into one line naming the command that measures them (the study's `checked_by`)."""
    from IPython.display import HTML

    from workbench.run import catalog
    from workbench.run.results import current_run

    run = current_run()
    study = catalog.find(run.payload["notebook"]) if run is not None else None
    checked = [c for c in found if c.verdict != NOT_MEASURABLE]
    unreached = [c for c in found if c.verdict == NOT_MEASURABLE]
    parts = [claims_html(checked)] if checked or not unreached else []
    if unreached:
        parts.append(unreached_html(unreached, "this run", study))
    return HTML(f'<div id="{EVIDENCE_ANCHOR}">{"".join(parts)}</div>')


def key_plot(run: Run, figure):
    """Show `figure` and save it beside results.json as the index's thumbnail of this study."""
    with atomic_path(run.dir / KEY_PLOT) as tmp:
        figure.savefig(tmp, format="png", dpi=60, bbox_inches="tight")
    return figure


def _injected_names(namespace: dict) -> list[str]:
    """Names papermill assigned in its injected cell (it starts with "# Parameters"), from IPython's input history."""
    import ast

    for source in reversed(namespace.get("In") or []):
        if source.lstrip().startswith("# Parameters"):
            return [target.id for node in ast.parse(source).body if isinstance(node, ast.Assign)
                    for target in node.targets if isinstance(target, ast.Name)]
    return []


def checked_parameters(namespace: dict) -> dict:
    """Convert every parameter to the type its annotation declares (papermill passes `-p` values as strings) and
    refuse names papermill injected that the parameters cell does not declare; returns the converted values,
    also set in `namespace`.

    Called first thing after the parameters cell, so a bad value stops the notebook before any expensive step.
    """
    import difflib

    from workbench.core.params import coerce

    declared = dict(namespace.get("__annotations__") or {})
    for name in _injected_names(namespace):
        if name not in declared:
            close = difflib.get_close_matches(name, declared, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise NameError(f"parameter {name!r} is not one this notebook declares{hint}. Its parameters: "
                            f"{', '.join(declared)}")
    values = {name: coerce(namespace[name], name, kind) for name, kind in declared.items() if name in namespace}
    for name, value in values.items():
        _check_minimum(name, value)
    namespace.update(values)
    return values


def anchor(section_id: str):
    """An empty element with an id another study links to, above a section, so that its heading can change freely
    (the id is a constant both the writer and the reader import)."""
    from IPython.display import HTML

    return HTML(f'<div id="{html.escape(section_id, quote=True)}"></div>')


def declared_parameters(namespace: dict, **derived) -> dict:
    """What a run records as its parameters (`results.start_run`), and so its "every parameter" table: each name
    the parameters cell declares, in its order, with the value it holds now (after `checked_parameters` and the
    study's own validation), so no hand-written list can leave one out. `derived` adds or replaces values worked
    out from them (07's preset name and its effective budgets).

    output_dir is left out: it says where this run writes, not what it measured, and a Dask cell's is a scratch
    folder on its worker.
    """
    declared = [name for name in (namespace.get("__annotations__") or {}) if name != "output_dir"]
    return {**{name: namespace[name] for name in declared}, **derived}


# The smallest value each count parameter can take in any notebook (0 for max_texts means "all"); a list's
# items obey its entry. A value below it would time nothing, embed nothing, or mean something else silently.
MINIMUM = {"max_texts": 0, "batch_size": 1, "latency_repeats": 1, "max_length": 2, "last_n_layers": 1,
           "n_queries": 1, "k": 1, "M": 2, "ef_construction": 1, "ef_search": 1, "plan_dim": 1,
           "batch_sizes": 1, "series_batch_sizes": 1, "dims": 1, "n_values": 2, "last_n_values": 1,
           "step_timeout_min": 1e-9, "memory_margin_gb": 0, "slow_above_b": 0, "disk_budget_gb": 1e-9,
           "ram_budget_gb": 1e-9, "latency_budget_ms": 1e-9, "latency_n": 11, "rescore_multipliers": 1,
           "truncate_dims": 1, "min_retention_pct": 1e-9}


def _check_minimum(name: str, value) -> None:
    if name not in MINIMUM:
        return
    for item in (value if isinstance(value, list) else [value]):
        if isinstance(item, bool) or not isinstance(item, (int, float)) or item < MINIMUM[name]:
            floor = MINIMUM[name]
            bound = f">= {floor:g}" if floor >= 1 or floor == 0 else "> 0"
            raise ValueError(f"{name} must be {bound}{' (each item)' if isinstance(value, list) else ''}; "
                             f"got {value!r}")
