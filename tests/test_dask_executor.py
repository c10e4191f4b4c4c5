"""The Dask executor on a 2-worker LocalCluster started in the test: a 4-cell grid equals the local executor's
results, survives a worker killed mid-cell, and a client killed mid-suite resumes from what came back."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from workbench.run.cli import main
from workbench.run.dask_executor import INCOMING_PREFIX, REPLACED_PREFIX, local_cluster, tidy, unpack
from workbench.run.suite import load_suite

GRID = """runs:
  - name: prec
    notebook: 01_precision_accuracy
    parameters: {max_texts: 4, latency_repeats: 2}
    grid:
      max_length: [16, 24]
      precisions: [[fp16], [bf16]]
"""


def _measured(folder: Path) -> dict:
    """The numbers a run measured that do not depend on timing (latencies vary from run to run)."""
    results = json.loads((folder / "results.json").read_text())["results"]
    return {k: v for k, v in results.items() if not k.startswith("latency")}


def _wait_for(condition, seconds: float, what: str):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture()
def cluster(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "worker-tmp"))  # workers spawn after this: their scratch is here
    (tmp_path / "worker-tmp").mkdir()
    with local_cluster(2, dashboard=None) as cluster:
        yield cluster


def _executing(dask_worker):
    """On a worker: its pid and the cells it is executing now (not those queued on it)."""
    return os.getpid(), [ts.key for ts in dask_worker.state.executing]


def test_a_grid_on_dask_equals_the_local_run_and_survives_a_killed_worker(tmp_path, cluster, capfd):
    from dask.distributed import Client

    suite = tmp_path / "grid.yaml"
    suite.write_text(GRID)
    cells = load_suite(suite)
    assert len(cells) == 4
    on_dask, local = tmp_path / "dask", tmp_path / "local"
    killed = {}

    def kill_a_worker_mid_cell():
        with Client(cluster.scheduler_address) as client:
            _wait_for(lambda: list((tmp_path / "worker-tmp").glob("workbench-cell-*/*/results.json")), 300,
                      "a kernel to write results.json")
            busy = _wait_for(lambda: {w: pid for w, (pid, keys) in client.run(_executing).items() if keys}, 60,
                             "a worker executing a cell")
            worker, pid = next(iter(busy.items()))
            killed["worker"] = worker
            os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_a_worker_mid_cell, daemon=True)
    killer.start()
    rc = main(["run", str(suite), "--reports", str(on_dask), "--quiet", "--executor", "dask", "--scheduler",
               cluster.scheduler_address, "--retries", "2"])
    killer.join(timeout=60)
    err = capfd.readouterr().err
    assert rc == 0, err[-2000:]
    assert killed and "its worker died (attempt 1 of 3); running it again on another worker" in err
    folders = sorted(p.name for p in on_dask.iterdir() if p.is_dir())
    assert folders == sorted(c.folder(on_dask).name for c in cells)  # every cell exactly once, nothing half-written
    for cell in cells:
        assert json.loads((cell.folder(on_dask) / "results.json").read_text())["status"] == "complete"
        assert (cell.folder(on_dask) / "report.html").stat().st_mode & 0o444 == 0o444
    index = (on_dask / "index.html").read_text()
    assert index.count('<tr class="ok">') == 4

    assert main(["run", str(suite), "--reports", str(local), "--quiet", "--jobs", "2"]) == 0
    for cell in cells:
        assert _measured(cell.folder(on_dask)) == _measured(cell.folder(local)), cell.name
        name = f"per_text_{cell.parameters['precisions'][0]}.csv"
        assert (cell.folder(on_dask) / name).read_bytes() == (cell.folder(local) / name).read_bytes()


def test_a_cell_that_needs_more_ram_than_any_worker_offers_fails_with_the_fix(tmp_path, cluster, capsys):
    suite = tmp_path / "big.yaml"
    suite.write_text("runs:\n  - name: big\n    notebook: 01_precision_accuracy\n    parameters: {max_texts: 4}\n"
                     "    ram_gb: 100000\n")
    rc = main(["run", str(suite), "--reports", str(tmp_path / "r"), "--quiet", "--executor", "dask", "--scheduler",
               cluster.scheduler_address])
    err = capsys.readouterr().err
    assert rc == 1
    assert "needs 100000 GB of RAM and the largest worker offers" in err and '--resources "ram_gb=N"' in err


def test_a_killed_client_resumes_from_the_cells_that_came_back(tmp_path):
    suite = tmp_path / "grid.yaml"
    suite.write_text(GRID.replace("precisions: [[fp16], [bf16]]", "precisions: [[fp16]]"))
    reports = tmp_path / "reports"
    first, second = (c.folder(reports) for c in load_suite(suite))
    command = [sys.executable, "-m", "workbench", "run", str(suite), "--reports", str(reports), "--quiet",
               "--executor", "dask", "--jobs", "1"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    done = _wait_for(lambda: [f for f in (first, second) if (f / "report.html").exists()], 400, "a cell to come back")
    os.killpg(proc.pid, signal.SIGKILL)  # the client, its local cluster and the kernel, all at once
    proc.communicate(timeout=60)
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"{load_suite(suite)[[first, second].index(done[0])].name}: up to date" in resumed.stdout
    for folder in (first, second):
        assert json.loads((folder / "results.json").read_text())["status"] == "complete"
    assert not [p for p in reports.iterdir() if p.name.startswith((INCOMING_PREFIX, REPLACED_PREFIX))]


def test_a_returned_folder_replaces_the_old_one_whole_and_a_swap_cut_short_is_undone(tmp_path):
    folder = tmp_path / "01_precision_accuracy-abc"
    folder.mkdir()
    (folder / "results.json").write_text('{"status": "failed: earlier"}')
    unpack({"results.json": b'{"status": "complete"}', "figures/a.png": b"png"}, folder)
    assert json.loads((folder / "results.json").read_text())["status"] == "complete"
    assert (folder / "figures" / "a.png").read_bytes() == b"png" and oct(folder.stat().st_mode)[-3:] == "755"
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]
    with pytest.raises(ValueError, match="outside its run folder"):
        unpack({"../escape.txt": b"x"}, tmp_path / "other")
    # a client killed between moving the old folder aside and renaming the new one in
    folder.rename(tmp_path / f"{REPLACED_PREFIX}{folder.name}-1234abcd")
    (tmp_path / f"{INCOMING_PREFIX}{folder.name}-1234abcd").mkdir()
    tidy(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]
    assert json.loads((folder / "results.json").read_text())["status"] == "complete"


def test_the_index_never_lists_a_folder_still_being_written(tmp_path):
    from workbench.run.index_page import collect_runs

    for name in ("01_precision_accuracy-abc", f"{INCOMING_PREFIX}01_precision_accuracy-def-1234abcd"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text('{"notebook": "01_precision_accuracy", "status": "complete"}')
    assert [run["_folder"].name for run in collect_runs(tmp_path)] == ["01_precision_accuracy-abc"]
