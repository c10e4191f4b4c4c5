"""Bad input and hostile text: converted or refused up front, never run as script, never silently wrong."""

import html
import json

import papermill
import pytest

from workbench.core.params import as_bool, as_number, coerce
from workbench.core.paths import NOTEBOOKS_DIR
from workbench.run.report import notebook_to_html

SCRIPT = "<script>alert('x')</script>"
TINY = dict(max_texts=6, precisions=["fp16"], latency_repeats=2, sts_path="skip")


def _run(tmp_path, notebook, **parameters):
    out = tmp_path / "out"
    papermill.execute_notebook(str(NOTEBOOKS_DIR / f"{notebook}.ipynb"), str(tmp_path / "run.ipynb"),
                               parameters={**parameters, "output_dir": str(out)}, kernel_name="python3",
                               progress_bar=False)
    return json.loads((out / "results.json").read_text())


@pytest.mark.parametrize("text, value", [("false", False), ("False", False), ("0", False), ("no", False),
                                         ("true", True), ("yes", True), (True, True)])
def test_papermill_strings_become_booleans(text, value):
    assert as_bool(text, "normalize") is value


def test_values_that_are_not_of_the_declared_type_are_refused():
    with pytest.raises(TypeError, match="normalize must be true or false; got str 'maybe'"):
        as_bool("maybe", "normalize")
    with pytest.raises(TypeError, match="batch_size must be an integer; got '3.5'"):
        as_number("3.5", "batch_size", int)
    with pytest.raises(TypeError, match="batch_size must be an integer; got bool True"):
        as_number(True, "batch_size", int)
    assert as_number("16", "max_texts", int) == 16 and as_number(9, "slow_above_b", float) == 9.0
    assert coerce('["fp16", "bf16"]', "precisions", list) == ["fp16", "bf16"]
    with pytest.raises(TypeError, match="pooling must be a string; got int 5"):
        coerce(5, "pooling", str)


def test_a_string_false_switches_normalisation_off(tmp_path):
    data = _run(tmp_path, "01_precision_accuracy", normalize="false", clamp_fp16="0", max_texts="6",
                precisions='["fp16"]', latency_repeats=2, sts_path="skip")
    assert data["parameters"]["normalize"] is False and data["parameters"]["clamp_fp16"] is False
    assert data["parameters"]["max_texts"] == 6


def test_a_parameter_the_notebook_does_not_declare_is_refused_before_any_work(tmp_path):
    with pytest.raises(papermill.PapermillExecutionError, match="parameter 'poolng' is not one this notebook "
                                                                 r"declares \(did you mean 'pooling'\?\)"):
        _run(tmp_path, "01_precision_accuracy", poolng="cls", **TINY)
    assert not (tmp_path / "out" / "results.json").exists()  # refused before the run started


@pytest.mark.parametrize("notebook", ["01_precision_accuracy", "02_pooling"])
def test_dataset_text_never_runs_as_script_in_a_report(tmp_path, notebook):
    queries = tmp_path / "queries.txt"
    queries.write_text("\n".join([SCRIPT, f"<img src=x onerror=alert(1)> {SCRIPT}", "a plain query",
                                  "boiler service", "dentist on Thursday", "flight to Lisbon"]))
    extra = TINY if notebook.startswith("01") else dict(max_texts=6, sts_path="skip", strategies=["mean", "cls"],
                                                         last_n_values=[1])
    _run(tmp_path, notebook, queries_path=str(queries), **extra)
    page = notebook_to_html(tmp_path / "run.ipynb").read_text()
    assert SCRIPT not in page and "<img src=x" not in page
    if notebook.startswith("01"):
        assert "&lt;script&gt;alert(" in page  # the text is shown, as text


def _cli(*args):
    from workbench.run.cli import main

    return main(list(args))


def test_cli_inputs_that_are_wrong_get_one_message_and_leave_nothing_behind(tmp_path, capsys):
    suite = tmp_path / "suite.yaml"
    suite.write_text("runs:\n  - name: a\n    notebook: 02_pooling\n")
    reports = tmp_path / "reports"
    assert _cli("run", str(suite), "--reports", str(reports), "--kernel", "no-such-kernel") == 2
    assert "kernel 'no-such-kernel' is not installed; installed kernels:" in capsys.readouterr().err
    assert not reports.exists()  # no empty run folders
    (tmp_path / "file").write_text("x")
    assert _cli("run", str(suite), "--reports", str(tmp_path / "file")) == 2
    assert "is a file; pass a folder with --reports" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("runs:\n  - name: [unclosed\n")
    assert _cli("run", str(bad), "--reports", str(reports)) == 2
    err = capsys.readouterr().err
    assert f"{bad}: not valid YAML" in err and "<unicode string>" not in err
    assert _cli("run", str(tmp_path), "--reports", str(reports)) == 2
    assert "is a folder; pass a suite YAML file" in capsys.readouterr().err
    assert _cli("report", "--reports", str(tmp_path / "missing")) == 2
    assert "no such folder" in capsys.readouterr().err and not (tmp_path / "missing").exists()
    assert _cli("report", "--reports", str(tmp_path / "file")) == 2
    assert "--reports" in (err := capsys.readouterr().err) and "is a file; pass the folder that holds the runs" in err


def test_files_in_another_encoding_are_named_with_their_line_and_the_fix(tmp_path, capsys):
    suite = tmp_path / "suite.yaml"
    suite.write_bytes(b"runs:\n  - name: caf\xe9\n    notebook: 02_pooling\n")
    assert _cli("run", str(suite), "--reports", str(tmp_path / "r"), "--dry-run") == 2
    assert f"{suite}:2: not UTF-8 text (byte 0xe9); save the file as UTF-8" in capsys.readouterr().err
    notebook = tmp_path / "run.ipynb"
    notebook.write_bytes(b'{"cells": [], "metadata": {"title": "\xc8"}}')
    assert _cli("html", str(notebook)) == 2
    assert f"{notebook}:1: not UTF-8 text (byte 0xc8)" in capsys.readouterr().err
    notebook.write_text("not json")
    assert _cli("html", str(notebook)) == 2
    assert f"{notebook}: not a Jupyter notebook" in capsys.readouterr().err
    assert not (tmp_path / "run.html").exists()


def test_an_index_that_cannot_be_written_is_one_line(tmp_path, capsys, monkeypatch):
    import errno

    from workbench.run import index_page

    def read_only(reports, runs=None):
        raise OSError(errno.EROFS, "Read-only file system", str(reports / "index.html"))

    monkeypatch.setattr(index_page, "build_index", read_only)
    (tmp_path / "reports").mkdir()
    assert _cli("report", "--reports", str(tmp_path / "reports")) == 2
    err = capsys.readouterr().err
    assert "could not write" in err and "Read-only file system" in err and "Traceback" not in err


@pytest.mark.parametrize("content, reason", [
    ("[]", "expected a JSON object, found list"), ("null", "expected a JSON object, found NoneType"),
    ('{"status": "complete", "results": null, "claims": null}', "'results' is null, not an object"),
    ('{"status": "complete", "results": {}, "claims": [{"holds": false}]}', "claim 1 has neither a quote nor a claim"),
    ('{"status": "complete", "results": {}, "parameters": ["model"]}', "'parameters' is list, not an object"),
    (None, "a folder, not a file"),  # results.json replaced by a folder
])
def test_a_results_file_of_the_wrong_shape_is_named_not_a_traceback(tmp_path, content, reason, capsys):
    run = tmp_path / "reports" / "01-x"
    run.mkdir(parents=True)
    if content is None:
        (run / "results.json").mkdir()
    else:
        (run / "results.json").write_text(content)
    assert _cli("report", "--reports", str(tmp_path / "reports")) == 0
    page = (tmp_path / "reports" / "index.html").read_text()
    assert "01-x" in page and "unreadable results.json" in page and html.escape(reason) in page
    assert "results.json/results.json" not in page  # the path named once
    assert "1 fails" not in page  # a malformed claim is no verdict
    assert "1 run(s) with an unreadable results.json" in capsys.readouterr().err


@pytest.mark.parametrize("name, value, message", [
    ("max_texts", -1, "max_texts must be >= 0; got -1"),
    ("latency_repeats", 0, "latency_repeats must be >= 1; got 0"),
    ("batch_size", 0, "batch_size must be >= 1; got 0"),
])
def test_counts_out_of_range_stop_the_notebook_before_any_work(tmp_path, name, value, message):
    with pytest.raises(papermill.PapermillExecutionError, match=message):
        _run(tmp_path, "01_precision_accuracy", **{**TINY, name: value})
    assert not (tmp_path / "out" / "results.json").exists()


def test_list_items_are_checked_too():
    from workbench.run.notebook import checked_parameters

    namespace = {"__annotations__": {"batch_sizes": list}, "batch_sizes": "[1, 0]"}
    with pytest.raises(ValueError, match=r"batch_sizes must be >= 1 \(each item\); got \[1, 0\]"):
        checked_parameters(namespace)
    namespace["batch_sizes"] = "[1, 32]"
    assert checked_parameters(namespace) == {"batch_sizes": [1, 32]} and namespace["batch_sizes"] == [1, 32]


def test_pooling_with_every_labelled_set_skipped_still_completes(tmp_path):
    data = _run(tmp_path, "02_pooling", sts_path="skip", beir_path="skip", max_texts=6, strategies=["mean", "cls"],
                last_n_values=[1])
    assert data["status"] == "complete"
    page = notebook_to_html(tmp_path / "run.ipynb").read_text()
    assert "No quality figure: every labelled set was skipped" in page


def test_two_entries_with_identical_parameters_run_once(tmp_path, capsys, monkeypatch):
    from workbench.run import cli

    suite = tmp_path / "suite.yaml"
    suite.write_text("runs:\n  - name: a\n    notebook: 02_pooling\n  - name: b\n    notebook: 02_pooling\n")
    started = []
    monkeypatch.setattr("workbench.run.report.execute_notebook",
                        lambda notebook, folder, *a, **k: started.append(folder) or (None, "stubbed"))
    assert cli.main(["run", str(suite), "--reports", str(tmp_path / "r"), "--jobs", "2", "--quiet"]) == 1
    assert len(started) == 1
    assert "b: same notebook and parameters as a; runs once in" in capsys.readouterr().out
