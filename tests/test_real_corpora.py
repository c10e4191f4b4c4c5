"""Collections as they come: an empty document is embedded, a judgment for a document the corpus lacks counts as
relevant and never retrieved, and nDCG@10 equals a direct trec_eval computation on the same run."""

import json

import numpy as np
import papermill
import pytest
import pytrec_eval

import workbench as wb
from workbench.core import evaluation
from workbench.core import data as loaders
from workbench.core.data import DataFormatError
from workbench.core.paths import NOTEBOOKS_DIR
from workbench.run.report import notebook_to_html

DOCS = {
    "boiler": "The boiler service is booked for the second Monday of March.",
    "dentist": "Dentist appointment moved to Thursday at 9.",
    "blank": "",
    "flight": "Flight to Lisbon leaves Friday evening from terminal 2.",
    "wifi": "The wifi password is on the fridge.",
    "gift": "Gift ideas for Mara: a chef's knife or a fermentation cookbook.",
}
QUERIES = {"q1": "when is the boiler serviced", "q2": "what time is the dentist", "q3": "gift for Mara"}
QRELS = [("q1", "boiler", 2), ("q1", "gone", 1), ("q2", "dentist", 1), ("q2", "blank", 1), ("q3", "gift", 2),
         ("q3", "also-gone", 2), ("q3", "wifi", 0)]


def write_collection(folder):
    """A BEIR folder with one empty document and two judgments for documents the corpus lacks."""
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n"
                                                 for d, t in DOCS.items()))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items()))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" +
                                               "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS))
    return folder


def test_ndcg_equals_trec_eval_on_the_same_run_with_empty_and_absent_documents(tmp_path, minilm):
    data = evaluation.load_eval_data(sts_path="skip", beir_path=str(write_collection(tmp_path / "set")))
    embedded = evaluation.embed_all(minilm, data, wb.Recipe.model_default(minilm.spec))
    assert embedded.ret_docs.vectors.shape == (len(DOCS), 384)  # the empty document is embedded, not dropped
    ours = evaluation.quality(embedded, data)

    scores = embedded.ret_queries.vectors @ embedded.ret_docs.vectors.T
    run = {q: {d: float(scores[i, j]) for j, d in enumerate(DOCS)} for i, q in enumerate(QUERIES)}
    qrels = {}
    for q, d, s in QRELS:
        qrels.setdefault(q, {})[d] = s
    direct = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.10"}).evaluate(run)
    assert ours["ndcg10"] == pytest.approx(np.mean([m["ndcg_cut_10"] for m in direct.values()]), abs=1e-12)
    assert ours["recall10"] == pytest.approx(np.mean([m["recall_10"] for m in direct.values()]), abs=1e-12)
    # the absent documents are never retrieved: recall@10 over 6 documents misses exactly them
    assert ours["recall10"] == pytest.approx(np.mean([1 / 2, 2 / 2, 1 / 2]))
    present = {q: {d: s for d, s in judged.items() if d in DOCS} for q, judged in qrels.items()}
    dropped = pytrec_eval.RelevanceEvaluator(present, {"ndcg_cut.10"}).evaluate(run)
    assert ours["ndcg10"] < np.mean([m["ndcg_cut_10"] for m in dropped.values()])  # dropping them would flatter


def test_the_data_table_names_the_empty_documents_and_the_share_of_absent_judgments(tmp_path):
    data = evaluation.load_eval_data(beir_path=str(write_collection(tmp_path / "set")))
    notes = data.summary().set_index("set")["notes"]
    assert notes["retrieval passages"] == ("1 empty document (title and text both empty), embedded as the empty "
                                           "input: blank")
    assert notes["retrieval queries"].startswith("2 judgments name documents the corpus lacks; the 2 relevant among "
                                                 "them (33.3 % of all relevant judgments)")  # 2 of 6 relevant
    assert notes["queries"] == "" and notes["sts pairs"] == ""
    with pytest.raises(DataFormatError, match="document gone is not in corpus.jsonl"):
        evaluation.load_eval_data(beir_path=str(tmp_path / "set"), strict_qrels=True)


SMALL = {
    "01_precision_accuracy": dict(max_texts=4, precisions=["fp16"], latency_repeats=2),
    "02_pooling": dict(max_texts=4, strategies=["mean", "cls"], last_n_values=[1], padding_modes=["max_length"]),
    "03_quantization": dict(max_texts=4, formats=["onnx"], variants=["fp32"], latency_repeats=1),
}


@pytest.mark.parametrize("notebook", list(SMALL))
def test_every_notebook_that_reads_a_beir_folder_measures_it_and_says_what_it_did(tmp_path, notebook):
    folder = write_collection(tmp_path / "set")
    out = tmp_path / "out"
    papermill.execute_notebook(str(NOTEBOOKS_DIR / f"{notebook}.ipynb"), str(tmp_path / "run.ipynb"),
                               parameters={**SMALL[notebook], "beir_path": str(folder), "sts_path": "skip",
                                           "output_dir": str(out)}, kernel_name="python3", progress_bar=False)
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "complete"
    assert results["results"]["empty_documents"] == 1 and results["results"]["judgments_for_absent_documents"] == 2
    page = notebook_to_html(tmp_path / "run.ipynb").read_text()
    assert "embedded as the empty input: blank" in page and "33.3 % of all relevant judgments" in page


# str.splitlines() breaks at each of these; JSON strings and TSV fields may hold them as they are.
LINE_BREAKS_INSIDE_RECORDS = ["\x85", "\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]


@pytest.mark.parametrize("char", LINE_BREAKS_INSIDE_RECORDS, ids=lambda c: f"U+{ord(c):04X}")
def test_records_split_at_newline_only_so_a_corpus_with_nel_loads_and_evaluates(tmp_path, minilm, char):
    folder = tmp_path / "set"
    (folder / "qrels").mkdir(parents=True)
    docs = {d: t.replace(" ", char, 1) for d, t in DOCS.items()}  # the character inside each non-empty text
    # ensure_ascii=False writes the character raw, as real corpora (and json.dumps in most dumpers) do
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "title": "", "text": t}, ensure_ascii=False)
                                                 + "\r\n" for d, t in docs.items()), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": f"{t}{char}?"}, ensure_ascii=False)
                                                  + "\n" for q, t in QUERIES.items()), encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text(f"query-id\tcorpus-id\tscore\nq1\tboiler{char}\t2\nq2\tdentist\t1\n",
                                               encoding="utf-8")
    loaded = loaders.load_beir(folder)
    assert loaded.docs == list(docs.values())  # every text through unchanged, \r\n endings dropped
    assert loaded.queries == [f"{QUERIES['q1']}{char}?", f"{QUERIES['q2']}{char}?"]
    assert loaded.qrels["q1"] == {f"boiler{char}": 2}  # a TSV field keeps it too

    sts = tmp_path / "sts.tsv"
    sts.write_text(f"sentence1\tsentence2\tscore\nA cat{char}sits.\tA cat is sitting.\t4.5\nRain.\tSun{char}.\t0.5\n",
                   encoding="utf-8")
    assert loaders.load_sts(sts).sentence1 == [f"A cat{char}sits.", "Rain."]
    queries = tmp_path / "queries.txt"
    queries.write_text(f"first{char}query\nsecond\n", encoding="utf-8")
    assert loaders.load_queries(queries) == [f"first{char}query", "second"]

    data = evaluation.load_eval_data(sts_path=str(sts), beir_path=str(folder))
    quality = evaluation.quality(evaluation.embed_all(minilm, data, wb.Recipe.model_default(minilm.spec)), data)
    assert 0 < quality["ndcg10"] <= 1
