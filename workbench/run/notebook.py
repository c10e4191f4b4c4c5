"""Notebook conveniences: quiet, readable defaults and small display helpers."""

from __future__ import annotations

import html

import pandas as pd

from workbench.core.embedding import Recipe
from workbench.core.models import LoadedModel
from workbench.core.progress import quiet_transformers
from workbench.run.results import Run


def setup() -> None:
    """Readable tables, no download progress noise, figures sized for an HTML report."""
    import matplotlib as mpl

    quiet_transformers()
    pd.set_option("display.float_format", lambda x: f"{x:.7g}")
    pd.set_option("display.max_colwidth", 80)
    pd.set_option("display.max_rows", 100)
    mpl.rcParams.update({"figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3})


def model_card(loaded: LoadedModel, recipe: Recipe) -> pd.DataFrame:
    """The model's spec and the recipe in one two-column table."""
    spec = loaded.spec
    rows = {
        "model": spec.name,
        "weights from": loaded.source,
        "architecture": spec.architecture,
        "dimension": spec.dim,
        "max tokens": spec.max_tokens,
        "trained pooling": spec.pooling,
        "padding side": spec.padding_side,
        "query prompt": spec.query_prompt or "(none)",
        "license": spec.license or "(unknown)",
    }
    rows.update({f"recipe: {k}": v for k, v in recipe.as_dict().items()})
    return pd.DataFrame({"value": [str(v) for v in rows.values()]}, index=list(rows))


def html_block(text_html: str):
    """Show a computed paragraph (already escaped by its producer)."""
    from IPython.display import HTML

    return HTML(f'<div style="max-width:60em;line-height:1.5">{text_html}</div>')



def parameters_table(run: Run) -> pd.DataFrame:
    """Every parameter of this run, defaults included, as recorded in results.json."""
    parameters = run.payload["parameters"]
    return pd.DataFrame({"value": [repr(v) for v in parameters.values()]}, index=list(parameters)).rename_axis(
        f"parameters ({run.path.name} in {run.dir})")


def collapsible(frame: pd.DataFrame, summary: str):
    """A long table folded under a one-line summary (cell text is HTML-escaped by pandas)."""
    from IPython.display import HTML

    table = frame.to_html(escape=True, float_format=lambda x: f"{x:.7g}", max_rows=None)
    return HTML(f"<details><summary>{html.escape(summary)}</summary>{table}</details>")
