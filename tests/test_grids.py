"""Grids in suite files: cells exactly as if written by hand, exclusions, errors, and `--dry-run`."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.run.suite import load_suite

GRID = """runs:
  - name: prec
    notebook: 01_precision_accuracy
    parameters: {max_texts: 4, latency_repeats: 2}
    grid:
      max_length: [16, 24]
      precisions: [[fp16], [bf16]]
    exclude:
      - {max_length: 24, precisions: [bf16]}
    ram_gb: 3
"""


def _suite(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def test_a_grid_expands_to_the_cells_a_person_would_write(tmp_path):
    cells = load_suite(_suite(tmp_path, GRID))
    assert [c.name for c in cells] == ['prec[max_length=16,precisions=["fp16"]]',
                                       'prec[max_length=16,precisions=["bf16"]]',
                                       'prec[max_length=24,precisions=["fp16"]]']
    assert [c.parameters for c in cells][2] == {"max_texts": 4, "latency_repeats": 2, "max_length": 24,
                                                "precisions": ["fp16"]}
    assert {c.ram_gb for c in cells} == {3.0} and {c.written_as for c in cells} == {"prec"}
    by_hand = load_suite(_suite(tmp_path, "runs:\n  - name: x\n    notebook: 01_precision_accuracy\n    parameters:\n"
                                          "      precisions: [fp16]\n      max_length: 24\n      max_texts: 4\n"
                                          "      latency_repeats: 2\n"))
    assert by_hand[0].run_hash() == cells[2].run_hash()  # same folder, same cache entry
    assert by_hand[0].folder(tmp_path) == cells[2].folder(tmp_path)


@pytest.mark.parametrize("grid, message", [
    ("    grid: {max_length: []}\n", "grid 'max_length' must be a non-empty list"),
    ("    grid: {max_lenght: [16]}\n", "did you mean 'max_length'"),
    ("    grid: {max_length: [16, 16]}\n", "lists a value twice"),
    ("    grid: {max_texts: [4, 8]}\n", "sets 'max_texts' in both parameters and grid"),
    ("    grid: {max_length: [16, 24]}\n    exclude: [{max_length: 32}]\n", "matches no cell of the grid"),
    ("    grid: {max_length: [16, 24]}\n    exclude: [{pooling: cls}]\n", "may name only grid parameters"),
    ("    grid: {max_length: [16]}\n    exclude: [{max_length: 16}]\n", "removes every cell"),
    ("    exclude: [{max_length: 16}]\n", "no grid: to exclude cells from"),
    ("    ram_gb: -2\n", "ram_gb must be a positive number"),
])
def test_grid_mistakes_are_refused_with_a_fix(tmp_path, grid, message):
    text = "runs:\n  - name: a\n    notebook: 01_precision_accuracy\n    parameters: {max_texts: 4}\n" + grid
    with pytest.raises(ValueError, match=message):
        load_suite(_suite(tmp_path, text))


def test_dry_run_lists_cells_marks_completed_ones_and_runs_nothing(tmp_path):
    suite = _suite(tmp_path, GRID + "  - name: scale\n    notebook: 05_scale\n    parameters:\n"
                                    "      large: [qwen3-embedding-4b]\n")
    reports = tmp_path / "reports"
    cells = load_suite(suite)
    done = cells[1].folder(reports)
    done.mkdir(parents=True)
    (done / "results.json").write_text(json.dumps({"status": "complete", "results": {}}))
    (done / "report.html").write_text("<html></html>")
    out = subprocess.run([sys.executable, "-m", "workbench", "run", str(suite), "--reports", str(reports),
                          "--dry-run"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line for line in out.stdout.splitlines()[1:] if line.startswith(("prec", "scale"))}
    assert len(lines) == 4
    assert cells[1].run_hash() in lines[cells[1].name] and "complete" in lines[cells[1].name]
    assert "skipped" in lines[cells[1].name] and "runs" in lines[cells[0].name]
    assert "3 GB (declared)" in lines[cells[0].name]
    assert ">= 16 GB (fp32 weights of qwen3-embedding-4b)" in lines["scale"]  # 4,022 M parameters x 4 bytes
    assert "3 of 4 cell(s) would run; 1 complete" in out.stdout
    assert sorted(p.name for p in reports.iterdir()) == [done.name]  # nothing was run or written
