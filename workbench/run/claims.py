"""Published claims as data: one record type, produced by the studies, rendered by one function everywhere.

A study turns each seed claim it can test into a `Claim`: what the source says, what was measured or
projected, the threshold that decides and where that threshold comes from, and the verdict. The study
page and the index page both show claims through `claims_html`, so a verdict reads the same in both.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass

HOLDS = "holds"
FAILS = "fails"
INCONCLUSIVE = "inconclusive"
NOT_MEASURABLE = "not measurable here"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, NOT_MEASURABLE)
EVIDENCE_ANCHOR = "claims"  # every study page puts its claims under this id; the index links to it


@dataclass(frozen=True)
class Claim:
    """One published claim checked against this run."""

    quote: str  # what the source says, in its words
    source: str  # which seed, and where in it
    quantity: str  # what was compared, with its unit
    value: str  # the measured or projected value, formatted with its unit ("" when not measurable)
    threshold: str  # what counts as holding, for example ">= 0.999999" or "within 2-4 GB"
    threshold_origin: str  # where that threshold comes from (the quote itself, or a named tolerance and why)
    verdict: str  # one of VERDICTS
    kind: str = "measured"  # measured | projected | simulated: what the value is
    detail: str = ""  # why the verdict, when the value alone does not say

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {', '.join(VERDICTS)}")

    @property
    def holds(self) -> bool | None:
        """True, False, or None when the run could not decide."""
        return {HOLDS: True, FAILS: False}.get(self.verdict)

    def as_dict(self) -> dict:
        return asdict(self)


def verdict_of(holds: bool | None, measurable: bool = True) -> str:
    """The verdict word for a test result: None with a value is inconclusive, without one not measurable."""
    if not measurable:
        return NOT_MEASURABLE
    return {True: HOLDS, False: FAILS, None: INCONCLUSIVE}[holds]


def from_dict(record: dict) -> Claim:
    """A claim read back from results.json; older records (claim, holds, measured, source) are mapped over."""
    if "quote" in record:
        return Claim(**{k: record.get(k, "") for k in Claim.__dataclass_fields__})
    holds = record.get("holds")
    return Claim(quote=str(record.get("claim", "")), source=str(record.get("source", "")), quantity="",
                 value=str(record.get("measured", "")), threshold="", threshold_origin="",
                 verdict=verdict_of(holds if isinstance(holds, bool) else None))


_COLOURS = {HOLDS: "#2e7d32", FAILS: "#b00020", INCONCLUSIVE: "#8a5a00", NOT_MEASURABLE: "#666"}

STYLE = """<style>
table.claims { border-collapse: collapse; width: 100%; font-size: 90%; }
table.claims td, table.claims th { border-bottom: 1px solid #ddd; padding: 0.35em 0.5em; vertical-align: top;
  text-align: left; }
table.claims td.verdict { font-weight: bold; white-space: nowrap; }
</style>"""


def claims_html(claims: list[Claim], run_names: list[str] | None = None, links: list[str] | None = None) -> str:
    """The one table of claims: verdict first, then the quote, the value against its threshold and where each
    comes from. With `run_names`/`links` (the index), each row names its run and links to the evidence."""
    if not claims:
        return "<p>No published claim could be checked by this run.</p>"
    head = ["verdict", "claim (quoted)", "source", "quantity", "value", "threshold", "threshold from"]
    if run_names is not None:
        head.append("evidence")
    rows = []
    for i, c in enumerate(claims):
        cells = [f'<td class="verdict" style="color:{_COLOURS[c.verdict]}">{html.escape(c.verdict)}</td>',
                 f"<td>{html.escape(c.quote)}</td>", f"<td>{html.escape(c.source)}</td>",
                 f"<td>{html.escape(c.quantity)}</td>",
                 f"<td>{html.escape(c.value)}" + (f" <em>({html.escape(c.kind)})</em>" if c.value and c.kind !=
                                                  "measured" else "") +
                 (f"<br><small>{html.escape(c.detail)}</small>" if c.detail else "") + "</td>",
                 f"<td>{html.escape(c.threshold)}</td>", f"<td>{html.escape(c.threshold_origin)}</td>"]
        if run_names is not None:
            name = html.escape(run_names[i])
            link = links[i] if links else ""
            cells.append(f'<td><a href="{html.escape(link)}">{name}</a></td>' if link else f"<td>{name}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    header = "".join(f"<th>{h}</th>" for h in head)
    return f'{STYLE}<table class="claims"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def counts(claims: list[Claim]) -> dict[str, int]:
    """How many claims got each verdict."""
    return {v: sum(c.verdict == v for c in claims) for v in VERDICTS}
