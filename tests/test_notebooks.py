"""Notebooks run end to end under papermill with tiny parameters, and are committed clean."""

import json
import subprocess
import sys

import nbformat
import papermill
import pytest

from workbench.core.paths import NOTEBOOKS_DIR
from workbench.core import provenance
from workbench.studies import precision

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
TINY = dict(max_texts=6, precisions=["fp16"], latency_repeats=2)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_clean_and_starts_with_annotated_parameters(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "commit notebooks without outputs"
    assert nb.cells[0] is code[0] and "parameters" in code[0].metadata.get("tags", []), "start with parameters"
    assignments = [line for line in code[0].source.splitlines() if line.strip()]
    inspected = papermill.inspect_notebook(str(path))
    assert len(inspected) == len(assignments), "papermill could not parse every parameter line"
    for name, info in inspected.items():
        assert info["inferred_type_name"] != "None", f"{name} has no type annotation"
        assert info["help"], f"{name} has no comment"
    assert not any(line.lstrip().startswith("def ") for c in code for line in c.source.splitlines())


def _start_of_run(path, tmp_path, monkeypatch) -> tuple[set, dict]:
    """Execute a notebook's parameters cell and the cell that starts its run, as written, in this process: the
    names the parameters cell declares and the parameters its results.json records."""
    from workbench.core.resources import STEP_LOG_ENV
    from workbench.deploy import evidence
    from workbench.run import notebook, results

    monkeypatch.setattr(notebook, "setup", lambda: None)  # keep this process's pandas and matplotlib settings
    monkeypatch.setattr(evidence, "latest_runs", lambda *args: {})  # 07 checks its evidence first; not tested here
    monkeypatch.delenv(STEP_LOG_ENV, raising=False)  # start_run points it at the run's log; restored afterwards
    monkeypatch.setattr(results, "_current", None)
    code = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    namespace = {}
    exec(code[0], namespace)
    namespace["output_dir"] = str(tmp_path / "out")
    exec(next(source for source in code if "results.start_run(" in source), namespace)
    recorded = json.loads((tmp_path / "out" / "results.json").read_text())
    assert recorded["notebook"] == path.stem
    return set(namespace["__annotations__"]), recorded["parameters"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_name_of_the_parameters_cell_is_recorded(path, tmp_path, monkeypatch):
    """The "every parameter" table shows what results.json records: it must leave no declared name out
    (output_dir aside: where the run writes, not what it measured)."""
    declared, recorded = _start_of_run(path, tmp_path, monkeypatch)
    assert declared - {"output_dir"} - set(recorded) == set(), "declared in the parameters cell, not recorded"
    assert "output_dir" not in recorded


def test_deployment_records_the_budgets_it_uses_and_the_preset_name(tmp_path, monkeypatch):
    """Budgets left at 0 take the preset's, and the run records the values it applied, not the zeros."""
    _, recorded = _start_of_run(NOTEBOOKS_DIR / "07_deployment.ipynb", tmp_path, monkeypatch)
    assert recorded["preset_name"] == "16 GB MacBook (seed 001)"
    assert (recorded["disk_gb"], recorded["ram_gb"], recorded["items"]) == (20, 6, 300000)
    assert recorded["reports_dir"] == "" and recorded["runs"] == []


def _run(tmp_path, **parameters):
    out = tmp_path / "out"
    papermill.execute_notebook(str(NOTEBOOKS_DIR / "01_precision_accuracy.ipynb"), str(tmp_path / "run.ipynb"),
                               parameters={**TINY, **parameters, "output_dir": str(out)}, kernel_name="python3",
                               progress_bar=False)
    return json.loads((out / "results.json").read_text()), out


def test_precision_notebook_on_the_packaged_model(tmp_path):
    data, out = _run(tmp_path)
    assert data["status"] == "complete"
    r = data["results"]
    for key in ("mean_cosine_fp16", "min_cosine_fp16", "mean_l2_fp16", "bound_holds_fraction_fp16",
                "top1_agreement_fp16", "latency_p50_ms_fp16", "sts_spearman_fp32", "sts_spearman_fp16",
                "ndcg10_fp32", "ndcg10_fp16"):
        assert key in r and r[key] is not None, key
    assert 0.9999 < r["mean_cosine_fp16"] <= 1.0
    assert r["min_cosine_fp16"] <= r["mean_cosine_fp16"]
    assert r["bound_holds_fraction_fp16"] == 1.0
    assert "mean_cosine_fp16" in data["headline"] and "latency_p50_ms_fp16_batch32" not in data["headline"]
    reference, fp16 = precision.PRECISIONS.read(data)  # typed, as the notebook recorded them
    assert (reference.precision, reference.mean_cosine, reference.sts_spearman) == ("fp32", None, r["sts_spearman_fp32"])
    assert (fp16.mean_cosine, fp16.top1_agreement) == (r["mean_cosine_fp16"], r["top1_agreement_fp16"])
    assert fp16.texts == len((out / "per_text_fp16.csv").read_text().splitlines()) - 1  # one line per text, a header
    single, batched = fp16.latency
    assert (single.batch, batched.batch) == (1, 32) and single.p50_s == pytest.approx(r["latency_p50_ms_fp16"] / 1e3)
    (weights,) = provenance.WEIGHTS.read(data)  # the packaged model's file, hashed where it lies
    assert [f.name for f in weights.files] == ["model.safetensors"] and len(weights.files[0].sha256) == 64
    assert (out / "per_text_fp16.csv").exists()
    from workbench.run.report import notebook_to_html

    page = notebook_to_html(tmp_path / "run.ipynb").read_text()
    assert "Verdict" in page and "seed" in page


def test_precision_notebook_on_a_decoder_with_papermill_string_lists(tmp_path, tiny_qwen3_dir):
    data, _ = _run(tmp_path, model=str(tiny_qwen3_dir), precisions='["fp16","bf16"]', pooling="last_token",
                   last_n_layers=2, padding="longest", sts_path="skip")
    r = data["results"]
    assert "mean_cosine_bf16" in r and "sts_spearman_fp32" not in r and "ndcg10_bf16" in r


def test_bad_parameter_fails_with_the_message(tmp_path):
    with pytest.raises(papermill.PapermillExecutionError, match="precision 'int4' is not supported"):
        _run(tmp_path, precisions=["int4"])


def test_cli_runs_a_suite_then_skips_it_and_builds_the_index(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text("runs:\n  - name: tiny\n    notebook: 01_precision_accuracy\n    parameters:\n"
                     "      max_texts: 4\n      precisions: [fp16]\n      latency_repeats: 2\n")
    reports = tmp_path / "reports"
    cmd = [sys.executable, "-m", "workbench", "run", str(suite), "--reports", str(reports), "--quiet"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    folders = [p for p in reports.iterdir() if p.is_dir()]
    assert len(folders) == 1 and len(folders[0].name.split("-")[-1]) == 16
    assert {"report.html", "results.json", "notebook.ipynb"} <= {p.name for p in folders[0].iterdir()}
    assert (reports / "index.html").exists()
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert "up to date" in second.stdout


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["report", "--help"], ["html", "--help"]])
def test_cli_help(args):
    out = subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "usage: workbench" in out.stdout


def test_cli_bad_suite_is_one_message(tmp_path):
    suite = tmp_path / "bad.yaml"
    suite.write_text("runs:\n  - name: x\n    notebook: 99_missing\n")
    out = subprocess.run([sys.executable, "-m", "workbench", "run", str(suite)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    assert "notebook '99_missing' not found; known: 01_precision_accuracy" in out.stderr
    assert "Traceback" not in out.stderr
