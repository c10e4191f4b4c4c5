import json
import re

import nbformat
import pytest

from workbench.run.claims import Claim
from workbench.run.index_page import build_index
from workbench.run.report import notebook_to_html


def _executed_notebook(path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print('hello')")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), cell]
    nbformat.write(nb, path)
    return path


def test_html_report_is_self_contained_with_code_hidden_by_default(tmp_path):
    html_path = notebook_to_html(_executed_notebook(tmp_path / "run.ipynb"))
    page = html_path.read_text()
    assert re.search(r'<body[^>]*class="wb-hide-code', page)
    assert "wbToggleCode" in page and "Show code" in page
    assert not re.search(r'<script[^>]*src="https?://', page), "report must open offline"
    assert "hello" in page


def test_library_output_goes_to_the_log_and_the_page_keeps_one_folded_box_of_distinct_warnings(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("work()")
    noise = ("Running MIL passes: 100%|##########| 89/89 [00:00<00:00, 912.33 passes/s]\r"
             "/x/embedding.py:230: UserWarning: 2 of 5 texts are longer than max_length=16 tokens\n"
             "  warnings.warn(\n")
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text=noise),
                    nbformat.v4.new_output("stream", name="stdout", text="kept\n"),
                    nbformat.v4.new_output("stream", name="stderr", text=noise + "[IPKernelApp] WARNING | <b>x</b>\n")]
    nb.cells = [cell]
    nbformat.write(nb, tmp_path / "run.ipynb")
    page = notebook_to_html(tmp_path / "run.ipynb").read_text()
    assert "passes/s" not in page and "Running MIL" not in page and "kept" in page
    box = page[page.index('id="wb-warnings"'):]
    assert page.count('id="wb-warnings"') == 1 and "2 distinct warnings" in box
    assert box.count("UserWarning: 2 of 5 texts") == 1 and "&lt;b&gt;x&lt;/b&gt;" in box
    assert (tmp_path / "steps.log").read_text().count("Running MIL passes") == 2


def test_html_of_missing_notebook_is_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the notebook first"):
        notebook_to_html(tmp_path / "missing.ipynb")


def _write_run(folder, notebook, status, results, parameters, headline=(), claims=(), labels=None):
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({
        "notebook": notebook, "status": status, "updated_at": "2026-11-24T10:00:00+00:00", "headline": list(headline),
        "labels": labels or {}, "claims": list(claims),
        "parameters": parameters, "results": results, "environment": {"packages": {"torch": "2.13.0"}}}))


HOLDS = Claim(quote="average cosine ≈ 1.000000 (≥ 0.999999)", source="shared seed 001", quantity="mean cosine",
              value="0.9999997", threshold="≥ 0.999999", threshold_origin="the quote", verdict="holds")
FAILS = Claim(quote="Mean pooling vs CLS pooling have 0.68 cosine similarity.", source="shared seed 002",
              quantity="mean cosine mean vs CLS", value="0.558", threshold="0.58–0.78",
              threshold_origin="MEAN_CLS_TOLERANCE", verdict="fails")


def test_index_is_a_dashboard_of_claims_and_labelled_headlines_with_no_raw_keys(tmp_path):
    labels = {"mean_cosine_fp16": "mean cosine to FP32, fp16", "best_precision": "closest to FP32",
              "latency_p50_ms_fp16": "p50 latency at batch 1, fp16 (ms)"}
    for name, model, cosine in (("01-aaa", "<script>alert(1)</script>", 0.99999873), ("01-ccc", "bge-small", 0.9991)):
        _write_run(tmp_path / name, "01_precision_accuracy", "complete",
                   {"mean_cosine_fp16": cosine, "per_text_files": ["x.csv"], "best_precision": "fp16",
                    "latency_p50_ms_fp16": 12.3456}, {"model": model}, headline=list(labels),
                   claims=[HOLDS.as_dict(), FAILS.as_dict()], labels=labels)
        (tmp_path / name / "report.html").write_text("<html></html>")
    (tmp_path / "01-aaa" / "key-plot.png").write_bytes(b"png")
    _write_run(tmp_path / "01-bbb", "01_precision_accuracy", "running", {}, {"model": "m"})
    page = build_index(tmp_path).read_text()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "2 holds, 2 fails." in page and page.count('href="01-aaa/report.html#claims"') == 2
    assert "MEAN_CLS_TOLERANCE" in page and "0.58–0.78" in page
    assert page.count("<h2>01 · Precision") == 1  # both complete runs in one side-by-side table
    assert "0.9999987" in page and "0.99910" in page and "12.3" in page and "12.3456" not in page
    assert 'src="01-aaa/key-plot.png"' in page
    results = json.loads((tmp_path / "01-aaa" / "results.json").read_text())["results"]
    assert not any(key in page for key in results), "a raw result key is on the page"
    assert "3 run(s)' <code>results.json</code>; 1 not complete." in page
    summary = (tmp_path / "summary.md").read_text()
    assert "| fails | Mean pooling vs CLS pooling have 0.68 cosine similarity. | 0.558 |" in summary
    assert "| mean cosine to FP32, fp16 | 0.9999987 | 0.99910 |" in summary


def test_claims_a_run_cannot_reach_collapse_into_one_line_naming_the_command_that_checks_them(tmp_path):
    unreached = [Claim(quote=f"claim {i}", source="seed 000", quantity="size (GB)", value="", threshold="",
                       threshold_origin="", verdict="not measurable here", detail="not measured, no fit")
                 for i in range(3)]
    _write_run(tmp_path / "05-aaa", "05_scale", "complete", {}, {}, claims=[c.as_dict() for c in unreached])
    _write_run(tmp_path / "06-aaa", "06_vector_storage", "complete", {}, {},
               claims=[HOLDS.as_dict(), {**unreached[0].as_dict(), "quote": "another model's figure"}])
    page = build_index(tmp_path).read_text()
    assert "1 holds." in page, "the tally counts the claims that were checked"
    summary = page[page.index("<details><summary>3 claims of 05 · At the sizes users ship are not measurable"):]
    assert summary.index("<code>workbench run suites/scale.yaml</code> checks them (79 min on 2 cores") < summary.index(
        "</summary>"), "one line: how many, the command and its measured wall time"
    assert "1 claim of 06 · Vector storage: precision, rescoring, exact search or HNSW is not measurable in these runs; " \
           "the rows say why." in page
    checked = page[:page.index("<details>")]
    assert "claim 0" not in checked and "average cosine" in checked, "unreachable rows sit only in the collapsed part"


def test_a_run_labelled_random_weights_says_so_on_the_index(tmp_path):
    from workbench.core.architectures import RANDOM_WEIGHTS
    from workbench.run.results import Run

    run = Run(tmp_path / "05-aaa", "05_scale", {})
    run.record("size_gb_onnx_fp32_qwen3", 2.38, headline="size, onnx_fp32, qwen3 (GB)")
    run.label(RANDOM_WEIGHTS + " <b>")
    run.finish()
    unlabelled = Run(tmp_path / "03-bbb", "03_quantization", {})
    unlabelled.finish()
    page = build_index(tmp_path).read_text()
    assert page.count('class="label"') == 1
    assert f'<em class="label">{RANDOM_WEIGHTS} &lt;b&gt;</em>' in page
    assert "size, onnx_fp32, qwen3 (GB)" in page and "2.38" in page


def test_compare_lists_parameters_first_then_changed_headline_numbers_with_direction(tmp_path, capsys):
    from workbench.run.cli import main

    labels = {"mean_cosine_fp16": "mean cosine to FP32, fp16", "latency_p50_ms_fp16": "p50 latency, fp16 (ms)",
              "best_precision": "closest to FP32"}
    _write_run(tmp_path / "01_precision_accuracy-aaaa1111", "01_precision_accuracy", "complete",
               {"mean_cosine_fp16": 0.9999, "latency_p50_ms_fp16": 10.0, "best_precision": "fp16"},
               {"model": "m", "max_length": 32}, headline=list(labels), labels=labels)
    _write_run(tmp_path / "01_precision_accuracy-bbbb2222", "01_precision_accuracy", "complete",
               {"mean_cosine_fp16": 0.99999, "latency_p50_ms_fp16": 12.5, "best_precision": "fp16"},
               {"model": "m", "max_length": 128}, headline=list(labels), labels=labels)
    assert main(["compare", "aaaa", "bbbb", "--reports", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.index("max_length") < out.index("mean cosine")
    assert re.search(r"mean cosine to FP32, fp16\s+0.999900\s+0.9999900\s+\S+ \(\+0.0 %\)\s+better", out)
    assert re.search(r"p50 latency, fp16 \(ms\)\s+10.0\s+12.5\s+2.50 \(\+25.0 %\)\s+worse", out)
    assert "closest to FP32" not in out  # unchanged
    page = tmp_path / "compare-01_precision_accuracy-aaaa1111-vs-01_precision_accuracy-bbbb2222.html"
    assert 'class="worse"' in page.read_text()
    assert main(["compare", "aaaa", "nope", "--reports", str(tmp_path)]) == 2
    assert "nope: no run folder" in capsys.readouterr().err


def test_runs_of_one_study_on_one_model_are_told_apart_by_what_differs(tmp_path):
    labels = {"mean_cosine_fp16": "mean cosine to FP32, fp16"}
    for name, length in (("01-aaa", 32), ("01-bbb", 64)):
        _write_run(tmp_path / name, "01_precision_accuracy", "complete", {"mean_cosine_fp16": 0.99},
                   {"model": "m", "max_length": length, "output_dir": name}, headline=list(labels), labels=labels)
    page = build_index(tmp_path).read_text()
    assert "m, max_length=32" in page and "m, max_length=64" in page and "output_dir=" not in page


def test_sections_follow_the_catalog_with_its_titles_then_other_notebooks_by_name(tmp_path):
    from workbench.run import catalog

    labels = {"x": "x"}
    for name, notebook in (("a", "99_mine"), ("b", "06_vector_storage"), ("c", "02_pooling")):
        _write_run(tmp_path / name, notebook, "complete", {"x": 1.0}, {}, headline=["x"], labels=labels)
    page = build_index(tmp_path).read_text()
    headings = [page.index(f"<h2>{title}</h2>") for title in
                (catalog.POOLING.title, catalog.STORAGE.title, "99_mine")]
    assert headings == sorted(headings)


def test_claims_written_by_an_earlier_version_still_show_their_verdict(tmp_path):
    _write_run(tmp_path / "01-old", "01_precision_accuracy", "complete", {}, {"model": "m"},
               claims=[{"claim": "FP16 mean cosine >= 0.999999", "holds": False, "measured": "0.99", "source": "s"},
                       {"claim": "open one", "holds": None, "measured": "", "source": "s"}])
    page = build_index(tmp_path).read_text()
    assert "1 fails, 1 inconclusive." in page and "FP16 mean cosine &gt;= 0.999999" in page


def test_a_kept_notebook_cut_short_by_a_kill_is_dropped_so_the_entry_runs_again(tmp_path):
    from workbench.run.report import finalize

    _write_run(tmp_path / "run", "01_precision_accuracy", "complete", {}, {})
    (tmp_path / "run" / "notebook.ipynb").write_text('{\n "cells": [\n  {\n   "cell_type": "c')
    assert finalize(tmp_path / "run") is None
    assert not (tmp_path / "run" / "notebook.ipynb").exists() and not (tmp_path / "run" / "report.html").exists()
    _executed_notebook(tmp_path / "run" / "notebook.ipynb")
    assert finalize(tmp_path / "run") == tmp_path / "run" / "report.html"


def test_the_kernels_own_log_goes_to_steps_log_not_the_terminal(tmp_path, capfd):
    """jupyter_client interrupts a kernel before shutting it down; what the kernel then logs (an ERROR line about a
    KeyboardInterrupt, on a run that succeeded) lands in the run's steps.log, and the terminal stays quiet."""
    from workbench.run.report import execute_notebook

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("get_ipython().kernel.log.error('KeyboardInterrupt caught in kernel.')\n"
                                          "print('cell output')")]
    nbformat.write(nb, tmp_path / "quiet.ipynb")
    html_path, error = execute_notebook(tmp_path / "quiet.ipynb", tmp_path / "out", {}, progress=False)
    assert error is None and "cell output" in html_path.read_text()
    terminal = capfd.readouterr()
    assert "KeyboardInterrupt" not in terminal.err + terminal.out
    assert "ERROR | KeyboardInterrupt caught in kernel." in (tmp_path / "out" / "steps.log").read_text()
