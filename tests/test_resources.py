import numpy as np
import pytest

from workbench.core import resources

MIB = 2**20


def allocate_mib(n: int) -> int:
    """Touch n MiB so every page is resident."""
    block = np.ones(n * MIB, dtype=np.uint8)
    return int(block.sum() // MIB)


def crash():
    import os

    os._exit(9)


@pytest.mark.parametrize("preload", [(), ("numpy",)], ids=["spawned", "forked-from-server"])
def test_peak_rss_of_a_child_that_allocates_a_known_amount(preload):
    held_by_parent = np.ones(200 * MIB, dtype=np.uint8)  # a child must not start with the parent's memory
    small = resources.run_in_child(allocate_mib, 10, preload=preload)
    large = resources.run_in_child(allocate_mib, 300, preload=preload)
    assert small.baseline_rss_bytes < held_by_parent.nbytes
    assert large.value == 300
    # the block dominates the step's peak (5 % slack: allocator pages released between baseline and peak)
    assert 300 * MIB * 0.95 <= large.step_rss_bytes <= 300 * MIB * 1.25
    assert small.step_rss_bytes < 60 * MIB  # a 10 MiB step is measured as small, not as the interpreter
    assert large.peak_rss_bytes >= large.baseline_rss_bytes + 300 * MIB * 0.95
    assert large.seconds > 0


def test_a_child_that_dies_is_reported_not_hung():
    with pytest.raises(resources.ChildProcessFailed, match="died in its child process"):
        resources.run_in_child(crash)


def allocate_slowly_mib(n: int) -> int:
    """Touch n MiB over about 2 s, then hold it: the watchdog must see it grow."""
    import time

    blocks = []
    for _ in range(20):
        blocks.append(np.ones(n * MIB // 20, dtype=np.uint8))
        time.sleep(0.1)
    time.sleep(5)
    return len(blocks)


def sleep_s(seconds: float) -> float:
    import time

    time.sleep(seconds)
    return seconds


def test_a_child_past_its_memory_limit_is_killed_and_reports_the_peak_it_reached():
    with pytest.raises(resources.ChildProcessFailed, match=r"killed at 0\.\d GB: past the memory limit of 0\.2 GB") as caught:
        resources.run_in_child(allocate_slowly_mib, 600, memory_limit_bytes=200 * 10**6)
    assert 200 * 10**6 < caught.value.peak_rss_bytes < 600 * MIB  # killed on the way up, not after


def test_a_child_past_its_time_limit_is_stopped():
    with pytest.raises(resources.ChildProcessFailed, match="past the time limit") as caught:
        resources.run_in_child(sleep_s, 30, timeout_s=1)
    assert 1 <= caught.value.seconds < 10


def test_the_watchdog_sees_the_peak_of_a_step_that_stays_within_its_limits():
    run = resources.run_in_child(allocate_slowly_mib, 300, memory_limit_bytes=2 * 10**9, timeout_s=60)
    assert run.value == 20
    assert run.peak_rss_bytes >= 300 * MIB * 0.95


def test_dir_size_counts_every_file(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 100)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"y" * 23)
    assert resources.dir_size_bytes(tmp_path) == 123
    assert resources.dir_size_bytes(tmp_path / "a") == 100
    with pytest.raises(FileNotFoundError):
        resources.dir_size_bytes(tmp_path / "missing")


def test_latency_summary_per_item():
    summary = resources.latency_summary([10.0, 20.0, 30.0], per=10)
    assert summary["p50_ms"] == pytest.approx(2.0) and summary["n"] == 3


def print_both(text: str) -> str:
    import os
    import sys

    print(text)
    os.write(2, f"{text} from C\n".encode())  # as a C library writes: straight to file descriptor 2
    sys.stderr.flush()
    return text


def test_a_childs_output_goes_to_the_step_log_when_one_is_set(tmp_path, monkeypatch, capfd):
    log = tmp_path / "steps.log"
    monkeypatch.setenv(resources.STEP_LOG_ENV, str(log))
    assert resources.run_in_child(print_both, "converter chatter").value == "converter chatter"
    out, err = capfd.readouterr()
    assert "chatter" not in out + err
    assert sorted(log.read_text().splitlines()) == ["converter chatter", "converter chatter from C"]
    assert oct(log.stat().st_mode & 0o777) == "0o644"




def test_the_fork_servers_own_output_goes_to_the_step_log(tmp_path, monkeypatch, capfd):
    """Preloaded libraries print on import (coremltools: "Failed to load ..."); that must not reach a report."""
    import multiprocessing.forkserver as forkserver_module

    log = tmp_path / "steps.log"
    monkeypatch.setenv(resources.STEP_LOG_ENV, str(log))
    started = []
    monkeypatch.setattr(forkserver_module, "ensure_running", lambda: started.append(
        __import__("os").write(2, b"Failed to load _MLModelProxy\n")))
    resources._start_forkserver(str(log))
    out, err = capfd.readouterr()
    assert started and "Failed to load" not in out + err
    assert "Failed to load _MLModelProxy" in log.read_text()
