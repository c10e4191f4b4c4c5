"""The artifact row: what one (format, variant) cost and kept, as the contract between the studies.

Study 03 writes these rows into results.json (`tables.artifacts`, with the schema name) and study 07 reads them
back typed, so no study parses another's result keys, labels or headings. Quantities are SI: bytes and seconds;
pages turn them into MB and ms at the edge (`workbench.core.units`). None means not measured, and `notes` says why.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from enum import Enum

from workbench.convert.registry import ConversionPath
from workbench.core.records import Table, from_dict, to_dict

ARTIFACTS_SECTION = "artifacts-measured"  # the id above 03's table of these rows, which 07 links to
TRAINED = "trained"  # the weights of a real checkpoint (study 05's rows carry their random seed instead)


class Status(str, Enum):
    """Whether a row's artifact was built and measured, and if not, why not (its notes say more)."""

    MEASURED = "measured"
    LEFT_TO_FIT = "left to the fit"  # not run at this size (too slow here); the size series' fit projects it
    NOT_ON_PLATFORM = "not on this platform"
    NOT_BUILT = "not built"  # derives from a base that was not built
    KILLED = "killed"  # stopped past the memory or time limit; the peak it reached is kept
    FAILED = "failed"


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
    load_rss_bytes: int | None = None  # what loading added to the measuring child's RSS
    resident_bytes: int | None = None  # total RSS of a fresh process that loaded the artifact and embedded one input
    resident_baseline_bytes: int | None = None  # that process before it imported the runtime: the interpreter
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
        return to_dict(self)

    @classmethod
    def from_dict(cls, raw, where: str = "artifact row") -> "ArtifactRow":
        """A row as results.json holds it; anything malformed raises TableSchemaError naming the field."""
        return from_dict(cls, raw, where)


# Bumped when a field changes meaning; readers refuse what they do not know. /3: before resident memory; /2: before
# conversion_path (every row then was "plain"); /1: study 03's rows before model, params and status. Their missing
# fields take defaults.
ARTIFACTS: Table[ArtifactRow] = Table("artifacts", "artifact-row/4", ArtifactRow,
                                      readable=("artifact-row/3", "artifact-row/2", "artifact-row/1"))
