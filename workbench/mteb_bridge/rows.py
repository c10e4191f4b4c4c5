"""MTEB's score of one artifact on one task, beside the workbench's own figure for the same vectors.

This module does not import mteb: the index and other studies read these rows back without paying for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from workbench.convert.registry import RunsOn
from workbench.core.records import Table

PromptKind = Literal["query", "document", "none"]  # which of the model's prompts a text is embedded with
STS_TASK = "LocalSTS"  # the workbench's STS pairs as an MTEB task
RETRIEVAL_TASK = "LocalRetrieval"  # its BEIR-layout retrieval set
SPLIT = "test"
# Each task's main score in MTEB, and the name of the workbench's own figure for it (`evaluation.quality`).
MAIN_SCORES = {STS_TASK: ("cosine_spearman", "sts_spearman"), RETRIEVAL_TASK: ("ndcg_at_10", "ndcg10")}
RETRIEVAL_DECIMALS = 5  # MTEB rounds retrieval scores to this many decimals (its retrieval_metrics module)
RESULTS_FOLDER = "mteb"  # under the run folder: MTEB's own result layout (results/<model>/<revision>/experiments/...)


@dataclass(frozen=True)
class MtebScore:
    format: str
    variant: str
    task: str  # the MTEB task's name
    metric: str  # the task's main score in MTEB (cosine_spearman, ndcg_at_10)
    score: float  # MTEB's main score
    workbench_score: float  # the workbench's own figure on the same vectors (STS Spearman, nDCG@10)
    retention_pct: float | None  # score as a percentage of the torch FP32 reference's on the same task
    runs_on: RunsOn  # what made the vectors: the artifact's runtime or its stand-in

    @property
    def key(self) -> str:
        return f"{self.format}_{self.variant}"

    @property
    def difference(self) -> float:
        return self.score - self.workbench_score


MTEB_SCORES: Table[MtebScore] = Table("mteb", "mteb-score/1", MtebScore)
