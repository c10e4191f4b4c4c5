"""What a study concludes from what it measured: the numbers its results.json records (with the labels the index
shows them under) and its verdicts on published claims.

Each study module in workbench/studies/ declares one `Conclusions` for its notebook, naming its `catalog.Study`;
the notebook hands it what it measured (`Run.conclude`). A label is written beside its value when the value is
made, so nothing reads a result key back to find its label, and a study's notebook cannot record another
study's conclusions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from workbench.run.catalog import Study
from workbench.run.claims import Claim

Measured = TypeVar("Measured")  # a study's own record of what its run measured


@dataclass(frozen=True)
class Result:
    """One value a run records: its results.json key, the value (None, with a note saying why, where it was not
    measured), and the label with its unit in parentheses under which the index shows it ("" keeps it in
    results.json only)."""

    key: str
    value: object
    label: str = ""
    note: str | None = None


def no_claims(measured: object) -> list[Claim]:
    """The claim function of a study that checks no published claim (03 and 07: they measure and choose)."""
    return []


@dataclass(frozen=True)
class Conclusions(Generic[Measured]):
    """A study's two functions of what it measured: the values its run records and the claims it judges."""

    study: Study
    results: Callable[[Measured], list[Result]]
    claims: Callable[[Measured], list[Claim]] = no_claims
