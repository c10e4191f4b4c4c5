"""MTEB's own evaluators on the workbench's data, through the bridge: they must score what the workbench scores.

The agreement test runs MTEB (mteb.evaluate, its STS and retrieval evaluators) on the live torch FP32 encoder that
`workbench.mteb_model` returns and compares with the workbench's own STS Spearman and nDCG@10 for the same model,
recipe and texts. MTEB rounds retrieval scores to 5 decimals, so those are compared after the same rounding.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import workbench as wb
from workbench.core import evaluation
from workbench.mteb_bridge.rows import RETRIEVAL_DECIMALS, RETRIEVAL_TASK, SPLIT, STS_TASK

RECIPE = wb.Recipe(max_length=32, last_n_layers=4, pooling="mean")


def _evaluate(model, data, folder: Path) -> dict[str, dict]:
    import mteb
    from mteb.cache import ResultCache

    from workbench.mteb_bridge.tasks import local_tasks

    result = mteb.evaluate(model, local_tasks(data), cache=ResultCache(folder), overwrite_strategy="always",
                           show_progress_bar=False)
    return {r.task_name: r.scores[SPLIT][0] for r in result.task_results}


def _agrees(scores: dict[str, dict], ours: dict[str, float]) -> None:
    assert abs(scores[STS_TASK]["cosine_spearman"] - ours["sts_spearman"]) <= 1e-6
    retrieval = scores[RETRIEVAL_TASK]
    assert retrieval["ndcg_at_10"] == pytest.approx(round(ours["ndcg10"], RETRIEVAL_DECIMALS), abs=1e-12)
    assert retrieval["recall_at_10"] == pytest.approx(round(ours["recall10"], RETRIEVAL_DECIMALS), abs=1e-12)


def test_mteb_scores_the_fp32_reference_exactly_as_the_workbench_does_on_the_bundled_data(minilm, tmp_path):
    data = evaluation.load_eval_data(max_texts=16)
    ours = evaluation.quality(evaluation.embed_all(minilm, data, RECIPE), data)
    model = wb.mteb_model("all-minilm-l6-v2", "torch", "fp32", RECIPE)
    meta = model.mteb_model_meta
    assert meta.name == "sentence-transformers/all-MiniLM-L6-v2" and meta.embed_dim == 384
    assert meta.experiment_kwargs["runs_on"] == "runtime" and meta.experiment_kwargs["variant"] == "fp32"
    _agrees(_evaluate(model, data, tmp_path / "mteb"), ours)

    # MTEB's own reader finds the files where MTEB's layout puts them
    from mteb.cache import ResultCache

    read = ResultCache(tmp_path / "mteb").load_results(include_remote=False, load_experiments="match_name")
    (found,) = read.model_results
    assert found.model_name == meta.name and found.model_revision == meta.revision
    assert {t.task_name for t in found.task_results} == {STS_TASK, RETRIEVAL_TASK}


def test_a_users_files_become_mteb_tasks_that_agree_with_the_workbench(minilm, tmp_path):
    """Gold scores on 0-1 (not STS's 0-5), titled documents, a graded judgment and one for an absent document."""
    sts = tmp_path / "pairs.tsv"
    sts.write_text("sentence1\tsentence2\tscore\n" + "".join(
        f"{a}\t{b}\t{s}\n" for a, b, s in [("A cat sits on the mat.", "A cat is on a mat.", 0.95),
                                           ("A man plays guitar.", "Someone plays an instrument.", 0.6),
                                           ("The stock market fell.", "A dog runs in the park.", 0.05),
                                           ("It is raining today.", "Rain falls this afternoon.", 0.8),
                                           ("He cooked pasta.", "The train left early.", 0.1)]))
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    docs = [("d1", "Cats", "Cats are small domestic animals."), ("d2", "Pasta", "Pasta is boiled in salted water."),
            ("d3", "", "Rain is water falling from clouds."), ("d4", "Trains", "Trains run on rails.")]
    (beir / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n"
                                               for i, t, x in docs))
    queries = [("q1", "how do I cook pasta"), ("q2", "why does it rain"), ("q3", "pets")]
    (beir / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": x}) + "\n" for i, x in queries))
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t2\nq2\td3\t1\nq3\td1\t1\n"
                                             "q3\td9\t1\n")
    data = evaluation.load_eval_data(sts_path=str(sts), beir_path=str(beir))
    ours = evaluation.quality(evaluation.embed_all(minilm, data, RECIPE), data)
    assert ours["recall10"] < 1.0  # the judged document the corpus lacks counts, as trec_eval counts it
    _agrees(_evaluate(wb.mteb_model("all-minilm-l6-v2", "torch", "fp32", RECIPE), data, tmp_path / "mteb"), ours)


def test_mteb_asks_for_queries_documents_and_sts_sentences_with_the_prompt_the_workbench_uses(tmp_path):
    """The prompt kind MTEB's evaluators pass for each text: the model's query prompt for retrieval queries, its
    document prompt for passages, none for STS sentences (as `evaluation.embed_sets` embeds them)."""
    from workbench.mteb_bridge import encoder

    data = evaluation.load_eval_data(max_texts=4)
    seen: dict[str, set[str]] = {}

    def embed(texts, kind):
        seen.setdefault(kind, set()).update(texts)
        vectors = np.random.default_rng(len(texts)).normal(size=(len(texts), 8)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    spec = wb.REGISTRY["qwen3-embedding-0.6b"]
    meta = encoder.model_meta(spec, "onnx", "int8", "runtime", RECIPE, "local", None)
    assert meta.use_instructions and meta.adapted_from == spec.hf_id
    _evaluate(encoder.ArtifactEncoder(embed, meta), data, tmp_path / "mteb")
    assert seen["none"] == set(data.sts.sentence1) | set(data.sts.sentence2)
    assert seen["query"] == set(data.retrieval.queries)
    assert seen["document"] == set(data.retrieval.docs)
    assert encoder.prompt_for(spec, "query") == spec.query_prompt and encoder.prompt_for(spec, "none") == ""


def test_replaying_an_artifacts_vectors_refuses_a_text_it_did_not_embed():
    from workbench.mteb_bridge.encoder import replay_embed

    embed = replay_embed({("query", "known"): np.ones(3, dtype=np.float32)})
    assert embed(["known", "known"], "query").shape == (2, 3)
    with pytest.raises(KeyError, match="did not embed in this run.*'unknown'"):
        embed(["known", "unknown"], "query")
    with pytest.raises(KeyError, match="prompt 'document'"):
        embed(["known"], "document")


def test_the_notebooks_and_the_index_do_not_pay_for_importing_mteb():
    """Only the MTEB step's child and `wb.mteb_model` import mteb; 03's own modules and the run room do not."""
    import subprocess
    import sys

    code = ("import sys, workbench, workbench.mteb_bridge.step, workbench.mteb_bridge.rows, "
            "workbench.studies.mteb_scores, workbench.run.index_page; print('mteb' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_page_says_how_far_mteb_is_from_the_workbench_and_the_index_labels_it():
    from workbench.mteb_bridge.rows import MtebScore
    from workbench.studies import mteb_scores

    rows = [MtebScore("torch", "fp32", STS_TASK, "cosine_spearman", 0.5, 0.5, 100.0, "runtime"),
            MtebScore("onnx", "int8", STS_TASK, "cosine_spearman", 0.45, 0.45, 90.0, "runtime"),
            MtebScore("torch", "fp32", RETRIEVAL_TASK, "ndcg_at_10", 0.75745, 0.7574470803, 100.0, "runtime"),
            MtebScore("mlx", "q4", RETRIEVAL_TASK, "ndcg_at_10", 0.7, 0.699996, None, "stand-in")]
    text = mteb_scores.about_html(rows)
    assert "STS Spearman are equal for every artifact" in text
    assert "differ by at most 4e-06" in text and "rounds retrieval scores to 5 decimals" in text
    results = {r.key: r for r in mteb_scores.results(rows)}
    assert results[f"mteb_difference_{RETRIEVAL_TASK}"].value == pytest.approx(4e-6)
    q4 = results["mteb_ndcg_at_10_mlx_q4"]
    assert (q4.value, q4.note, q4.label) == (0.7, f"MTEB {RETRIEVAL_TASK}, vectors from the stand-in", "")
    labelled = {k: r.label for k, r in results.items() if r.label}
    assert labelled == {f"mteb_difference_{RETRIEVAL_TASK}": "MTEB vs workbench, nDCG@10: largest difference",
                        f"mteb_difference_{STS_TASK}": "MTEB vs workbench, STS Spearman: largest difference"}
    table = mteb_scores.table(rows)
    assert list(table["MTEB task"]) == [STS_TASK, STS_TASK, RETRIEVAL_TASK, RETRIEVAL_TASK]  # STS first
    assert np.isnan(table["MTEB retention %"].iloc[3])
    assert list(table["MTEB main score"])[::2] == ["cosine Spearman (cosine_spearman)", "nDCG@10 (ndcg_at_10)"]
