"""Study 03's MTEB step: MTEB's own evaluators score the vectors every artifact returned in its evaluation.

Each artifact embedded the STS pairs and the retrieval set once, in its evaluation child (its runtime, or its
stand-in where that cannot run here). MTEB scores those same vectors through an encoder that replays them, so its
score and the workbench's describe the same artifact output; a text the artifact did not embed is an error. One
child process imports mteb (8 s here), runs every artifact's tasks and writes MTEB's result folders into the run
folder, where `mteb.cache.ResultCache` reads them. `mteb_model` is the live path, for MTEB's named tasks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.convert.measure import CHILD_PRELOAD, REFERENCE, Measured, parameter_count
from workbench.convert.pipeline import Limits, default_memory_limit
from workbench.convert.registry import RunsOn
from workbench.core import evaluation, provenance
from workbench.core.embedding import Embeddings, Recipe
from workbench.core.models import LoadedModel, ModelSpec
from workbench.mteb_bridge.rows import MAIN_SCORES, SPLIT, MtebScore, PromptKind

Vectors = dict[tuple[PromptKind, str], np.ndarray]  # (prompt kind, text) -> the artifact's vector for it


def replay_vectors(embedded: evaluation.EmbeddedData, data: evaluation.EvalData) -> Vectors:
    """What an artifact returned for each labelled text, by the prompt it was embedded with."""
    out: Vectors = {}
    sets: list[tuple[PromptKind, list[str], Embeddings]] = []
    if data.sts is not None and embedded.sts1 is not None and embedded.sts2 is not None:
        sets += [("none", data.sts.sentence1, embedded.sts1), ("none", data.sts.sentence2, embedded.sts2)]
    if data.retrieval is not None and embedded.ret_queries is not None and embedded.ret_docs is not None:
        sets += [("query", data.retrieval.queries, embedded.ret_queries),
                 ("document", data.retrieval.docs, embedded.ret_docs)]
    for kind, texts, e in sets:
        out.update({(kind, text): vector for text, vector in zip(texts, e.vectors)})
    return out


Replayed = dict[str, tuple[str, str, RunsOn, Vectors]]  # artifact key -> format, variant, what ran it, its vectors


def score_step(artifacts: Replayed, spec: ModelSpec, recipe: Recipe,
               revision: str, n_parameters: int, data: evaluation.EvalData, folder: str) -> dict[str, dict]:
    """Per artifact key, MTEB's scores per task (its whole score dict for the test split); runs in a child."""
    import mteb
    from mteb.cache import ResultCache

    from workbench.mteb_bridge import encoder, tasks

    cache = ResultCache(folder)
    out = {}
    for key, (fmt, variant, runs_on, vectors) in artifacts.items():
        meta = encoder.model_meta(spec, fmt, variant, runs_on, recipe, revision, n_parameters)
        model = encoder.ArtifactEncoder(encoder.replay_embed(vectors), meta, normalized=recipe.normalize)
        result = mteb.evaluate(model, tasks.local_tasks(data), cache=cache, overwrite_strategy="always",
                               show_progress_bar=False, encode_kwargs={"batch_size": 64})
        out[key] = {r.task_name: r.scores[SPLIT][0] for r in result.task_results}
    return out


def score_artifacts(measured: Measured, data: evaluation.EvalData, loaded: LoadedModel, recipe: Recipe,
                    folder: Path, limits: Limits | None = None) -> list[MtebScore]:
    """MTEB's main score of every evaluated artifact on every labelled set, beside the workbench's figure and as a
    retention of the torch FP32 reference's score; MTEB's result files go into `folder`."""
    evaluated = {r.key: (r, measured.evaluated[r.key]) for r in measured.rows if r.key in measured.evaluated}
    if not evaluated or not (data.sts or data.retrieval):
        return []
    artifacts: Replayed = {key: (r.format, r.variant, e["runs_on"], replay_vectors(e["embedded"], data))
                 for key, (r, e) in evaluated.items()}
    limits = limits or Limits(default_memory_limit(), preload=CHILD_PRELOAD)
    revision = provenance.revision_label(provenance.of(loaded))
    scores = limits.run(score_step, artifacts, loaded.spec, recipe, revision, parameter_count(loaded), data,
                        str(folder)).value
    reference = "_".join(REFERENCE)
    rows = []
    for key, (r, e) in evaluated.items():
        own = evaluation.quality(e["embedded"], data)
        for task, by_metric in scores[key].items():
            metric, workbench_name = MAIN_SCORES[task]
            score, ref = float(by_metric[metric]), scores.get(reference, {}).get(task, {}).get(metric)
            rows.append(MtebScore(r.format, r.variant, task, metric, score, float(own[workbench_name]),
                                  100.0 * score / ref if ref else None, artifacts[key][2]))
    return rows
