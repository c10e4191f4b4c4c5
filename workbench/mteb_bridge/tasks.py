"""The workbench's evaluation sets as MTEB tasks: MTEB's own evaluators score a user's data with no hub access.

The texts are the ones the workbench's loaders read (the same STS file or BEIR folder, the same `max_texts` cap and
the same title-plus-text documents), so MTEB and the workbench score exactly the same pairs and judgments.
"""

from __future__ import annotations

from typing import Any, Literal

from datasets import Dataset, DatasetDict
from mteb.abstasks.abstask import AbsTask
from mteb.abstasks.retrieval import AbsTaskRetrieval
from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData
from mteb.abstasks.sts import AbsTaskSTS
from mteb.abstasks.task_metadata import TaskMetadata

from workbench.core.data import RetrievalSet, StsPairs
from workbench.core.evaluation import EvalData
from workbench.mteb_bridge.rows import MAIN_SCORES, RETRIEVAL_TASK, SPLIT, STS_TASK


def _metadata(name: str, kind: Literal["STS", "Retrieval"], source: str) -> TaskMetadata:
    return TaskMetadata(
        name=name, type=kind, main_score=MAIN_SCORES[name][0],
        description=f"The workbench's evaluation set read from {source}.", reference=None,
        dataset={"path": source, "revision": "local"}, category="t2t", modalities=["text"], eval_splits=[SPLIT],
        eval_langs=["eng-Latn"], date=None, dialect=None, domains=None, task_subtypes=None, license=None,
        annotations_creators=None, sample_creation=None, bibtex_citation=None)


def sts_task(pairs: StsPairs) -> AbsTask:
    """Labelled pairs as an MTEB STS task. MTEB maps the gold scores from 0-5 to 0-1 first, an affine map that
    changes neither correlation, whatever range a user's file uses."""

    class LocalSTS(AbsTaskSTS):
        metadata = _metadata(STS_TASK, "STS", pairs.source)

        def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
            self.dataset = DatasetDict({SPLIT: Dataset.from_dict({
                "sentence1": list(pairs.sentence1), "sentence2": list(pairs.sentence2),
                "score": [float(s) for s in pairs.scores]})})
            self.data_loaded = True

    return LocalSTS()


def retrieval_task(ret: RetrievalSet) -> AbsTask:
    """Queries, corpus and graded judgments as an MTEB retrieval task; a document is the text the workbench
    embedded (its title and text joined)."""

    class LocalRetrieval(AbsTaskRetrieval):
        metadata = _metadata(RETRIEVAL_TASK, "Retrieval", ret.source)

        def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
            split = RetrievalSplitData(
                queries=Dataset.from_dict({"id": list(ret.query_ids), "text": list(ret.queries)}),
                corpus=Dataset.from_dict({"id": list(ret.doc_ids), "text": list(ret.docs)}),
                relevant_docs={q: dict(ret.qrels[q]) for q in ret.query_ids if q in ret.qrels}, top_ranked=None)
            self.dataset = {"default": {SPLIT: split}}
            self.data_loaded = True

    return LocalRetrieval()


def local_tasks(data: EvalData) -> list[AbsTask]:
    """An MTEB task per labelled set the run has: STS pairs, a retrieval set, both or neither."""
    tasks = []
    if data.sts is not None:
        tasks.append(sts_task(data.sts))
    if data.retrieval is not None:
        tasks.append(retrieval_task(data.retrieval))
    return tasks
