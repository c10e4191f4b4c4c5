"""The deployment recommender: the pure selection on hand-made rows, the evidence read from run folders, study 07."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.deploy import selection
from workbench.deploy.selection import Budgets

GB = 1e9


def _rows(*rows):
    cols = ["name", "quality_pct", "ram_bytes", "disk_bytes", "latency_ms", "convert_ram_bytes"]
    return pd.DataFrame(rows, columns=cols)


ROWS = _rows(["small", 96.0, 1 * GB, 2 * GB, 5.0, 4 * GB],
             ["medium", 99.2, 2 * GB, 3 * GB, 8.0, 8 * GB],
             ["large", 100.0, 4 * GB, 6 * GB, 20.0, 16 * GB])


def test_the_cheapest_row_that_meets_every_budget_and_the_budget_that_keeps_cheaper_ones_out():
    result = selection.recommend(ROWS, Budgets(ram_bytes=3 * GB, min_quality_pct=99.0))
    assert result.pick["name"] == "medium" and result.binding == "min_quality_pct"
    assert result.cheaper_broken == {"min_quality_pct": 1} and result.feasible == 1
    assert selection.recommend(ROWS, Budgets()).pick["name"] == "small", "no budget: the cheapest row"


def test_a_budget_change_flips_the_answer():
    assert selection.recommend(ROWS, Budgets(min_quality_pct=99.5)).pick["name"] == "large"
    assert selection.recommend(ROWS, Budgets(min_quality_pct=99.5, ram_bytes=3 * GB)).pick is None


def test_ties_are_broken_by_quality_then_name_never_by_row_order():
    tied = _rows(["b", 99.0, GB, GB, 5.0, GB], ["a", 99.0, GB, GB, 5.0, GB], ["c", 99.5, GB, GB, 5.0, GB])
    assert selection.recommend(tied, Budgets()).pick["name"] == "c"
    assert selection.recommend(tied.iloc[:2], Budgets()).pick["name"] == "a"
    assert selection.recommend(tied.iloc[[1, 0]], Budgets()).pick["name"] == "a"


def test_a_missing_measurement_excludes_the_row_instead_of_counting_as_zero():
    rows = pd.concat([ROWS, _rows(["unmeasured", 100.0, np.nan, 0.1 * GB, 1.0, GB])], ignore_index=True)
    result = selection.recommend(rows, Budgets(ram_bytes=3 * GB, min_quality_pct=99.0))
    assert result.pick["name"] == "medium" and result.excluded == {"unmeasured": "ram_bytes"}
    no_quality = _rows(["q?", np.nan, 0.5 * GB, GB, 1.0, GB])
    assert selection.recommend(no_quality, Budgets()).excluded == {"q?": "quality_pct"}


def test_when_nothing_fits_it_says_which_budget_to_relax_and_by_how_much():
    result = selection.recommend(ROWS, Budgets(ram_bytes=1.5 * GB, min_quality_pct=99.0))
    assert result.pick is None and result.feasible == 0
    assert result.relax["ram_bytes"] == pytest.approx(2 / 1.5), "medium needs 2 GB"
    assert result.relax["min_quality_pct"] == pytest.approx(96 / 99), "or accept small's 96 %"


def test_budgets_refuse_nonsense():
    with pytest.raises(ValueError, match="budget ram_bytes must be a positive number or None; got -1"):
        Budgets(ram_bytes=-1)


def test_pareto_keeps_only_rows_nothing_beats_everywhere():
    rows = pd.concat([ROWS, _rows(["worse", 96.0, 2 * GB, 3 * GB, 9.0, GB])], ignore_index=True)
    assert rows.loc[selection.pareto(rows), "name"].tolist() == ["small", "medium", "large"]


def test_sensitivity_moves_one_budget_at_a_time():
    table = selection.sensitivity(ROWS, Budgets(ram_bytes=3 * GB, min_quality_pct=99.0))
    moved = {(r["budget"], r["moved"]): r["pick"] for r in table.to_dict("records")}
    assert moved[("RAM", "-50%")] == "nothing fits" and moved[("RAM", "+50%")] == "medium"
    assert moved[("minimum quality kept", "+50%")] == "medium", "allowed loss 1 % -> 1.5 %: 98.5 % still needs medium"
    assert moved[("minimum quality kept", "-50%")] == "nothing fits", "99.5 % needs large, which 3 GB cannot hold"


def test_combine_adds_model_and_index_and_keeps_missing_values_missing():
    artifacts = pd.DataFrame([{"name": "onnx_int8", "size_bytes": 20e6, "load_rss_bytes": 40e6,
                               "convert_ram_bytes": 500e6, "embed_ms": 5.0, "quality_pct": 98.0},
                              {"name": "coreml_int8", "size_bytes": 20e6, "load_rss_bytes": np.nan,
                               "convert_ram_bytes": 200e6, "embed_ms": np.nan, "quality_pct": 99.0}])
    storages = pd.DataFrame([{"precision": "binary", "dim": 384, "rescoring": "×4 from int8", "quality_pct": 99.0,
                              "rescoring_bytes_per_vector": 384}])
    indexes = pd.DataFrame([{"engine": "flat", "precision": "binary", "dim": 384, "disk_bytes_per_item": 48.0,
                             "ram_bytes_per_item": 48.0, "max_measured_n": 10_000,
                             "search_ms": lambda n: 1e-4 * n}])
    rows = selection.combine(artifacts, storages, indexes, 100_000)
    first = rows.iloc[0]
    assert first["quality_pct"] == pytest.approx(97.02) and first["latency_ms"] == pytest.approx(15.0)
    assert first["disk_bytes"] == 20e6 + 100_000 * (48 + 384) and first["ram_bytes"] == 40e6 + 100_000 * 48
    assert bool(first["search_projected"]) is True
    assert math.isnan(rows.iloc[1]["ram_bytes"]) and math.isnan(rows.iloc[1]["latency_ms"])
    with pytest.raises(ValueError, match="target item count must be a whole number >= 1"):
        selection.combine(artifacts, storages, indexes, 0)


def _write_runs(reports):
    """Run folders of studies 03 and 06 in the layout they had before typed rows: 03's sizes in decimal MB."""
    artifact = reports / "03_quantization-aaaaaaaaaaaaaaaa"
    artifact.mkdir(parents=True)
    results = {}
    for name, size, rss, peak, p95, kept in (("onnx_fp32", 90, 110, 800, 10.0, 100.0),
                                             ("onnx_int8", 23, 44, 800, 6.0, 97.0),
                                             ("coreml_int8", 23, None, 540, None, 100.0)):
        results.update({f"size_mb_{name}": size, f"load_rss_mb_{name}": rss, f"peak_convert_rss_mb_{name}": peak,
                        f"latency_p95_ms_{name}": p95, f"ndcg10_retention_pct_{name}": kept})
    notes = {"load_rss_mb_coreml_int8": "artifact from the cache; not measured on this platform: Core ML "
                                        "prediction needs macOS (load and latency)"}
    (artifact / "results.json").write_text(json.dumps({
        "notebook": "03_quantization", "status": "complete", "updated_at": "2026-11-29T08:00:00+00:00",
        "parameters": {"model": "all-minilm-l6-v2"}, "results": results, "notes": notes}))
    storage = reports / "06_vector_storage-bbbbbbbbbbbbbbbb"
    storage.mkdir()
    (storage / "results.json").write_text(json.dumps({
        "notebook": "06_vector_storage", "status": "complete", "updated_at": "2026-11-29T08:01:00+00:00",
        "parameters": {"model": "all-minilm-l6-v2"},
        "results": {"full_dimension": 384, "ndcg10_retention_pct_float32": 100.0, "ndcg10_retention_pct_int8": 99.0,
                    "ndcg10_retention_pct_binary": 96.0, "ndcg10_retention_pct_binary_rescored_x4_from_int8": 99.5}}))
    lines = ["engine,precision,n,build_s,disk_bytes_per_item,p50_ms,p95_ms,recall10"]
    for precision, per_item, flat_ms in (("float32", 1536, 1e-4), ("int8", 384, 8e-5), ("binary", 48, 1e-5)):
        for n in (1000, 10000):
            lines.append(f"flat,{precision},{n},0.01,{per_item},0,{0.01 + flat_ms * n},1.0")
            lines.append(f"faiss,{precision},{n},1.0,{per_item + 144},0,{0.1 + 0.01 * math.log(n)},0.99")
    (storage / "search_latency.csv").write_text("\n".join(lines) + "\n")
    return artifact, storage


def test_evidence_reads_the_latest_runs_and_keeps_what_was_not_measured_missing(tmp_path):
    from workbench.deploy import evidence

    _write_runs(tmp_path)
    found = evidence.gather(evidence.latest_runs(tmp_path))
    artifacts = found.artifacts.set_index("name")
    assert artifacts.loc["onnx_int8", "load_rss_bytes"] == 44e6  # 03 wrote decimal MB; 07 once read them as 2**20
    assert artifacts.loc["onnx_int8", "size_bytes"] == 23e6
    assert math.isnan(artifacts.loc["coreml_int8", "load_rss_bytes"])
    assert artifacts.loc["coreml_int8", "note"].startswith("not measured on this platform")
    rescored = found.storages[found.storages["rescoring"] == "×4 from int8"].iloc[0]
    assert rescored["precision"] == "binary" and rescored["rescoring_bytes_per_vector"] == 384
    flat = found.indexes[(found.indexes["engine"].str.startswith("exact")) & (found.indexes["precision"] == "binary")]
    assert flat.iloc[0]["search_ms"](100_000) == pytest.approx(0.01 + 1e-5 * 100_000)
    assert "06_vector_storage-bbbbbbbbbbbbbbbb/report.html#3." in flat.iloc[0]["source_index"]
    with pytest.raises(ValueError, match="no complete run of 03_quantization and 06_vector_storage"):
        evidence.latest_runs(tmp_path / "empty")


def test_07_reads_the_rows_that_03_real_code_wrote_and_their_sizes_are_the_files_on_disk(tmp_path, monkeypatch):
    import papermill

    from workbench.convert.rows import ARTIFACTS
    from workbench.core.paths import NOTEBOOKS_DIR
    from workbench.core.resources import dir_size_bytes
    from workbench.deploy import evidence
    from workbench.run.index_page import collect_runs

    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))  # the artifacts stay on disk to be sized
    out = tmp_path / "reports" / "03_quantization-cccccccccccccccc"
    papermill.execute_notebook(str(NOTEBOOKS_DIR / "03_quantization.ipynb"), str(tmp_path / "03.ipynb"),
                               parameters={"output_dir": str(out), "formats": ["onnx"], "variants": ["fp32", "int8"],
                                           "max_texts": 4, "latency_repeats": 1, "batch_sizes": [1],
                                           "max_length": 16},
                               kernel_name="python3", progress_bar=False)

    (read,) = [r for r in collect_runs(tmp_path / "reports") if r["notebook"] == "03_quantization"]
    written = {r.key: r for r in ARTIFACTS.read(read)}
    found = evidence.artifact_rows(read, "ndcg10").set_index("name")
    assert list(found.index) == ["torch_fp32", "onnx_fp32", "onnx_int8"]
    for key in ("onnx_fp32", "onnx_int8"):
        row = written[key]
        assert found.loc[key, "size_bytes"] == dir_size_bytes(row.path), key  # bytes on disk, not MB read as MiB
        assert found.loc[key, "convert_ram_bytes"] == row.convert_peak_rss_bytes
        assert found.loc[key, "embed_ms"] == pytest.approx(row.latency_at(1).p95_s * 1e3)
        assert read["results"][f"size_mb_{key}"] == pytest.approx(row.size_bytes / 1e6)  # the page's MB are decimal
    assert found.loc["onnx_int8", "size_bytes"] < found.loc["onnx_fp32", "size_bytes"] / 2
    assert found.loc["torch_fp32", "quality_pct"] == 100.0
    assert 50 < found.loc["onnx_int8", "quality_pct"] <= 110
    # the link into 03's page goes to an id 03 itself writes, not to an anchor made from a heading
    assert set(found["source_artifact"].str.rsplit("#").str[-1]) == {evidence.ARTIFACTS_SECTION}
    assert f'id=\\"{evidence.ARTIFACTS_SECTION}\\"' in (tmp_path / "03.ipynb").read_text()


# Cells put before a copy of notebook 06's parameters cell. The clock makes two runs time alike: every latency
# sample is the next reading of a counter whose steps grow by 10 µs, so 07's evidence from two runs compares exactly.
CLOCK_CELL = """\
import itertools as _itertools
import time as _time
import types as _types

import workbench.core.resources as _resources

_steps, _now = _itertools.count(1), [0.0]


def _perf_counter():
    _now[0] += 1e-5 * next(_steps)
    return _now[0]


_clock = {name: getattr(_time, name) for name in dir(_time) if not name.startswith("_")}
_resources.time = _types.SimpleNamespace(**{**_clock, "perf_counter": _perf_counter})
"""
RENAME_CELL = """\
import dataclasses as _dataclasses
import workbench.studies.storage_results as _recorded

_results = _recorded.CONCLUSIONS.results
_recorded.CONCLUSIONS = _dataclasses.replace(_recorded.CONCLUSIONS, results=lambda outcome: [
    _dataclasses.replace(r, key="renamed_" + r.key, label=r.label and "renamed " + r.label) for r in _results(outcome)])
"""


def _storage_notebook(cells, rename_headings):
    """Notebook 06 with `cells` run first and, if asked, every heading renamed (and with it nbconvert's anchor)."""
    from workbench.core.paths import NOTEBOOKS_DIR

    nb = json.loads((NOTEBOOKS_DIR / "06_vector_storage.ipynb").read_text(encoding="utf-8"))
    renamed = 0
    for cell in nb["cells"]:
        if rename_headings and cell["cell_type"] == "markdown":
            renamed += sum(line.startswith("## ") for line in cell["source"])
            cell["source"] = [f"## Renamed: {line[3:]}" if line.startswith("## ") else line for line in cell["source"]]
    assert renamed >= 4 or not rename_headings, "the numbered sections' headings are renamed"
    nb["cells"][:0] = [{"cell_type": "code", "execution_count": None, "id": f"test-cell-{i}", "metadata": {},
                        "outputs": [], "source": source} for i, source in enumerate(cells)]
    return nb


@pytest.fixture(scope="module")
def storage_runs(tmp_path_factory, tiny_bert_dir):
    """Study 06 run by its own code on the tiny BERT and the bundled sets, twice: as it is, and with every heading
    and every result key and label renamed. Returns each run as `collect_runs` reads it, and its executed notebook."""
    import papermill

    from workbench.run.index_page import collect_runs

    work = tmp_path_factory.mktemp("storage-runs")
    found = {}
    for name, cells, rename in (("original", [CLOCK_CELL], False), ("renamed", [CLOCK_CELL, RENAME_CELL], True)):
        source, executed = work / f"{name}.ipynb", work / f"{name}-executed.ipynb"
        source.write_text(json.dumps(_storage_notebook(cells, rename)), encoding="utf-8")
        out = work / "reports" / f"06_vector_storage-{name}"
        papermill.execute_notebook(str(source), str(executed), kernel_name="python3", progress_bar=False,
                                   parameters=dict(model=str(tiny_bert_dir), max_texts=16, rescore_multipliers=[1, 4],
                                                   latency_n=[100, 200], n_queries=5, output_dir=str(out)))
        (run,) = [r for r in collect_runs(work / "reports") if Path(r["_folder"]).name == out.name]
        found[name] = (run, executed)
    return found


def _fragments(frame, column):
    """The links' sections, and a check that each link points into its own run's report."""
    folders = {link.split("/")[1] for link in frame[column]}
    assert len(folders) == 1, folders
    return frame.assign(**{column: frame[column].str.split("#").str[1]})


def test_07_reads_the_tables_that_06_real_code_wrote_and_they_hold_what_06_measured(storage_runs, tmp_path):
    from workbench.deploy import evidence
    from workbench.index.rows import QUALITY_SECTION, SEARCH_SECTION
    from workbench.run.index_page import collect_runs

    run, _ = storage_runs["original"]
    folder = Path(run["_folder"])
    assert {name: t["schema"] for name, t in run["tables"].items()} == {"storage": "storage-row/1",
                                                                          "search": "search-timing/1",
                                                                          "weights": "weights/1"}
    page = pd.read_csv(folder / "retrieval_retention.csv")  # the page's own table, which 07 does not read
    page = page[page["dim"] == 32].assign(rescoring=lambda f: [f"×{m} from {s}" if m else "none" for m, s in
                                                               zip(f["multiplier"], f["rescore from"])])
    found = evidence.storage_rows(run, "ndcg10")
    assert len(found) == len(page) == 13, "float32, float16, int8 and uint8 (none, ×1, ×4), binary also from int8"
    merged = found.merge(page, on=["precision", "rescoring"], validate="one_to_one")
    assert merged["quality_pct"].tolist() == pytest.approx(merged["nDCG@10 retention (%)"].tolist(), rel=1e-12)
    rescored = found.set_index(["precision", "rescoring"])["rescoring_bytes_per_vector"]
    assert (rescored[("binary", "×4 from int8")], rescored[("binary", "×4 from stored")]) == (32, 0)
    assert (found["source_storage"] == f"../{folder.name}/report.html#{QUALITY_SECTION}").all()
    sts = evidence.storage_rows(run, "sts").set_index("precision")["quality_pct"]
    page_sts = pd.read_csv(folder / "sts_retention.csv").set_index("precision")["STS retention (%)"]
    assert sts["float32"] == 100.0 and sts.tolist() == pytest.approx(page_sts.tolist(), rel=1e-12)

    indexes = evidence.index_rows(run).set_index(["engine", "precision"])
    curve = pd.read_csv(folder / "search_latency.csv")  # 06's CSV, read here only to check what 07 read instead
    assert len(indexes) == 6 and set(indexes.index.get_level_values(0)) == {"exact search (faiss flat)",
                                                                            "HNSW (faiss)"}
    for (engine, precision), g in curve.groupby(["engine", "precision"]):
        row = indexes.loc[(evidence.ENGINE_NAMES[engine], precision)]
        top = g[g["n"] == 200].iloc[0]
        assert row["disk_bytes_per_item"] == top["disk_bytes_per_item"] and row["max_measured_n"] == 200
        assert [row["search_ms"](n) for n in g["n"]] == pytest.approx(g["p95_ms"].tolist(), rel=1e-9), "ms, not s"
        assert row["source_index"].endswith(f"#{SEARCH_SECTION}") and row["dim"] == 32

    # The same run read the way 07 read it before the typed tables: every number the same, only the links differ.
    old = tmp_path / "reports" / folder.name
    shutil.copytree(folder, old)
    written = json.loads((old / "results.json").read_text())
    (old / "results.json").write_text(json.dumps({k: v for k, v in written.items() if k != "tables"}))
    (legacy,) = collect_runs(old.parent)
    for quality in ("ndcg10", "sts"):
        pd.testing.assert_frame_equal(evidence.storage_rows(legacy, quality).drop(columns="source_storage"),
                                      evidence.storage_rows(run, quality).drop(columns="source_storage"))
    before, after = evidence.index_rows(legacy), evidence.index_rows(run)
    pd.testing.assert_frame_equal(before.drop(columns=["search_ms", "source_index"]),
                                  after.drop(columns=["search_ms", "source_index"]))
    for n in (100, 10_000, 1_000_000):
        assert [f(n) for f in before["search_ms"]] == pytest.approx([f(n) for f in after["search_ms"]], rel=1e-12)


def test_renaming_06s_headings_and_result_labels_changes_nothing_in_07s_evidence(storage_runs, tmp_path):
    from workbench.deploy import evidence
    from workbench.run.report import notebook_to_html

    (original, _), (renamed, executed) = storage_runs["original"], storage_runs["renamed"]
    assert not any(key.startswith(("ndcg10_retention_pct", "sts_retention_pct", "full_dimension"))
                   for key in renamed["results"]), "the result keys 07 once parsed are gone"
    assert renamed["labels"] and all(label.startswith("renamed ") for label in renamed["labels"].values())
    for quality in ("ndcg10", "sts"):
        pd.testing.assert_frame_equal(_fragments(evidence.storage_rows(original, quality), "source_storage"),
                                      _fragments(evidence.storage_rows(renamed, quality), "source_storage"))
    before, after = (_fragments(evidence.index_rows(r), "source_index") for r in (original, renamed))
    pd.testing.assert_frame_equal(before.drop(columns="search_ms"), after.drop(columns="search_ms"))
    assert [f(n) for f in before["search_ms"] for n in (200, 50_000)] == [f(n) for f in after["search_ms"]
                                                                         for n in (200, 50_000)]
    page = notebook_to_html(executed, tmp_path / "report.html").read_text(encoding="utf-8")
    for section in set(after["source_index"]) | set(_fragments(evidence.storage_rows(renamed, "ndcg10"),
                                                               "source_storage")["source_storage"]):
        assert f'id="{section}"' in page, f"07 links to #{section}; the renamed report must still hold it"
    assert 'id="1.-Quality-kept-per-storage-precision"' not in page, "the heading's own anchor did change"


def _run_07(tmp_path, reports, **parameters):
    import papermill

    from workbench.core.paths import NOTEBOOKS_DIR

    out = reports / f"07_deployment-{len(list(reports.glob('07_*')))}"
    papermill.execute_notebook(str(NOTEBOOKS_DIR / "07_deployment.ipynb"), str(tmp_path / f"{out.name}.ipynb"),
                               parameters={"output_dir": str(out), **parameters}, kernel_name="python3",
                               progress_bar=False)
    return json.loads((out / "results.json").read_text())


def test_the_notebook_answers_a_preset_and_a_changed_budget_changes_the_answer(tmp_path):
    reports = tmp_path / "reports"
    _write_runs(reports)
    strict = _run_07(tmp_path, reports, preset="macbook-16gb")
    assert strict["status"] == "complete"
    assert strict["results"]["ship_configuration"].startswith("onnx_fp32 · binary 384-d, rescored ×4 from int8")
    assert strict["results"]["binding_budget"] == "minimum quality kept"
    assert strict["parameters"]["preset_name"] == "16 GB MacBook (seed 001)"
    loose = _run_07(tmp_path, reports, preset="macbook-16gb", min_quality_pct=96.0)
    assert loose["results"]["ship_configuration"].startswith("onnx_int8 · binary 384-d, rescored"), "96 % lets int8 in"
    impossible = _run_07(tmp_path, reports, preset="phone-4gb", ram_gb=0.01)
    assert impossible["results"]["ship_configuration"] == "nothing fits (4 GB phone)"
    assert impossible["results"]["relax_budget_first"] == "RAM"
    from workbench.studies.deployment import ANSWERS

    (picked,), (none,) = ANSWERS.read(strict), ANSWERS.read(impossible)  # typed, as the notebook recorded them
    assert picked.configuration == strict["results"]["ship_configuration"] and picked.feasible >= 1
    assert picked.ram_bytes == pytest.approx(strict["results"]["total_ram_gb"] * 1e9)  # SI bytes in the row
    assert picked.p95_latency_s == pytest.approx(strict["results"]["p95_latency_ms"] / 1e3)
    assert (none.configuration, none.relax_first, none.feasible, none.preset) == (None, "RAM", 0, "4 GB phone")


def test_07_without_the_runs_it_reads_stops_at_once_naming_them_and_the_command(tmp_path):
    import papermill

    reports = tmp_path / "reports"
    reports.mkdir()
    with pytest.raises(papermill.PapermillExecutionError) as raised:
        _run_07(tmp_path, reports)
    message = str(raised.value)
    assert "no complete run of 03_quantization and 06_vector_storage" in message and "workbench run" in message
    assert not list(reports.iterdir())  # stopped before it started a run folder


def test_the_deployment_entry_reruns_exactly_when_a_run_it_reads_changed(tmp_path, capsys):
    from workbench.run.cli import main

    reports = tmp_path / "reports"
    _write_runs(reports)
    suite = tmp_path / "suite.yaml"
    suite.write_text("runs:\n  - name: phone\n    notebook: 07_deployment\n    parameters: {preset: phone-4gb}\n")
    assert main(["run", str(suite), "--reports", str(reports), "--quiet"]) == 0
    assert "phone: running 07_deployment.ipynb" in capsys.readouterr().out
    assert main(["run", str(suite), "--reports", str(reports), "--quiet"]) == 0
    assert "phone: up to date" in (out := capsys.readouterr().out) and "running" not in out  # nothing it reads changed
    (artifacts,) = reports.glob("03_quantization-*/results.json")
    changed = json.loads(artifacts.read_text())
    changed["updated_at"] = "2026-12-01T08:00:00+00:00"  # 03 re-ran
    artifacts.write_text(json.dumps(changed))
    assert main(["run", str(suite), "--reports", str(reports), "--quiet"]) == 0
    assert "phone: running 07_deployment.ipynb" in capsys.readouterr().out
