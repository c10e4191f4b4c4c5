"""Vector storage: quantised codes, search and rescoring on hand-made vectors, retention, the answer, study 06."""

import dataclasses
import json
import re

import numpy as np
import pandas as pd
import papermill
import pytest

from workbench.core.data import RetrievalSet, StsPairs
from workbench.core.paths import NOTEBOOKS_DIR
from workbench.core.records import TableSchemaError
from workbench.index import quantized, rows
from workbench.index.search_latency import crossover_table, latency_curve
from workbench.studies import storage, storage_results


def _unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_bytes_per_vector_per_precision():
    assert [quantized.bytes_per_vector(p, 384) for p in quantized.PRECISIONS] == [1536, 768, 384, 384, 48, 48]
    assert quantized.bytes_per_vector("binary", 10) == 2, "bits are packed into whole bytes"
    with pytest.raises(ValueError, match="storage precision 'int4' is not valid; choose from float32"):
        quantized.bytes_per_vector("int4", 8)


def test_codes_are_sentence_transformers_codes_and_dequantize_back():
    from sentence_transformers.util.quantization import quantize_embeddings

    rng = np.random.default_rng(0)
    vectors = _unit(rng.standard_normal((50, 16)))
    ranges = quantized.calibration_ranges(_unit(rng.standard_normal((200, 16))))
    codes = quantized.quantize(vectors, "int8", ranges)
    assert np.array_equal(codes, quantize_embeddings(vectors, "int8", ranges=ranges))
    back = quantized.dequantize(codes, "int8", 16, ranges)
    step = (ranges[1] - ranges[0]) / 255
    inside = (vectors >= ranges[0]) & (vectors <= ranges[1])
    assert (np.abs(back - vectors)[inside] <= np.broadcast_to(step, vectors.shape)[inside] + 1e-6).all()
    signs = quantized.dequantize(quantized.quantize(vectors, "binary"), "binary", 16)
    assert np.array_equal(signs, np.where(vectors > 0, 1.0, -1.0))
    with pytest.raises(ValueError, match="int8 needs calibration ranges"):
        quantized.quantize(vectors, "int8")
    with pytest.raises(ValueError, match="calibration needs a 2-D array of at least 2 vectors"):
        quantized.calibration_ranges(vectors[:1])


def test_binary_similarity_is_minus_the_hamming_distance():
    bits = np.array([[1, 0, 1, 1, 0, 0, 0, 0, 1, 1], [0, 0, 1, 0, 0, 0, 0, 0, 1, 0]], dtype=np.float32) - 0.5
    codes = quantized.quantize(bits, "binary")
    assert quantized.similarity(codes, codes, "binary").tolist() == [[0, -3], [-3, 0]]
    assert np.array_equal(quantized.similarity(codes, codes, "binary"),
                          quantized.similarity(quantized.quantize(bits, "ubinary"),
                                               quantized.quantize(bits, "ubinary"), "ubinary"))


def test_rescoring_changes_the_top_1_that_binary_search_gets_wrong():
    query = _unit([[0.9, 0.1, 0.1, 0.1]])
    docs = _unit([[-0.5, 0.5, 0.5, 0.5],    # one sign bit from the query's, but the one that carries its weight
                  [0.7, -0.1, -0.1, 0.7]])  # two bits differ, on components the query barely uses: the best match
    stored = quantized.StoredVectors.of(docs, "binary")
    assert quantized.search(query, stored, k=1).tolist() == [[0]], "Hamming distance prefers the wrong one"
    assert quantized.search(query, stored, k=1, rescore_multiplier=2).tolist() == [[1]]
    ranges = quantized.calibration_ranges(np.array([[1, 1, 1, 1], [-1, -1, -1, -1]], dtype=np.float32))
    int8 = quantized.StoredVectors.of(docs, "int8", ranges)
    assert quantized.search(query, stored, 1, 2, rescore_from=int8).tolist() == [[1]]
    with pytest.raises(ValueError, match="rescore_from must hold the same documents"):
        quantized.search(query, stored, 1, 2, rescore_from=quantized.StoredVectors.of(docs[:1], "float32"))


def _hand_retrieval():
    rng = np.random.default_rng(1)
    docs = _unit(rng.standard_normal((40, 16)))
    queries = _unit(docs[:8] + 0.4 * rng.standard_normal((8, 16)))
    ids = [f"d{i}" for i in range(40)]
    qids = [f"q{i}" for i in range(8)]
    ret = RetrievalSet(qids, [f"query {i}" for i in range(8)], ids, [f"doc {i}" for i in range(40)],
                       {q: {f"d{i}": 1} for i, q in enumerate(qids)}, "hand-made")
    return queries, docs, ret, {16: quantized.calibration_ranges(_unit(rng.standard_normal((100, 16)))),
                                8: quantized.calibration_ranges(_unit(rng.standard_normal((100, 8))))}


def test_retrieval_table_measures_retention_against_exact_float32():
    queries, docs, ret, ranges = _hand_retrieval()
    table = storage.retrieval_table(queries, docs, ret, ["float32", "int8", "binary"], [16, 8], ranges, [1, 4],
                                    ["stored", "int8"])
    base = table[(table["precision"] == "float32") & (table["dim"] == 16)].iloc[0]
    assert base["nDCG@10 retention (%)"] == pytest.approx(100.0) and base["bytes per vector"] == 64
    assert base["nDCG@10 retention, 95 % low (%)"] == pytest.approx(100.0)
    assert base["nDCG@10 retention, 95 % high (%)"] == pytest.approx(100.0)
    binary = table[(table["precision"] == "binary") & (table["dim"] == 16)]
    assert sorted(binary["rescoring"]) == sorted(["none", "×1, from the stored vectors", "×4, from the stored vectors",
                                                  "×1, from int8 copies", "×4, from int8 copies"])
    assert (binary["bytes per vector"] == 2).all()
    assert set(binary["rescoring bytes per vector"]) == {0, 16}
    int8 = table[table["precision"] == "int8"]
    assert "int8 copies" not in " ".join(int8["rescoring"]), "int8 is never rescored from int8 copies of itself"
    lo, hi = table["nDCG@10 retention, 95 % low (%)"], table["nDCG@10 retention, 95 % high (%)"]
    assert ((lo <= table["nDCG@10 retention (%)"] + 1e-9) & (table["nDCG@10 retention (%)"] <= hi + 1e-9)).all()
    grid = storage.rescoring_grid(table, 16)
    assert list(grid.columns)[0] == "none" and grid.loc["float32", "none"] == pytest.approx(100.0)


def test_retention_interval_on_known_values():
    reference = np.ones(10)
    assert storage.retention_interval(reference, reference) == (100.0, 100.0)
    lo, hi = storage.retention_interval(reference, np.array([1.0] * 5 + [0.0] * 5))
    assert lo < 50 < hi and 0 <= lo and hi <= 100


def _frame(rows):
    cols = ["precision", "dim", "rescoring", "rescore from", "multiplier", "bytes per vector",
            "rescoring bytes per vector", "nDCG@10 retention (%)", "recall@10 retention (%)"]
    return pd.DataFrame(rows, columns=cols)


def test_the_answer_is_the_smallest_vector_that_keeps_the_target():
    table = _frame([["float32", 8, "none", "none", 0, 32, 0, 100, 100],
                    ["int8", 8, "none", "none", 0, 8, 0, 99.5, 100],
                    ["binary", 8, "none", "none", 0, 1, 0, 90, 95],
                    ["binary", 8, "×4, from int8 copies", "int8", 4, 1, 8, 99.2, 99.1],
                    ["binary", 8, "×4, from the stored vectors", "stored", 4, 1, 0, 99.0, 98.9]])
    answer, basis = storage.cheapest(None, table, 99.0)
    assert answer["precision"] == "binary" and answer["rescoring"] == "×4, from int8 copies"
    assert answer["retention (%)"] == 99.1 and "nDCG@10 and recall@10" in basis
    answer, _ = storage.cheapest(None, table, 98.9)
    assert answer["rescoring"] == "×4, from the stored vectors", "a tie in bytes goes to the one with no extra copy"
    assert storage.cheapest(None, table, 100.1) == (None, basis)
    sts = pd.DataFrame({"precision": ["float32", "binary"], "dim": [8, 8], "bytes per vector": [32, 1],
                        "STS retention (%)": [100, 97]})
    assert storage.cheapest(sts, None, 99)[0]["precision"] == "float32"


def test_published_claims_are_judged_only_for_the_same_model():
    queries, docs, ret, ranges = _hand_retrieval()
    table = storage.retrieval_table(queries, docs, ret, ["float32", "int8", "binary"], [16], ranges, [1, 10],
                                    ["stored"])
    mine = storage.claim_checks(None, table, "all-minilm-l6-v2")
    other = storage.claim_checks(None, table, "bge-small-en-v1.5")
    assert [c.verdict for c in other] == ["measured on another model"] * 3, "shown with bge's value, not judged"
    assert other[0].value == mine[0].value and "measured on bge-small-en-v1.5, not the claim's model" in other[0].detail
    assert mine[2].verdict == "measured on another model", "the mxbai figure is about another model"
    assert all(c.verdict in ("holds", "fails") for c in mine[:2]) and "×10" in mine[1].quantity
    no_int8 = storage.claim_checks(None, table[table["precision"] != "int8"], "all-minilm-l6-v2")
    assert no_int8[0].verdict == "not measurable here" and no_int8[0].detail == "this run did not measure int8"
    beside = storage.published_beside(None, table, "all-minilm-l6-v2", "hand-made")
    assert beside["published retention (%)"].iloc[0] == pytest.approx(100 * 0.8313 / 0.8342)
    assert (beside["this run: all-minilm-l6-v2, hand-made"].iloc[:3] == "not measured").all()


def test_sts_table_and_dims():
    rng = np.random.default_rng(2)
    a = _unit(rng.standard_normal((30, 16)))
    b = _unit(a + 0.5 * rng.standard_normal((30, 16)))
    gold = (a * b).sum(axis=1)
    pairs = StsPairs([""] * 30, [""] * 30, gold.tolist(), "hand-made")
    ranges = {16: quantized.calibration_ranges(_unit(rng.standard_normal((100, 16))))}
    table = storage.sts_table(a, b, pairs, ["float32", "int8", "binary"], [16], ranges).set_index("precision")
    assert table.loc["float32", "STS Spearman"] == pytest.approx(1.0)
    assert table.loc["binary", "STS retention (%)"] < 100
    assert storage.storage_dims(1024, [], (128, 256, 1024)) == [1024, 256, 128]
    assert storage.storage_dims(384, [], ()) == [384]
    with pytest.raises(ValueError, match="truncate_dims must lie between 1 and the model's dimension 384"):
        storage.storage_dims(384, [512], ())
    with pytest.raises(ValueError, match="rescore_with 'disk' is not valid"):
        storage.check_options([1], ["disk"])


def test_latency_curve_and_crossover_table_on_small_indexes():
    rng = np.random.default_rng(3)
    real = _unit(rng.standard_normal((30, 16)))
    curve = latency_curve(real, [200, 400], ["float32", "binary"], n_queries=5)
    assert len(curve) == 8 and set(curve["engine"]) == {"flat", "faiss"}
    assert (curve.loc[curve["engine"] == "flat", "recall10"] == 1.0).all()
    table = crossover_table(curve)
    assert list(table["precision"]) == ["float32", "binary"] and (table["measured N"] == "200–400").all()
    with pytest.raises(ValueError, match="binary storage needs a dimension divisible by 8; the model's is 12"):
        latency_curve(real[:, :12], [200, 400], ["binary"])


def test_storage_notebook_on_a_user_sts_csv_and_a_model_folder(tmp_path, tiny_bert_dir):
    csv = tmp_path / "pairs.csv"
    csv.write_text("sentence1,sentence2,score\n" + "".join(
        f"note number {i},reminder about item {i % 5},{i % 6}\n" for i in range(24)))
    out = tmp_path / "out"
    papermill.execute_notebook(str(NOTEBOOKS_DIR / "06_vector_storage.ipynb"), str(tmp_path / "run.ipynb"),
                               parameters=dict(model=str(tiny_bert_dir), sts_path=str(csv), beir_path="skip",
                                               latency_n=[100, 200], n_queries=5, output_dir=str(out)),
                               kernel_name="python3", progress_bar=False)
    data = json.loads((out / "results.json").read_text())
    r = data["results"]
    assert data["status"] == "complete"
    assert r["sts_retention_pct_float32"] == 100.0
    assert {"sts_retention_pct_int8", "sts_retention_pct_binary"} <= set(r)
    assert not any(k.startswith("ndcg10") for k in r), "no retrieval set, no retrieval figure"
    assert [c["verdict"] for c in data["claims"]] == ["not measurable here"] * 3
    assert (out / "sts_retention.csv").exists() and (out / "search_latency.csv").exists()
    typed = {r.precision: r for r in rows.STORAGE.read(data)}
    written = pd.read_csv(out / "sts_retention.csv").set_index("precision")
    assert list(typed) == list(written.index) == ["float32", "float16", "int8", "uint8", "binary"]
    assert typed["float32"].sts_kept_pct == 100.0 and typed["float32"].ndcg10_kept_pct is None
    assert typed["int8"].sts_kept_pct == pytest.approx(written.loc["int8", "STS retention (%)"])
    assert (typed["binary"].bytes_per_vector, typed["binary"].dim, typed["binary"].model_dim) == (4, 32, 32)
    curve = pd.read_csv(out / "search_latency.csv")
    timings = rows.SEARCH.read(data)
    assert len(timings) == len(curve) == 12, "2 sizes x 3 precisions x 2 engines"
    assert [t.p95_s for t in timings] == pytest.approx((curve["p95_ms"] * 1e-3).tolist()), "seconds, not ms"


def test_the_measured_crossover_is_interpolated_between_the_sizes_that_bracket_it():
    from workbench.index.search_latency import measured_crossover

    n = [1000, 4000, 16000]
    assert measured_crossover(n, [0.1, 0.3, 1.2], [0.2, 0.2, 0.2]) == pytest.approx(2000.0)  # gaps -0.1, +0.1
    assert measured_crossover(n, [0.1, 0.1, 0.1], [0.2, 0.2, 0.2]) is None, "exact faster everywhere measured"
    assert measured_crossover(n, [0.3, 0.4, 0.5], [0.2, 0.2, 0.2]) is None, "HNSW faster everywhere measured"
    curve = pd.DataFrame([{"engine": e, "precision": "float32", "n": x, "p95_ms": ms}
                          for x, flat, hnsw in zip(n, [0.1, 0.3, 1.2], [0.2, 0.2, 0.2])
                          for e, ms in (("flat", flat), ("faiss", hnsw))])
    row = crossover_table(curve).iloc[0]
    assert row["crossover N"] == pytest.approx(2000.0) and row["where"] == "interpolated between measured sizes"


def test_storage_rows_merge_sts_into_the_unrescored_retrieval_rows_and_survive_results_json():
    queries, docs, ret, ranges = _hand_retrieval()
    retrieval = storage.retrieval_table(queries, docs, ret, ["float32", "binary"], [16, 8], ranges, [4], ["int8"])
    sts = pd.DataFrame({"precision": ["float32", "binary", "float32"], "dim": [16, 16, 8],
                        "bytes per vector": [64, 2, 32], "STS retention (%)": [100.0, 97.5, 99.0]})
    made = storage_results.storage_rows(sts, retrieval, 16)
    assert len(made) == len(retrieval) == 6, "per dimension: float32, binary, binary rescored x4 from int8"
    by = {(r.precision, r.dim, r.rescore_multiplier): r for r in made}
    assert by[("binary", 16, 0)].sts_kept_pct == 97.5 and by[("binary", 16, 4)].sts_kept_pct is None
    assert (by[("binary", 16, 4)].rescore_from, by[("binary", 16, 4)].rescoring_bytes_per_vector) == ("int8", 16)
    assert by[("binary", 16, 0)].rescore_from is None and by[("float32", 8, 0)].sts_kept_pct == 99.0
    assert by[("float32", 16, 0)].ndcg10_kept_pct == pytest.approx(100.0)
    full = retrieval[(retrieval["dim"] == 16) & (retrieval["multiplier"] == 4)].iloc[0]
    assert by[("binary", 16, 4)].ndcg10_kept_low_pct == pytest.approx(full["nDCG@10 retention, 95 % low (%)"])
    payload = json.loads(json.dumps({"tables": {rows.STORAGE.name: rows.STORAGE.payload(made)}}))
    assert rows.STORAGE.read(payload) == made
    only_sts = storage_results.storage_rows(sts, None, 16)
    assert [(r.precision, r.dim, r.ndcg10_kept_pct) for r in only_sts] == [("float32", 16, None), ("binary", 16, None),
                                                                            ("float32", 8, None)]


def test_timings_are_recorded_in_seconds():
    curve = pd.DataFrame([{"engine": "flat", "precision": "int8", "n": 300, "build_s": 0.5,
                           "disk_bytes_per_item": 384.5, "p50_ms": 0.25, "p95_ms": 2.0, "recall10": 1.0}])
    (timing,) = rows.timings_from_curve(curve, 384)
    assert (timing.p50_s, timing.p95_s, timing.dim, timing.n) == (0.25e-3, 2e-3, 384, 300)
    payload = json.loads(json.dumps({"tables": {rows.SEARCH.name: rows.SEARCH.payload([timing])}}))
    assert rows.SEARCH.read(payload) == [timing]
    assert rows.SEARCH.read({"tables": {}}) is None and rows.STORAGE.read({}) is None


@pytest.mark.parametrize("change, message", [
    ({"dim": "384"}, "tables.storage row 0 field 'dim' must be a whole number; got '384'"),
    ({"dim": True}, "field 'dim' must be a whole number; got True"),
    ({"ndcg10_kept_pct": "99"}, "field 'ndcg10_kept_pct' must be a finite number or null; got '99'"),
    ({"precision": None}, "field 'precision' must be a string; got None"),
    ({"bytes": 48}, "tables.storage row 0 has unknown field(s) bytes"),
    ({"model_dim": None}, "field 'model_dim' must be a whole number; got None"),
])
def test_a_malformed_storage_row_names_its_field(change, message):
    raw = {**dataclasses.asdict(rows.StorageRow("binary", 384, 384, 48, ndcg10_kept_pct=96.0)), **change}
    with pytest.raises(TableSchemaError, match=re.escape(message)):
        rows.STORAGE.read({"tables": {"storage": {"schema": rows.STORAGE.schema, "rows": [raw]}}})


def test_a_table_of_another_schema_or_lacking_a_field_is_refused():
    with pytest.raises(TableSchemaError, match="tables.search has schema 'search-timing/0'; this workbench"):
        rows.SEARCH.read({"tables": {"search": {"schema": "search-timing/0", "rows": []}}})
    with pytest.raises(TableSchemaError, match="tables.search row 0 lacks field 'p95_s'"):
        rows.SEARCH.read({"tables": {"search": {"schema": rows.SEARCH.schema, "rows": [
            {"engine": "flat", "precision": "int8", "dim": 8, "n": 100, "build_s": 0.1, "disk_bytes_per_item": 8.0,
             "p50_s": 0.001, "recall10": 1.0}]}}})
