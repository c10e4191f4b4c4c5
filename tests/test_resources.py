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
