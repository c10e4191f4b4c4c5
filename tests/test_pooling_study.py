import json

import numpy as np
import papermill
import pytest

import workbench
from workbench.core.evaluation import load_eval_data
from workbench.core.paths import NOTEBOOKS_DIR
from workbench.studies import pooling as study


def test_strategy_names_expand_and_parse():
    assert study.parse_strategy("mean_last4") == ("mean", 4)
    assert study.parse_strategy("mean_unmasked") == ("mean_unmasked", 1)
    assert study.parse_strategy("last_token_last2") == ("last_token", 2)
    assert study.strategy_names(["mean", "cls_last3"], [1, 4]) == ["mean", "mean_last4", "cls_last3"]
    assert study.strategy_names('["max"]', "[1, 2]") == ["max", "max_last2"]


@pytest.mark.parametrize("bad", ["avg", "mean_last0", "cls_lastx", ""])
def test_bad_strategy_names_list_the_valid_ones(bad):
    with pytest.raises(ValueError, match="valid: mean, mean_unmasked, cls, last_token, max"):
        study.strategy_names([bad], [1])


@pytest.fixture(scope="module")
def small_run(minilm):
    data = load_eval_data(max_texts=8)
    names = study.strategy_names(["mean", "mean_unmasked", "cls", "max"], [1, 2])
    return data, study.embed_strategies(minilm, data, names, ["max_length", "longest"], 32)


def test_similarity_matrix_is_symmetric_with_ones_on_the_diagonal(small_run):
    _, embedded = small_run
    matrix = study.similarity_matrix(embedded["max_length"])
    values = matrix.to_numpy()
    assert np.allclose(values, values.T)
    assert np.allclose(np.diag(values), 1.0)
    assert (values[~np.eye(len(values), dtype=bool)] < 0.9999).all(), "different strategies give different vectors"
    assert matrix.attrs["texts"] == len(study._all_vectors(embedded["max_length"]["mean"]))  # what a verdict is over


def test_masked_strategies_are_padding_invariant_and_unmasked_is_not(small_run):
    _, embedded = small_run
    summary = study.invariance_summary(study.padding_invariance(embedded))
    masked = summary.drop(index=[n for n in summary.index if "unmasked" in n])
    assert (masked["min cosine"] > 0.99999).all()
    assert summary.loc["mean_unmasked", "min cosine"] < 0.99


def test_quality_table_and_mismatch_warning(small_run):
    data, embedded = small_run
    table = study.quality_table(embedded["max_length"], data)
    assert {"sts_spearman", "ndcg10", "recall10", "separation", "auc", "score"} <= set(table.columns)
    assert study.best_strategy(table) in table.index
    warning = study.mismatch_html("mean", "cls", table)
    assert "Warning: pooling mismatch" in warning and "STS Spearman" in warning
    assert "no mismatch" in study.mismatch_html("mean", "mean_last2", table)


def test_roc_auc_known_values():
    from workbench.core.metrics import roc_auc

    assert roc_auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert roc_auc([0.1], [0.9]) == 0.0
    assert roc_auc([0.5], [0.5]) == 0.5


def test_last_token_on_a_decoder_with_its_prompt(tiny_qwen3_dir):
    loaded = workbench.load_model(str(tiny_qwen3_dir))
    data = load_eval_data(max_texts=4, sts_path="skip", beir_path="skip")
    left = study.embed_strategies(loaded, data, ["last_token"], ["longest"], 64)["longest"]["last_token"]
    loaded.tokenizer.padding_side = "right"
    right = study.embed_strategies(loaded, data, ["last_token"], ["longest"], 64)["longest"]["last_token"]
    assert np.allclose(left.queries.vectors, right.queries.vectors, atol=1e-4)


def test_pooling_notebook_runs_with_tiny_parameters(tmp_path, tiny_qwen3_dir):
    out = tmp_path / "out"
    papermill.execute_notebook(str(NOTEBOOKS_DIR / "02_pooling.ipynb"), str(tmp_path / "run.ipynb"),
                               parameters=dict(max_texts=6, last_n_values=[1, 2], chosen="cls", output_dir=str(out)),
                               kernel_name="python3", progress_bar=False)
    data = json.loads((out / "results.json").read_text())
    r = data["results"]
    assert data["status"] == "complete" and r["declared_pooling"] == "mean"
    assert r["padding_invariance_mean"] > 0.99999 and r["padding_invariance_mean_unmasked"] < 0.999
    for name in ("mean", "mean_last2", "cls", "last_token", "max", "mean_unmasked_last2"):
        assert f"sts_spearman_{name}" in r and f"ndcg10_{name}" in r
    assert r["best_strategy"] in {k.removeprefix("ndcg10_") for k in r if k.startswith("ndcg10_")}
    assert {"declared_pooling", "best_strategy", f"ndcg10_{r['best_strategy']}"} <= set(data["headline"])
    assert "ndcg10_max_last2" not in data["headline"] or r["best_strategy"] == "max_last2"
    rows = {row.strategy: row for row in study.POOLINGS.read(data)}  # typed, as the notebook recorded them
    assert [name for name, row in rows.items() if row.best] == [r["best_strategy"]]
    assert (rows["mean_last2"].pooling, rows["mean_last2"].last_n_layers) == ("mean", 2)
    assert rows["mean_unmasked"].padding_invariance == r["padding_invariance_mean_unmasked"]
    assert rows["cls"].ndcg10 == r["ndcg10_cls"] and rows["cls"].padding_invariance_min <= rows["cls"].padding_invariance
    html = (tmp_path / "run.ipynb").read_text()
    assert "pooling mismatch" in html
    # a decoder through the whole notebook: last-token pooling declared, instruction prompt applied
    papermill.execute_notebook(str(NOTEBOOKS_DIR / "02_pooling.ipynb"), str(tmp_path / "dec.ipynb"),
                               parameters=dict(model=str(tiny_qwen3_dir), max_texts=4, last_n_values="[1]",
                                               strategies='["last_token", "mean"]', output_dir=str(tmp_path / "d")),
                               kernel_name="python3", progress_bar=False)
    assert json.loads((tmp_path / "d" / "results.json").read_text())["results"]["declared_pooling"] == "last_token"


def test_the_mean_vs_cls_verdict_needs_a_stated_minimum_of_texts():
    import pandas as pd

    from workbench.studies import pooling

    def matrix(texts):
        frame = pd.DataFrame([[1.0, 0.70], [0.70, 1.0]], index=["mean", "cls"], columns=["mean", "cls"])
        frame.attrs["texts"] = texts
        return frame

    (few,) = pooling.claim_checks(matrix(2), None, "Qwen/Qwen3-Embedding-0.6B")
    assert few.verdict == "inconclusive" and "only 2 texts" in few.detail and "over 2 texts" in few.value
    (enough,) = pooling.claim_checks(matrix(pooling.MEAN_CLS_MIN_TEXTS), None, "qwen3-embedding-0.6b")
    assert enough.verdict == "holds" and f"at least {pooling.MEAN_CLS_MIN_TEXTS} texts" in enough.threshold


def test_the_mean_vs_cls_figure_measured_on_another_model_is_shown_not_judged():
    import pandas as pd

    from workbench.studies import pooling

    frame = pd.DataFrame([[1.0, 0.2], [0.2, 1.0]], index=["mean", "cls"], columns=["mean", "cls"])
    frame.attrs["texts"] = 40
    (other,) = pooling.claim_checks(frame, None, "all-minilm-l6-v2")
    assert other.verdict == "measured on another model" and other.holds is None and other.value == "0.200 over 40 texts"
    assert other.detail == ("measured on all-minilm-l6-v2, not the claim's model (Qwen3-Embedding-0.6B); on this "
                            "model the value misses the threshold")
    assert (other.about, other.subject) == ("Qwen3-Embedding-0.6B", "all-minilm-l6-v2")
