"""The artifact row: what one (format, variant) cost and kept, as the contract between the studies.

Study 03 writes these rows into results.json (`tables.artifacts`, with the schema name) and study 07 reads them
back typed, so no study parses another's result keys, labels or headings. Quantities are SI: bytes and seconds;
pages turn them into MB and ms at the edge (`workbench.core.units`). None means not measured, and `notes` says why.
"""

from __future__ import annotations

import math
from dataclasses import KW_ONLY, asdict, dataclass, field, fields
from enum import Enum
from typing import get_args

from workbench.convert.registry import ConversionPath

ARTIFACTS_TABLE = "artifacts"  # the results.json table that holds them
ARTIFACTS_SECTION = "artifacts-measured"  # the id above 03's table of these rows, which 07 links to
TRAINED = "trained"  # the weights of a real checkpoint (study 05's rows carry their random seed instead)
SCHEMA = "artifact-row/3"  # bumped when a field changes meaning; readers refuse what they do not know
# /2: before conversion_path (every row then was "plain"); /1: study 03's rows before model, params and status
READABLE = (SCHEMA, "artifact-row/2", "artifact-row/1")


class Status(str, Enum):
    """Whether a row's artifact was built and measured, and if not, why not (its notes say more)."""

    MEASURED = "measured"
    LEFT_TO_FIT = "left to the fit"  # not run at this size (too slow here); the size series' fit projects it
    NOT_ON_PLATFORM = "not on this platform"
    NOT_BUILT = "not built"  # derives from a base that was not built
    KILLED = "killed"  # stopped past the memory or time limit; the peak it reached is kept
    FAILED = "failed"


class RowSchemaError(ValueError):
    """A results.json table that is not what its schema says: named, with what was wrong."""


@dataclass(frozen=True)
class Latency:
    """Per-call latency of the artifact's own runtime at one batch size."""

    batch: int
    p50_s: float
    p95_s: float


@dataclass(frozen=True)
class Accuracy:
    """What the artifact keeps of the FP32 reference on the same texts (None: that set was not evaluated)."""

    mean_cosine: float | None = None
    min_cosine: float | None = None
    drift_p50: float | None = None  # 1 - cosine, median over texts
    drift_p99: float | None = None
    top1_agreement: float | None = None
    overlap_at_10: float | None = None
    sts_kept_pct: float | None = None  # STS Spearman as a percentage of the reference's
    ndcg10_kept_pct: float | None = None  # nDCG@10 as a percentage of the reference's


@dataclass(frozen=True)
class ArtifactRow:
    """One (format, variant) as built, opened and measured."""

    format: str
    variant: str
    weights: str  # TRAINED for a real checkpoint; otherwise what the random weights were
    _: KW_ONLY  # the rest by name: too many numbers of one type to get right by position
    model: str = ""  # the network the artifact was made from
    params: int | None = None  # its parameter count
    status: Status = Status.MEASURED
    conversion_path: ConversionPath = "plain"  # how the artifact was made: plain, or lean (a part at a time)
    path: str | None = None  # where the artifact is kept (None when it was removed after measuring)
    size_bytes: int | None = None
    convert_s: float | None = None
    convert_peak_rss_bytes: int | None = None
    convert_step_rss_bytes: int | None = None  # the peak less the child's interpreter and imports
    load_s: float | None = None
    load_rss_bytes: int | None = None
    latency: tuple[Latency, ...] = ()
    accuracy: Accuracy | None = None  # None for random weights, or when the row could not be evaluated
    runtime: str = ""
    from_cache: bool = False  # the artifact came from the cache; the conversion cost is the one measured then
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def key(self) -> str:
        return f"{self.format}_{self.variant}"

    def latency_at(self, batch: int) -> Latency | None:
        return next((x for x in self.latency if x.batch == batch), None)

    def as_dict(self) -> dict:
        return {**asdict(self), "status": self.status.value}

    @classmethod
    def from_dict(cls, raw) -> "ArtifactRow":
        """A row as results.json holds it; anything malformed raises RowSchemaError naming the field."""
        if not isinstance(raw, dict):
            raise RowSchemaError(f"an artifact row must be an object; got {type(raw).__name__}")
        known = {f.name for f in fields(cls)} - {"_"}
        stray = sorted(set(raw) - known)
        if stray:
            raise RowSchemaError(f"artifact row has unknown field(s) {', '.join(stray)}; known: {', '.join(sorted(known))}")
        if raw.get("conversion_path", "plain") not in get_args(ConversionPath):
            raise RowSchemaError(f"artifact row field 'conversion_path' must be plain or lean; "
                                 f"got {raw.get('conversion_path')!r}")
        for name in ("format", "variant", "weights"):
            if not isinstance(raw.get(name), str):
                raise RowSchemaError(f"artifact row field {name!r} must be a string; got {raw.get(name)!r}")
        values = dict(raw)
        try:
            values["status"] = Status(raw.get("status", Status.MEASURED))
        except ValueError:
            raise RowSchemaError(f"artifact row field 'status' must be one of {', '.join(s.value for s in Status)}; "
                                 f"got {raw.get('status')!r}") from None
        for name in ("params", "size_bytes", "convert_peak_rss_bytes", "convert_step_rss_bytes", "load_rss_bytes"):
            values[name] = _number(raw, name, int)
        for name in ("convert_s", "load_s"):
            values[name] = _number(raw, name, float)
        try:
            values["latency"] = tuple(Latency(int(x["batch"]), float(x["p50_s"]), float(x["p95_s"]))
                                      for x in raw.get("latency") or ())
            accuracy = raw.get("accuracy")
            values["accuracy"] = None if accuracy is None else Accuracy(**{
                k: (None if v is None else float(v)) for k, v in accuracy.items()})
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            raise RowSchemaError(f"artifact row {raw['format']}_{raw['variant']}: latency or accuracy malformed "
                                 f"({exc})") from None
        values["notes"] = tuple(str(n) for n in raw.get("notes") or ())
        return cls(**values)


def _number(raw: dict, name: str, kind: type):
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RowSchemaError(f"artifact row field {name!r} must be a finite number or null; got {value!r}")
    return kind(value)


def table_payload(rows: list[ArtifactRow]) -> dict:
    """The results.json form of a list of rows: the schema name and each row's fields."""
    return {"schema": SCHEMA, "rows": [row.as_dict() for row in rows]}


def record_rows(run, rows: list[ArtifactRow]) -> None:
    """Write the rows into a run's results.json as the typed table other studies read (`rows_from_results`)."""
    run.record_table(ARTIFACTS_TABLE, table_payload(rows))


def rows_from_results(payload: dict) -> list[ArtifactRow] | None:
    """The artifact rows a results.json holds, typed; None for a run written before rows were recorded."""
    table = (payload.get("tables") or {}).get(ARTIFACTS_TABLE)
    if table is None:
        return None
    if not isinstance(table, dict) or table.get("schema") not in READABLE:
        found = table.get("schema") if isinstance(table, dict) else type(table).__name__
        raise RowSchemaError(f"tables.{ARTIFACTS_TABLE} has schema {found!r}; this workbench reads "
                             f"{' or '.join(map(repr, READABLE))}: "
                             "re-run the study with this version")
    return [ArtifactRow.from_dict(row) for row in table.get("rows") or []]
