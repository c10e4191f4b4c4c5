import json
import math
import os

import numpy as np
import pandas as pd
import papermill
import pytest

from workbench.index import engines, fits, planner, sweep, vectors
from workbench.core.paths import NOTEBOOKS_DIR
from workbench.core.resources import dir_size_bytes
from workbench.studies import capacity

EXACT = engines.HnswParams(M=16, ef_construction=200, ef_search=200)


@pytest.mark.parametrize("name", list(engines.ENGINES))
def test_each_engine_finds_the_exact_neighbours_after_a_reload(name, tmp_path):
    base, queries = vectors.synthetic_vectors(200, 16, seed=1), vectors.synthetic_vectors(20, 16, seed=2)
    engine = engines.make_engine(name, 16, EXACT)
    engine.build(base, tmp_path / "index")
    engine.close()
    reloaded = engines.make_engine(name, 16, EXACT)
    reloaded.load(tmp_path / "index")
    found = reloaded.query(queries, 10)
    assert found.shape == (20, 10)
    assert engines.recall_at_k(found, engines.exact_top_k(base, queries, 10)) == 1.0
    if name == "chroma":  # a database beside the index: disk accounting must count every file
        files = [os.path.join(d, f) for d, _, names in os.walk(tmp_path / "index") for f in names]
        assert len(files) > 1 and any(f.endswith("chroma.sqlite3") for f in files)
        assert dir_size_bytes(tmp_path / "index") == sum(os.path.getsize(f) for f in files)


def test_unknown_engine_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown engine 'lancedb'; valid: hnswlib, faiss, chroma"):
        engines.make_engine("lancedb", 8)
    with pytest.raises(ValueError, match="unknown engine 'x'; valid: hnswlib, faiss, chroma"):
        sweep.sweep_config(["hnswlib", "x"], [8], [100, 200], "synthetic", 16, 100, 50, 10, 5)


def test_exact_search_and_recall_on_known_data():
    base = np.eye(4, dtype=np.float32)
    assert engines.exact_top_k(base, base[[2]], 1).tolist() == [[2]]
    assert engines.recall_at_k([[0, 1], [2, 9]], [[1, 0], [2, 3]]) == 0.75
    with pytest.raises(ValueError, match="k must be between 1 and the number of vectors"):
        engines.exact_top_k(base, base, 5)


def test_faiss_storage_precisions_shrink_the_file(tmp_path):
    base = vectors.synthetic_vectors(300, 64, seed=1)
    sizes = {}
    for precision in engines.PRECISIONS:
        index = engines.FaissHnswIndex(64, EXACT, precision=precision)
        index.build(base, tmp_path / precision)
        sizes[precision] = dir_size_bytes(tmp_path / precision)
    assert sizes["fp32"] > sizes["fp16"] > sizes["int8"] > sizes["binary"]
    with pytest.raises(ValueError, match="binary storage needs a dimension divisible by 8"):
        engines.FaissHnswIndex(12, precision="binary")


def test_tiled_embeddings_are_unit_vectors_near_their_source():
    real = vectors.synthetic_vectors(5, 32, seed=3)
    tiled = vectors.tile_vectors(real, 12, noise=0.1)
    assert tiled.shape == (12, 32) and np.allclose(np.linalg.norm(tiled, axis=1), 1, atol=1e-5)
    assert (np.sum(tiled * real[np.arange(12) % 5], axis=1) > 0.99).all()
    assert np.array_equal(vectors.tile_vectors(real, 12, noise=0.1), tiled), "seeded: the same in every process"


def _synthetic_sweep(dims=(64, 256), n_values=(1000, 2000, 4000), per_item=lambda d: 4 * d + 150):
    rows = []
    for dim in dims:
        for n in n_values:
            rows.append({"vectors": "synthetic", "engine": "hnswlib", "dim": dim, "n": n, "M": 16, "status": "ok",
                         "disk_bytes": 1000 + per_item(dim) * n, "rss_after_load_bytes": 2e6 + 0.6 * per_item(dim) * n,
                         "p95_ms": 0.1 + 0.05 * math.log(n), "recall10": 0.99})
    return pd.DataFrame(rows)


def test_fits_recover_known_constants():
    points = _synthetic_sweep()
    table = fits.fit_table(points, latency_budget_ms=0.6).set_index("dim")
    assert table.loc[64, "disk bytes/item"] == pytest.approx(406)
    assert table.loc[64, "disk fixed bytes"] == pytest.approx(1000)
    assert table.loc[256, "alpha"] == pytest.approx(150 / 1024)
    assert table.loc[256, "RSS/disk"] == pytest.approx(0.6)
    assert table.loc[256, "p95 ms slope"] == pytest.approx(0.05) and table.loc[256, "p95 latency grows with"] == "ln N"
    assert table.loc[256, "p95 ms at 1M (extrapolated)"] == pytest.approx(0.1 + 0.05 * math.log(1e6))
    assert table.loc[256, "n where p95 crosses budget (extrapolated)"] == pytest.approx(math.exp(10))
    constants = fits.capacity_constants(table.reset_index(), points)["hnswlib"]
    assert constants["disk"] == pytest.approx((150, 4))
    flat = fits.fit_table(points.assign(engine="flat"), latency_budget_ms=0.6).set_index("dim")
    assert set(flat["alpha"]) == {fits.NOT_APPLICABLE}  # exact search stores the vectors alone: no graph to weigh
    assert constants["rss"] == pytest.approx((90, 2.4))


def test_hnswlib_formula_matches_a_real_index(tmp_path):
    base = vectors.synthetic_vectors(2000, 64, seed=1)
    engines.make_engine("hnswlib", 64).build(base, tmp_path)
    per_item = dir_size_bytes(tmp_path) / len(base)
    assert per_item == pytest.approx(fits.hnswlib_formula_bytes(64, 16), rel=0.02)


@pytest.fixture(scope="module")
def constants():
    points = _synthetic_sweep()
    return fits.capacity_constants(fits.fit_table(points), points)


def test_planner_normal_case(constants):
    # per item at 1000-d: 4150 B on disk, 2490 B in RAM; fixed 1000 B and 2 MB
    result = planner.plan(4150 * 10_000 + 1000, 10**9, 1000, "hnswlib", constants=constants)
    assert result["max_items"] == pytest.approx(10_000, abs=1) and result["binding"] == "disk"
    assert result["limits"]["ram"] == pytest.approx((10**9 - 2e6) / 2490, abs=1)
    assert result["extrapolated"] is True
    tight = planner.plan(10**12, (2.4 * 128 + 90) * 500 + 2e6, 128, "hnswlib", constants=constants)
    assert tight["binding"] == "ram" and tight["max_items"] == pytest.approx(500, abs=1)
    assert tight["extrapolated"] is False


def test_the_planner_table_speaks_in_words_with_units(constants):

    result = planner.plan(4150 * 10_000 + 1000, 10**9, 1000, "hnswlib", constants=constants)
    shown = capacity.planner_table(result, "hnswlib, 1000-d")
    assert shown["items that fit (items)"] == 10_000 and shown["binding budget"] == "disk"
    assert shown["items the RAM budget allows (items)"] == result["limits"]["ram"]
    assert shown["disk per item (bytes)"] == pytest.approx(4150) and shown["extrapolated"].startswith("yes")
    assert not any("_" in label for label in shown.index)  # no raw field names on the page


def test_planner_latency_budget_can_bind(constants):
    result = planner.plan(10**12, 10**12, 64, "hnswlib", latency_budget_ms=0.6, constants=constants)
    assert result["binding"] == "latency" and result["max_items"] == pytest.approx(math.exp(10), abs=1)


@pytest.mark.parametrize("args, message", [
    ((0, 10**9, 384, "hnswlib"), "disk budget must be a positive number of bytes; got 0"),
    ((10**9, -5, 384, "hnswlib"), "RAM budget must be a positive number of bytes; got -5"),
    ((10**9, 10**9, 0, "hnswlib"), "dimension must be an integer >= 1; got 0"),
    ((10**9, 10**9, 384, "qdrant"), "unknown engine 'qdrant'; measured: hnswlib"),
])
def test_planner_rejects_bad_input_with_one_message(constants, args, message):
    with pytest.raises(ValueError, match=message):
        planner.plan(*args, constants=constants)


def test_planner_needs_constants_and_a_supported_precision(constants):
    with pytest.raises(ValueError, match="needs measured constants"):
        planner.plan(10**9, 10**9, 384, "hnswlib", constants={})
    with pytest.raises(ValueError, match="stores fp32 only; use engine 'faiss' or 'flat' for int8"):
        planner.plan(10**9, 10**9, 384, "hnswlib", "int8", constants=constants)


def test_sweep_resumes_and_skips_what_does_not_fit(tmp_path, monkeypatch):
    config = sweep.sweep_config(["hnswlib"], [8], [100, 200], "synthetic", 16, 100, 50, 10, 5)
    calls = []

    def fake(point, vectors, scratch):
        calls.append(point["n"])
        if len(calls) == 2:
            raise KeyboardInterrupt  # interrupted after the first point
        return {"disk_bytes": point["n"]}

    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(config, tmp_path, measure=fake)
    assert [r["point"]["n"] for r in sweep.load_rows(tmp_path / sweep.SWEEP_FILE)] == [100]
    table = sweep.run_sweep(config, tmp_path, measure=lambda p, v, s: {"disk_bytes": p["n"]})
    assert table["n"].tolist() == [100, 200] and (table["status"] == "ok").all()
    monkeypatch.setattr(sweep, "available_memory_bytes", lambda: 0)
    bigger = sweep.sweep_config(["hnswlib"], [8], [100, 300], "synthetic", 16, 100, 50, 10, 5)
    table = sweep.run_sweep(bigger, tmp_path, measure=fake).set_index("n")
    assert table.loc[300, "status"] == "skipped" and "GiB free" in table.loc[300, "reason"]


def test_capacity_notebook_runs_with_tiny_parameters(tmp_path):
    out = tmp_path / "out"
    papermill.execute_notebook(str(NOTEBOOKS_DIR / "04_hnsw_capacity.ipynb"), str(tmp_path / "run.ipynb"),
                               parameters=dict(engines='["hnswlib", "flat"]', dims="[32]", n_values="[200, 400]",
                                               n_queries=20, output_dir=str(out)),
                               kernel_name="python3", progress_bar=False)
    data = json.loads((out / "results.json").read_text())
    r = data["results"]
    assert data["status"] == "complete"
    for key in ("disk_bytes_per_item_hnswlib_32", "rss_bytes_per_item_hnswlib_32", "alpha_hnswlib_32",
                "p95_ms_at_max_n_hnswlib_32", "recall10_at_max_n_hnswlib_32", "planner_max_items_example"):
        assert key in r and r[key] is not None, key
    assert r["disk_bytes_per_item_hnswlib_32"] == pytest.approx(fits.hnswlib_formula_bytes(32, 16), rel=0.05)
    assert r["recall10_at_max_n_hnswlib_32"] > 0.9
    assert "extrapolated" in data["notes"]["planner_max_items_example"]
    assert {"planner_max_items_example", "alpha_hnswlib_32"} <= set(data["headline"])
    rows = sweep.load_rows(out / sweep.SWEEP_FILE)  # vectors "both": synthetic 32-d and the model's 384-d
    assert sorted((r["point"]["vectors"], r["point"]["dim"]) for r in rows) == [("embeddings", 384)] * 4 + [
        ("synthetic", 32)] * 4
    assert "Exact search against hnswlib" in (tmp_path / "run.ipynb").read_text()
    assert r["recall10_at_max_n_hnswlib_384_embeddings"] > 0.9
    assert [c["verdict"] for c in data["claims"] if c["quote"].startswith("working RAM")] in (["holds"], ["fails"])
    assert data["labels"]["alpha_hnswlib_32"] == "HNSW overhead α, hnswlib 32-d"
    assert "alpha_hnswlib_384_embeddings" not in data["headline"]  # one dimension of the primary vectors
    assert 'id=\\"claims\\"' in (tmp_path / "run.ipynb").read_text()
    fitted = {(f.engine, f.dim, f.vectors): f for f in capacity.FITS.read(data)}  # typed, as the notebook recorded
    assert fitted[("flat", 32, "synthetic")].alpha is None and "alpha_flat_32" not in r
    assert fitted[("hnswlib", 32, "synthetic")].p95_s_at_max_n == pytest.approx(r["p95_ms_at_max_n_hnswlib_32"] / 1e3)
    assert fitted[("hnswlib", 32, "synthetic")].max_n == 400
    (example,) = capacity.PLANNER.read(data)
    assert example.max_items == r["planner_max_items_example"] and example.extrapolated_from_dims


def test_a_latency_line_that_falls_below_zero_is_inconclusive_not_a_pass():
    from workbench.core.fitting import fit_linear
    from workbench.studies import capacity as study

    falling = fit_linear(np.log([2000, 3000, 5000]), [2.0, 1.6, 1.0])  # extrapolates below zero by 150k items
    rising = fit_linear(np.log([2000, 3000, 5000]), [0.20, 0.24, 0.30])
    rows = pd.DataFrame({"vectors": ["synthetic"] * 2, "engine": ["chroma", "hnswlib"], "alpha": [0.6, 0.7],
                         "RSS/disk": [0.6, 0.65]})
    claims = study.claim_checks(rows, {"chroma": {"latency": falling, "latency_dim": 64},
                                       "hnswlib": {"latency": rising, "latency_dim": 64}})
    by_quantity = {c.quantity: c for c in claims}
    chroma = by_quantity["p95 query latency, chroma, 64-d"]
    assert chroma.verdict == "inconclusive" and "zero or less" in chroma.detail and "-" in chroma.value
    assert by_quantity["p95 query latency, hnswlib, 64-d"].verdict == "holds"
    assert [c.verdict for c in claims[:2]] == ["holds", "holds"]  # alpha within [0.5, 1], RSS/disk near 0.6


def test_flat_engine_is_exact_at_every_precision_and_its_file_shrinks(tmp_path):
    base, queries = vectors.synthetic_vectors(300, 64, seed=1), vectors.synthetic_vectors(20, 64, seed=2)
    sizes, recall = {}, {}
    for precision in engines.PRECISIONS:
        index = engines.make_engine("flat", 64, precision=precision)
        index.build(base, tmp_path / precision)
        sizes[precision] = dir_size_bytes(tmp_path / precision) / len(base)
        recall[precision] = engines.recall_at_k(index.query(queries, 10), engines.exact_top_k(base, queries, 10))
    assert recall["fp32"] == 1.0 and recall["fp16"] == 1.0 and recall["binary"] < 1.0
    assert sizes["fp32"] == pytest.approx(4 * 64, rel=0.05) and sizes["binary"] == pytest.approx(64 / 8, rel=0.1)
    with pytest.raises(ValueError, match="engine 'hnswlib' stores fp32 only; use faiss or flat for int8"):
        engines.make_engine("hnswlib", 64, precision="int8")


def _flat_and_hnsw_sweep():
    rows = []
    for n in (1000, 2000, 4000):
        for engine, p95 in (("flat", 0.01 + 1e-4 * n), ("hnswlib", 0.1 + 0.05 * math.log(n))):
            rows.append({"vectors": "synthetic", "engine": engine, "dim": 64, "n": n, "M": 16, "status": "ok",
                         "disk_bytes": 1000 + 300 * n, "rss_after_load_bytes": 2e6 + 300 * n, "p95_ms": p95,
                         "recall10": 1.0})
    return pd.DataFrame(rows)


def test_exact_search_latency_is_fitted_as_a_line_in_n_and_meets_hnsw_at_the_crossover():
    points = _flat_and_hnsw_sweep()
    table = fits.fit_table(points, latency_budget_ms=1.0).set_index("engine")
    assert table.loc["flat", "p95 latency grows with"] == "N" and table.loc["flat", "p95 ms slope"] == pytest.approx(1e-4)
    assert table.loc["flat", "n where p95 crosses budget (extrapolated)"] == pytest.approx(9900)
    c = fits.capacity_constants(table.reset_index(), points)
    n = planner.crossover_n(c["flat"]["latency"], c["hnswlib"]["latency"])
    assert 0.01 + 1e-4 * n == pytest.approx(0.1 + 0.05 * math.log(n), rel=1e-6)
    assert 0.01 + 1e-4 * 2 * n > 0.1 + 0.05 * math.log(2 * n), "above the crossover HNSW is faster"
    assert n > 4000, "the larger root: exact search is faster over the whole measured range"
    result = planner.plan(10**12, 10**12, 64, "hnswlib", constants=c)
    assert result["exact_search_faster_up_to"] == pytest.approx(n)


def test_crossover_edge_cases():
    n = [1000, 2000, 4000]
    flat = fits.latency_fit("flat", n, [0.05 + 1e-3 * x for x in n])
    assert planner.crossover_n(flat, fits.latency_fit("faiss", n, [0.01] * 3)) == 0.0, "HNSW faster everywhere"
    steady = fits.latency_fit("flat", n, [0.5] * 3)
    assert planner.crossover_n(steady, fits.latency_fit("faiss", n, [1.0, 1.1, 1.2])) == math.inf


def test_time_queries_asks_each_row_alone_and_warms_up_untimed():
    from workbench.index.timing import time_queries

    asked = []

    class Engine:
        def query(self, rows, k):
            asked.append(rows.shape)
            return np.full((1, k), len(asked))

    ids, samples = time_queries(Engine(), np.zeros((4, 3)), k=2, warmup=1)
    assert asked == [(1, 3)] * 5 and ids.tolist() == [[2, 2], [3, 3], [4, 4], [5, 5]], "warm-up answers are not kept"
    assert samples.shape == (4,) and (samples >= 0).all()
