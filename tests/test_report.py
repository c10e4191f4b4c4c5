import json
import re

import nbformat
import pytest

from workbench.run.report import build_index, notebook_to_html


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


def test_html_of_missing_notebook_is_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the notebook first"):
        notebook_to_html(tmp_path / "missing.ipynb")


def _write_run(folder, notebook, status, results, parameters, headline=(), claims=()):
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({
        "notebook": notebook, "status": status, "updated_at": "2026-11-24T10:00:00+00:00", "headline": list(headline),
        "claims": list(claims),
        "parameters": parameters, "results": results, "environment": {"packages": {"torch": "2.13.0"}}}))


def test_index_is_built_from_results_files_and_escapes_text(tmp_path):
    _write_run(tmp_path / "01-aaa", "01_precision_accuracy", "complete",
               {"mean_cosine_fp16": 0.9999997, "per_text_files": ["x.csv"], "best_precision": "fp16"},
               {"model": "<script>alert(1)</script>"}, headline=["mean_cosine_fp16"],
               claims=[{"claim": "FP16 mean cosine >= 0.999999", "holds": True, "measured": "0.9999997", "source": "s"},
                       {"claim": "mean vs CLS ~ 0.68", "holds": False, "measured": "0.558", "source": "seed 002"}])
    (tmp_path / "01-aaa" / "report.html").write_text("<html></html>")
    _write_run(tmp_path / "01-bbb", "01_precision_accuracy", "running", {}, {"model": "m"})
    page = build_index(tmp_path).read_text()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert 'href="01-aaa/report.html"' in page
    assert "0.9999997" in page and "per_text_files" not in page
    assert "2 run(s); 1 not complete." in page
    assert '<tr class="failed">' in page
    assert "best_precision = <b>fp16</b>" in page
    assert "1 held, 1 did not." in page and "mean vs CLS ~ 0.68 &mdash; measured 0.558" in page


def test_a_run_labelled_random_weights_says_so_on_the_index(tmp_path):
    from workbench.core.architectures import RANDOM_WEIGHTS
    from workbench.run.results import Run

    run = Run(tmp_path / "05-aaa", "05_scale", {})
    run.record("size_gb_onnx_fp32_qwen3", 2.38, headline=True)
    run.label(RANDOM_WEIGHTS + " <b>")
    run.finish()
    unlabelled = Run(tmp_path / "03-bbb", "03_quantization", {})
    unlabelled.finish()
    page = build_index(tmp_path).read_text()
    assert page.count('class="label"') == 1
    assert f'<em class="label">{RANDOM_WEIGHTS} &lt;b&gt;</em>' in page
