"""Resident memory: a fresh process per artifact that loads it and embeds a batch, and says what it imported.

The figures themselves are sizes of processes on this machine (they belong in the reports, not in assertions);
what is tested is what each process held: the runtime it needs, and no torch for ONNX Runtime.
"""

from __future__ import annotations

from dataclasses import asdict

import pytest

import workbench
from workbench.convert import measure, mlx, onnx, registry
from workbench.core import serving

RECIPE = workbench.Recipe(max_length=16, last_n_layers=2, pooling="mean")


@pytest.fixture(scope="module")
def tiny(tiny_bert_dir):
    loaded = workbench.load_model(str(tiny_bert_dir))
    return loaded, measure.probe(loaded, RECIPE)


def _measure(script, artifact, fmt, tiny):
    loaded, probe = tiny
    return serving.measure(script, str(artifact), fmt, asdict(loaded.spec), asdict(RECIPE), probe.ids, probe.mask,
                           timeout_s=300)


def test_an_onnx_artifact_is_served_by_onnx_runtime_alone_without_torch(tiny, tmp_path):
    loaded, _ = tiny
    path = onnx.convert(lambda: loaded, RECIPE, "fp32", tmp_path)
    found = _measure(registry.get("onnx").serving_script, path, "onnx", tiny)
    assert found.imported == ("onnxruntime",)
    assert found.rss_bytes > found.baseline_bytes > 0
    assert "onnxruntime and the artifact" in serving.imported_note(found)


def test_an_mlx_artifact_is_served_through_its_loader_and_the_figure_lists_what_that_imported(tiny, tmp_path):
    loaded, _ = tiny
    path = mlx.convert(lambda: loaded, RECIPE, "q4", tmp_path)
    found = _measure(registry.get("mlx").serving_script, path, "mlx", tiny)
    assert "mlx" in found.imported and "torch" in found.imported  # mlx-embeddings imports torch through mlx-vlm
    assert found.rss_bytes > found.baseline_bytes


def test_the_torch_reference_is_served_from_its_checkpoint(tiny, tiny_bert_dir):
    found = _measure(measure.TORCH_SERVING, tiny_bert_dir, "torch", tiny)
    assert {"torch", "transformers"} <= set(found.imported) and "onnxruntime" not in found.imported
    assert found.rss_bytes > found.baseline_bytes


def test_a_serving_process_that_fails_says_why_in_one_line(tiny, tmp_path):
    with pytest.raises(RuntimeError, match=r"^the serving process failed \(.*model\.onnx"):
        _measure(registry.get("onnx").serving_script, tmp_path / "missing", "onnx", tiny)


def test_every_row_of_a_run_carries_resident_memory_where_its_runtime_runs(tiny_bert_dir):
    """Through the one runner: the ONNX row has it, measured in its own process; Core ML off macOS has none and
    says it was not measured on this platform."""
    from workbench.convert import pipeline
    from workbench.convert.rows import Status

    loaded = workbench.load_model(str(tiny_bert_dir))
    rows = pipeline.run(pipeline.Checkpoint(str(tiny_bert_dir)), loaded.spec, [("onnx", "fp32"), ("coreml", "fp16")],
                        RECIPE, measure.probe(loaded, RECIPE), pipeline.Limits(preload=()), preflight_model=loaded)
    by_key = {r.key: r for r in rows}
    assert by_key["onnx_fp32"].resident_bytes > by_key["onnx_fp32"].resident_baseline_bytes > 0
    assert any("resident memory: a fresh process" in n for n in by_key["onnx_fp32"].notes)
    coreml = by_key["coreml_fp16"]
    assert coreml.status is Status.MEASURED and coreml.resident_bytes is None
    assert any("not measured on this platform" in n for n in coreml.notes)


def test_resident_memory_is_read_back_from_a_row_and_older_rows_have_none():
    from workbench.convert.rows import ARTIFACTS, ArtifactRow

    row = ArtifactRow("onnx", "int8", "trained", resident_bytes=90_000_000, resident_baseline_bytes=30_000_000)
    (back,) = ARTIFACTS.read({"tables": {"artifacts": ARTIFACTS.payload([row])}})
    assert back.resident_bytes == 90_000_000
    older = {"schema": "artifact-row/3", "rows": [{k: v for k, v in ARTIFACTS.payload([row])["rows"][0].items()
                                                   if not k.startswith("resident")}]}
    (old,) = ARTIFACTS.read({"tables": {"artifacts": older}})
    assert old.resident_bytes is None
