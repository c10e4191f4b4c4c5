"""`workbench claims`: every verdict across the runs of a reports folder, as one table to paste into a review.

Read from the runs' results.json (the same claims, in the same order, as the index shows them): the quote and
its source, the quantity, the value with its interval and kind, the threshold and where it comes from, the
model the claim speaks of and the one measured, the verdict and the run folder.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Literal

from workbench.run.index_page import claim_rows, collect_runs

ClaimsFormat = Literal["md", "csv", "json"]
COLUMNS = ("verdict", "claim (quoted)", "source", "quantity", "value", "kind", "threshold", "threshold from",
           "claim's model", "measured on", "detail", "run")


def claims_records(reports: Path) -> list[dict[str, str]]:
    """One record per claim of every complete run under `reports`, failures first."""
    out = []
    for row in claim_rows(collect_runs(reports)):
        c = row.claim
        out.append(dict(zip(COLUMNS, (c.verdict, c.quote, c.source, c.quantity, c.value, c.kind, c.threshold,
                                      c.threshold_origin, c.about, c.subject, c.detail, row.run))))
    return out


def render(records: list[dict[str, str]], fmt: ClaimsFormat) -> str:
    """The records as Markdown (a table), CSV (a header line) or JSON (a list of objects)."""
    if fmt == "json":
        return json.dumps(records, indent=1, ensure_ascii=False)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        return buffer.getvalue().rstrip("\n")
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(r[c]) for c in COLUMNS) + " |" for r in records]
    return "\n".join(lines)
