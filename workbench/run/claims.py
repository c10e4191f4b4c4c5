"""Published claims as data: one record type, produced by the studies, rendered by one function everywhere.

A study turns each seed claim it can test into a `Claim`: what the source says, what was measured or
projected, the threshold that decides and where that threshold comes from, and the verdict. The study
page and the index page both show claims through `claims_html`, so a verdict reads the same in both.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.run.catalog import Study

HOLDS = "holds"
FAILS = "fails"
INCONCLUSIVE = "inconclusive"
OTHER_SUBJECT = "measured on another model"  # the value is real, but of a model the claim does not speak of
NOT_MEASURABLE = "not measurable here"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, OTHER_SUBJECT, NOT_MEASURABLE)
EVIDENCE_ANCHOR = "claims"  # every study page puts its claims under this id; the index links to it

# One rule for every approximate quote, so "~8 GB" and "~2-4 GB" are read alike: each end of the quoted figure
# widened by an eighth, the reading of "~8 GB" as 7-9 GB the pages used before the rule was written down.
APPROXIMATE_TOLERANCE = 0.125
APPROXIMATE_MARKERS = ("~", "≈", "about ", "approximately ", "around ", "roughly ")
TOLERANCE_RULE = (f"An approximate quote (~, ≈, about) holds within ±{APPROXIMATE_TOLERANCE:.1%} of its figure "
                  "(for a range: that much below its low end or above its high end). An exact quote keeps its own "
                  "range. The 'threshold from' column says which applied.")


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
    about: str = ""  # the model the claim speaks of, as its source names it ("" when it names none)
    subject: str = ""  # the model this run measured for it

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {', '.join(VERDICTS)}")

    @property
    def holds(self) -> bool | None:
        """True, False, or None when the run could not decide."""
        return {HOLDS: True, FAILS: False}.get(self.verdict)

    def as_dict(self) -> dict:
        return asdict(self)


def approximate_marker(quote: str) -> str | None:
    """The word or sign that marks the quote's figure as approximate ("~8GB", "about 600 MB", "≈ 0.68"), or None."""
    text = quote.lower()
    return next((marker for marker in APPROXIMATE_MARKERS if marker in text), None)


def is_approximate(quote: str) -> bool:
    return approximate_marker(quote) is not None


def claimed_range(low: float, high: float, quote: str) -> tuple[float, float, str]:
    """(low, high, where they come from): the quoted figure, or range, as `TOLERANCE_RULE` reads it."""
    if low > high:
        raise ValueError(f"a claimed range runs from low to high; got {low:g}-{high:g}")
    marker = approximate_marker(quote)
    if marker is None:
        return low, high, "the quote's own figure (exact: no tolerance)"
    t = APPROXIMATE_TOLERANCE
    return (low * (1 - t), high * (1 + t),
            f"the quote's '{marker}{_figure(low, high)}' ± {t:.1%} (the approximate-quote rule)")


def _figure(low: float, high: float) -> str:
    return f"{low:g}" if low == high else f"{low:g}-{high:g}"


def same_model(about: str, subject: str) -> bool:
    """Whether a measured model is the one a claim speaks of: names compared without their hub owner or case."""
    def bare(name: str) -> str:
        return name.rsplit("/", 1)[-1].strip().lower()
    return bare(about) == bare(subject)


def verdict_on(holds: bool | None, about: str, subject: str, measurable: bool = True) -> tuple[str, str]:
    """(verdict, detail) for a claim about model `about` measured on `subject`: on another model the value is
    shown, and what it would say, but the verdict never reads as a bare holds or fails."""
    verdict = verdict_of(holds, measurable)
    if not measurable or same_model(about, subject):
        return verdict, ""
    return OTHER_SUBJECT, (f"measured on {subject}, not the claim's model ({about}); on this model the value "
                           f"{ {HOLDS: 'meets', FAILS: 'misses', INCONCLUSIVE: 'cannot settle'}[verdict]} the threshold")


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


_COLOURS = {HOLDS: "#2e7d32", FAILS: "#b00020", INCONCLUSIVE: "#8a5a00", OTHER_SUBJECT: "#555",
            NOT_MEASURABLE: "#666"}

STYLE = """<style>
table.claims { border-collapse: collapse; width: 100%; font-size: 90%; }
table.claims tbody td, table.claims thead th { border-bottom: 1px solid #ddd; padding: 0.35em 0.5em;
  vertical-align: top; text-align: left; }
table.claims td.verdict { font-weight: bold; min-width: 5em; max-width: 9em; }
</style>"""


def claims_html(claims: list[Claim], run_names: list[str] | None = None, links: list[str] | None = None) -> str:
    """The one table of claims: verdict first, then the quote, the value against its threshold and where each
    comes from. With `run_names`/`links` (the index), each row names its run and links to the evidence."""
    if not claims:
        return "<p>No published claim could be checked by this run.</p>"
    rule = (f"<p><small>{html.escape(TOLERANCE_RULE)}</small></p>"
            if any("approximate-quote rule" in c.threshold_origin for c in claims) else "")
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
    return (f'{STYLE}{rule}<table class="claims"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody>'
            "</table>")


def unreached_html(found: list[Claim], where: str, study: Study | None = None, of: str = "", run_names: list[str] | None = None,
                   links: list[str] | None = None) -> str:
    """Claims that could not be measured, folded into one line: how many, and the command that measures them
    (the `catalog.Study`'s `checked_by`, with its measured wall time), or that the rows say why."""
    how = (f": <code>{html.escape(study.checked_by)}</code> checks them ({html.escape(study.checked_in)})"
           if study is not None and study.checked_by else "; the rows say why")
    many = len(found) > 1
    return (f"<details><summary>{len(found)} claim{'s' * many}{html.escape(of)} {'are' if many else 'is'} not "
            f"measurable in {where}{how}.</summary>{claims_html(found, run_names, links)}</details>")


def counts(claims: list[Claim]) -> dict[str, int]:
    """How many claims got each verdict."""
    return {v: sum(c.verdict == v for c in claims) for v in VERDICTS}
