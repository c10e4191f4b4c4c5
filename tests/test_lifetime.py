"""Children die with their parent: kill -9 of `workbench run` mid-conversion leaves no process of its tree behind,
and the next run resumes."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from workbench.run.suite import load_suite

GRACE_S = 10  # the bound: every process of the tree is gone this long after the runner is killed


def _survivors(processes: list[psutil.Process]) -> list[str]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{process.pid} {' '.join(process.cmdline())[:120]}")
        except psutil.Error:
            pass
    return alive


def _wait_until_gone(processes: list[psutil.Process]) -> list[str]:
    deadline = time.time() + GRACE_S
    while time.time() < deadline and _survivors(processes):
        time.sleep(0.2)
    return _survivors(processes)


def _forkserver_children(root: psutil.Process) -> list[psutil.Process]:
    """Processes forked from a fork server under `root`: the measuring children."""
    found = []
    for process in root.children(recursive=True):
        try:
            parent = process.parent()
            if parent is not None and "multiprocessing.forkserver" in " ".join(parent.cmdline()):
                found.append(process)
        except psutil.Error:
            pass
    return found


def test_a_measuring_child_ends_when_its_caller_is_killed(tmp_path):
    caller = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import time
        from workbench.core.resources import run_in_child
        run_in_child(time.sleep, 600, preload=("json",))
    """)])
    root = psutil.Process(caller.pid)
    deadline = time.time() + 60
    while time.time() < deadline and not _forkserver_children(root):
        time.sleep(0.1)
    children = _forkserver_children(root)
    assert children, "the child never started"
    tree = root.children(recursive=True)
    caller.send_signal(signal.SIGKILL)
    caller.wait(timeout=10)
    assert _wait_until_gone(tree) == [], "outlived their caller"


def test_kill_9_of_the_runner_mid_conversion_leaves_no_process_and_the_next_run_resumes(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text("runs:\n  - name: convert\n    notebook: 03_quantization\n    parameters:\n"
                     "      formats: [onnx]\n      variants: [fp32]\n      max_texts: 4\n      latency_repeats: 1\n"
                     "      batch_sizes: [1]\n")
    reports, scratch = tmp_path / "reports", tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "WORKBENCH_CACHE_DIR": "off"}  # so the conversion really runs
    cmd = [sys.executable, "-m", "workbench", "run", str(suite), "--reports", str(reports), "--quiet"]
    runner = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = psutil.Process(runner.pid)
    deadline = time.time() + 400
    while time.time() < deadline:  # a conversion's scratch folder exists and its child is running
        if list(scratch.glob("workbench-artifacts-*/convert-*")) and _forkserver_children(root):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the conversion child never started")
    tree = root.children(recursive=True)
    assert len(tree) >= 3, [p.cmdline() for p in tree]  # kernel, fork server, measuring child
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=10)
    assert _wait_until_gone(tree) == [], "outlived the killed runner"

    (folder,) = (entry.folder(reports) for entry in load_suite(suite))
    assert json.loads((folder / "results.json").read_text())["status"] == "running"
    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    results = json.loads((folder / "results.json").read_text())
    assert results["status"] == "complete" and Path(folder / "report.html").exists()
