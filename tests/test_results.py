import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from workbench.core import files
from workbench.run import results


def test_record_writes_results_json_after_every_number(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_STEP_LOG", "")  # restored afterwards: later tests' children keep their output
    run = results.start_run(tmp_path / "out", "nb", {"model": "m", "precisions": ["fp16"]})
    assert run.dir / "steps.log" == Path(os.environ["WORKBENCH_STEP_LOG"])
    results.record("mean_cosine_fp16", np.float32(0.5), headline="mean cosine to FP32, fp16")
    on_disk = json.loads((tmp_path / "out" / "results.json").read_text())
    assert on_disk["status"] == "running"  # a later failure keeps what was measured
    assert on_disk["results"] == {"mean_cosine_fp16": 0.5}
    assert on_disk["parameters"]["precisions"] == ["fp16"]
    assert on_disk["headline"] == ["mean_cosine_fp16"]
    assert on_disk["labels"] == {"mean_cosine_fp16": "mean cosine to FP32, fp16"}
    with pytest.raises(TypeError, match="headline is the label the index shows"):
        results.record("x", 1, headline=True)
    env = on_disk["environment"]
    assert env["packages"]["torch"].startswith("2.13.0")
    assert env["platform"]["cpu_count"] >= 1
    run.record("latency_p50_ms_coreml", None, note="not measured on this platform: Core ML needs macOS")
    run.finish()
    on_disk = results.load_results(tmp_path / "out")
    assert on_disk["status"] == "complete"
    assert on_disk["results"]["latency_p50_ms_coreml"] is None
    assert "macOS" in on_disk["notes"]["latency_p50_ms_coreml"]


def test_json_safe_turns_nan_into_null_and_arrays_into_lists():
    assert files.json_safe({"a": float("nan"), "b": np.arange(3), "c": (np.float64(1.5), math.inf)}) == {
        "a": None, "b": [0, 1, 2], "c": [1.5, None]}


def test_atomic_path_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "file.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with files.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed midway")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_record_before_start_run_is_explained(monkeypatch):
    monkeypatch.setattr(results, "_current", None)
    with pytest.raises(RuntimeError, match="before start_run"):
        results.record("x", 1)


def test_an_output_dir_that_cannot_be_created_is_one_message_before_any_work(tmp_path):
    from workbench.run import results

    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ValueError, match=r"output_dir .*file/run cannot be created \(Not a directory\); pass a folder"):
        results.start_run(tmp_path / "file" / "run", "01_precision_accuracy", {})
