"""Suite runs: config resolution, hashing, skip/force, and a suite killed midway that resumes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench.run.config import ConfigError, RunConfig, resolve_config
from workbench.run.report import partial_notebook
from workbench.run.suite import load_suite
from workbench.core.paths import NOTEBOOKS_DIR

TINY = "      max_texts: 4\n      precisions: [fp16]\n      latency_repeats: 2\n"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_resolution_order_highest_first(tmp_path):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    _write(home / ".config" / "workbench" / "config.yaml", "jobs: 2\nkernel: home-kernel\nreports: home\n")
    _write(cwd / "workbench.yaml", "jobs: 3\nkernel: cwd-kernel\n")
    env_file = _write(tmp_path / "env.yaml", "jobs: 4\n")
    explicit = _write(tmp_path / "explicit.yaml", "jobs: 5\nforce: true\n")
    env = {"WORKBENCH_CONFIG": str(env_file)}
    config, sources = resolve_config({"jobs": 6}, str(explicit), env, cwd, home)
    assert (config.jobs, sources["jobs"]) == (6, "command line")
    assert (config.force, sources["force"]) == (True, f"--config {explicit}")
    assert (config.kernel, sources["kernel"]) == ("cwd-kernel", str(cwd / "workbench.yaml"))
    assert (config.reports, sources["reports"]) == ("home", str(home / ".config" / "workbench" / "config.yaml"))
    assert sources["cache_dir"] == "default"
    config, sources = resolve_config({}, None, env, cwd, home)
    assert (config.jobs, sources["jobs"]) == (4, "$WORKBENCH_CONFIG (" + str(env_file) + ")")
    config, _ = resolve_config({}, None, {}, cwd, home)
    assert config.jobs == 3


def test_the_cache_variable_is_honoured_between_config_files_and_the_command_line(tmp_path):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    _write(cwd / "workbench.yaml", "cache_dir: from-file\n")
    config, sources = resolve_config({}, None, {"WORKBENCH_CACHE_DIR": "off"}, cwd, home)
    assert (config.cache_dir, sources["cache_dir"]) == ("off", "$WORKBENCH_CACHE_DIR")
    explicit = _write(tmp_path / "explicit.yaml", "cache_dir: explicit\n")
    config, _ = resolve_config({}, str(explicit), {"WORKBENCH_CACHE_DIR": "off"}, cwd, home)
    assert config.cache_dir == "explicit"
    config, _ = resolve_config({"cache_dir": "cli"}, None, {"WORKBENCH_CACHE_DIR": "off"}, cwd, home)
    assert config.cache_dir == "cli"
    config, sources = resolve_config({}, None, {}, cwd, home)
    assert config.cache_dir == "from-file"


def test_config_errors_are_explained(tmp_path):
    bad_key = _write(tmp_path / "a.yaml", "job: 2\n")
    with pytest.raises(ConfigError, match="unknown key 'job'; did you mean 'jobs'"):
        resolve_config({}, str(bad_key), {}, tmp_path, tmp_path)
    bad_type = _write(tmp_path / "b.yaml", "jobs: two\n")
    with pytest.raises(ConfigError, match="jobs: expected int, got str 'two'"):
        resolve_config({}, str(bad_type), {}, tmp_path, tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config({}, str(tmp_path / "missing.yaml"), {}, tmp_path, tmp_path)
    with pytest.raises(ConfigError, match="jobs must be >= 1"):
        RunConfig(jobs=0)


def test_suite_errors_suggest_fixes(tmp_path):
    suite = _write(tmp_path / "s.yaml", "runs:\n  - name: a\n    notebok: 01_precision_accuracy\n")
    with pytest.raises(ValueError, match="unknown key 'notebok'; did you mean 'notebook'"):
        load_suite(suite)


def test_hash_is_stable_and_changes_with_any_parameter(tmp_path):
    suite = _write(tmp_path / "s.yaml", "runs:\n  - name: a\n    notebook: 01_precision_accuracy\n    parameters:\n"
                   "      max_texts: 4\n      precisions: [fp16]\n  - name: b\n    notebook: 01_precision_accuracy\n"
                   "    parameters:\n      precisions: [fp16]\n      max_texts: 4\n  - name: c\n"
                   "    notebook: 01_precision_accuracy\n    parameters:\n      max_texts: 5\n      precisions: [fp16]\n")
    a, b, c = load_suite(suite)
    assert a.run_hash() == b.run_hash() == load_suite(suite)[0].run_hash()  # key order does not matter
    assert a.run_hash() != c.run_hash() and len(a.run_hash()) == 16


def _cmd(suite, reports, *extra):
    return [sys.executable, "-m", "workbench", "run", str(suite), "--reports", str(reports), "--quiet", *extra]


def test_killed_suite_keeps_finished_runs_and_resumes(tmp_path):
    suite = _write(tmp_path / "suite.yaml", "runs:\n"
                   f"  - name: first\n    notebook: 01_precision_accuracy\n    parameters:\n{TINY}"
                   f"  - name: second\n    notebook: 01_precision_accuracy\n    parameters:\n{TINY}"
                   "      max_length: 24\n")
    reports = tmp_path / "reports"
    first, second = (entry.folder(reports) for entry in load_suite(suite))
    proc = subprocess.Popen(_cmd(suite, reports), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 400
    while time.time() < deadline and not (second / "results.json").exists():
        time.sleep(0.5)
    assert (second / "results.json").exists(), "the second run never started"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "interrupted" in err
    assert json.loads((first / "results.json").read_text())["status"] == "complete"
    assert (first / "report.html").exists()
    assert json.loads((second / "results.json").read_text())["status"] == "running"
    assert not list(reports.rglob(".*.partial.ipynb")) and not list(reports.rglob("*.tmp")), "half-written files left"
    resumed = subprocess.run(_cmd(suite, reports), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "first: up to date" in resumed.stdout
    assert json.loads((second / "results.json").read_text())["status"] == "complete"
    forced = subprocess.run(_cmd(suite, reports, "--force", "--only", "first", "--jobs", "2"), capture_output=True,
                            text=True, timeout=600)
    assert forced.returncode == 0 and "[1/1] first: report" in forced.stdout


def test_failing_notebook_does_not_stop_the_suite(tmp_path):
    suite = _write(tmp_path / "suite.yaml", "runs:\n"
                   "  - name: broken\n    notebook: 01_precision_accuracy\n    parameters:\n      model: no-such-model\n"
                   f"  - name: fine\n    notebook: 01_precision_accuracy\n    parameters:\n{TINY}")
    reports = tmp_path / "reports"
    out = subprocess.run(_cmd(suite, reports, "--jobs", "2"), capture_output=True, text=True, timeout=600)
    assert out.returncode == 1
    assert "1 of 2 run(s) failed: broken" in out.stderr
    broken, fine = (entry.folder(reports) for entry in load_suite(suite))
    assert "Unknown model" in (broken / "report.html").read_text()
    assert json.loads((broken / "results.json").read_text())["status"].startswith("failed: UnknownModelError")
    assert json.loads((fine / "results.json").read_text())["status"] == "complete"
    index = (reports / "index.html").read_text()
    assert index.count('<tr class="failed">') == 1 and index.count('<tr class="ok">') == 1


def test_print_config_shows_sources(tmp_path):
    out = subprocess.run([sys.executable, "-m", "workbench", "run", "--print-config", "--jobs", "3"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0
    assert any(line.startswith("jobs") and "(command line)" in line for line in out.stdout.splitlines())
    assert any(line.startswith("kernel") and "(default)" in line for line in out.stdout.splitlines())


def test_a_misspelt_suite_parameter_is_refused_with_the_close_name(tmp_path):
    suite = _write(tmp_path / "s.yaml", "runs:\n  - name: a\n    notebook: 03_quantization\n    parameters:\n"
                                        "      poolng: cls\n")
    with pytest.raises(ValueError, match=r"parameter 'poolng' is not one of 03_quantization's \(did you mean 'pooling'\?\)\. Its"):
        load_suite(suite)


@pytest.mark.parametrize("suite", sorted((Path(__file__).parent.parent / "suites").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_every_shipped_suite_loads(suite):
    assert load_suite(suite)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_a_runner_stopped_the_moment_results_turn_complete_still_gives_the_report(tmp_path, how):
    suite = _write(tmp_path / "suite.yaml", "runs:\n"
                   f"  - name: only\n    notebook: 01_precision_accuracy\n    parameters:\n{TINY}")
    reports = tmp_path / "reports"
    (folder,) = (entry.folder(reports) for entry in load_suite(suite))
    proc = subprocess.Popen(_cmd(suite, reports), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 400
    while time.time() < deadline:
        try:
            if json.loads((folder / "results.json").read_text())["status"] == "complete":
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    os.killpg(proc.pid, how)  # the runner and its kernel, before the report is written
    proc.communicate(timeout=60)
    assert json.loads((folder / "results.json").read_text())["status"] == "complete"
    resumed = subprocess.run(_cmd(suite, reports), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (folder / "report.html").exists() and (folder / "notebook.ipynb").exists()
    assert "up to date" in resumed.stdout or "[1/1] only: report" in resumed.stdout
    assert not list(reports.rglob(".*.partial.ipynb"))


def test_a_finished_run_without_its_report_is_rendered_not_rerun(tmp_path):
    import nbformat

    suite = _write(tmp_path / "suite.yaml", "runs:\n"
                   f"  - name: only\n    notebook: 01_precision_accuracy\n    parameters:\n{TINY}")
    reports = tmp_path / "reports"
    (folder,) = (entry.folder(reports) for entry in load_suite(suite))
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"notebook": "01", "status": "complete", "results": {}}))
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# finished")]),
                   partial_notebook(folder))
    out = subprocess.run(_cmd(suite, reports), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "report rendered from the finished run" in out.stdout and "up to date" in out.stdout
    assert "finished" in (folder / "report.html").read_text()


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS_DIR.glob("*.ipynb")), ids=lambda p: p.stem)
def test_the_parameters_cell_is_read_as_papermill_reads_it(notebook):
    """The suite reads parameter names and defaults without importing papermill; they must be papermill's."""
    import ast

    import papermill

    from workbench.run.suite import notebook_defaults, notebook_parameters

    inspected = papermill.inspect_notebook(str(notebook))
    assert notebook_parameters(notebook) == list(inspected)
    literal = {}
    for name, info in inspected.items():
        try:
            literal[name] = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            continue
    assert notebook_defaults(notebook) == literal and literal


def test_a_parameters_cell_that_is_not_python_is_named(tmp_path):
    from workbench.run.suite import notebook_parameters

    bad = tmp_path / "bad.ipynb"
    bad.write_text(json.dumps({"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]},
                                          "source": ["x: int = (\n"]}]}))
    with pytest.raises(ValueError, match=r"bad.ipynb: its parameters cell is not valid Python \("):
        notebook_parameters(bad)
