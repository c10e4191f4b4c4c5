"""Building and measuring variants: the plan, the artifact cache, failures as row notes, the notebook."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import workbench
from workbench.convert import artifacts, measure, pipeline, registry
from workbench.convert.rows import ARTIFACTS, Status
from workbench.core.paths import NOTEBOOKS_DIR
from workbench.core.resources import ChildRun

RECIPE = workbench.Recipe(max_length=16, last_n_layers=2)


def _in_process(fn, *args, preload=(), memory_limit_bytes=None, timeout_s=None, **kwargs):
    return ChildRun(fn(*args, **kwargs), 0, 0, 0.0)


def test_plan_adds_the_base_variant_and_rejects_unknown_names():
    assert pipeline.plan(["onnx", "coreml"], '["int8"]') == [("onnx", "fp32"), ("onnx", "int8"), ("coreml", "fp16"),
                                                          ("coreml", "int8")]
    assert pipeline.plan(["mlx"], ["q4", "fp16"]) == [("mlx", "fp16"), ("mlx", "q4")]  # no base: each stands alone
    with pytest.raises(ValueError, match="format 'tflite' is not known"):
        pipeline.plan(["tflite"], ["int8"])
    with pytest.raises(ValueError, match="variant 'int3' belongs to none of onnx"):
        pipeline.plan(["onnx"], ["int3"])


def test_the_lean_path_takes_what_it_converts_and_leaves_the_rest_on_the_plain_one():
    """A Qwen3 decoder's Core ML and ONNX int8 variants go chunk by chunk; a variant the lean path lacks (palette8,
    ONNX fp16) and any other model stay plain, each with the base it derives from."""
    asked = (["coreml", "onnx", "mlx"], ["int8", "palette8", "fp16", "q4"])
    assert pipeline.plan(*asked, "lean", "qwen3") == [
        ("coreml-lean", "fp16"), ("coreml-lean", "int8"), ("coreml", "fp16"), ("coreml", "palette8"),
        ("onnx", "fp32"), ("onnx", "fp16"), ("onnx-lean", "int8"), ("mlx", "fp16"), ("mlx", "q4")]
    plain = [("coreml", "fp16"), ("coreml", "int8"), ("coreml", "palette8"), ("onnx", "fp32"), ("onnx", "fp16"),
             ("onnx", "int8"), ("mlx", "fp16"), ("mlx", "q4")]
    assert pipeline.plan(*asked, "lean", "bert") == plain == pipeline.plan(*asked, "plain", "qwen3")
    with pytest.raises(ValueError, match="conversion path 'chunked' is not known; choose plain or lean"):
        pipeline.plan(["onnx"], ["int8"], "chunked", "qwen3")


def test_a_conversion_that_raises_becomes_a_row_note(tiny_bert_dir, monkeypatch):
    def in_process(fn, *args, **kwargs):
        if fn is pipeline.convert_step:
            raise RuntimeError("converter exploded\nsecond line")
        return _in_process(fn, *args, **kwargs)

    monkeypatch.setattr(pipeline, "run_in_child", in_process)
    loaded = workbench.load_model(str(tiny_bert_dir))
    with pytest.warns(UserWarning, match="onnx_fp32 failed; its row carries the note"):
        measured = measure.run_variants(loaded, str(tiny_bert_dir), [("onnx", "fp32"), ("onnx", "int8")],
                                        ("", "skip", "skip", 8), RECIPE, batch_sizes=(1,), repeats=1)
    reference, fp32, int8 = measured.rows
    assert reference.key in measured.evaluated  # the reference was measured before the failures
    assert fp32.status is Status.FAILED and fp32.notes == ("failed on this machine (RuntimeError: converter exploded)",)
    assert int8.status is Status.NOT_BUILT
    assert int8.notes == ("not built: it derives from onnx_fp32, which was not built",)


def test_a_new_format_is_one_registered_converter(tiny_bert_dir, tmp_path, monkeypatch):
    """A format the study has never heard of runs through the same loop: registration is all it takes."""

    def convert(load, recipe, variant, folder, base=None):
        out = tmp_path / "toy" / variant
        out.mkdir(parents=True)
        (out / "scale.txt").write_text("0.5" if variant == "half" else "1.0")
        return out

    def load(path, spec, recipe):
        scale = float((Path(path) / "scale.txt").read_text())
        return registry.Runtime(lambda ids, mask: scale * np.eye(32, dtype=np.float32)[ids.sum(axis=1) % 32],
                                "toy runtime")

    toy = registry.Converter("toy", {"full": "as is", "half": "scaled by one half"}, None, lambda loaded=None: None,
                             convert, load, lambda path: ("batch", 32))
    monkeypatch.setitem(registry.CONVERTERS, "toy", toy)
    monkeypatch.setattr(pipeline, "run_in_child", _in_process)
    loaded = workbench.load_model(str(tiny_bert_dir))
    measured = measure.run_variants(loaded, str(tiny_bert_dir), pipeline.plan(["toy"], ["half"]),
                                    ("", "skip", "skip", 4), RECIPE, batch_sizes=(1,), repeats=1)
    assert [r.key for r in measured.rows] == ["torch_fp32", "toy_half"]
    toy_half = measured.rows[1]
    assert toy_half.status is Status.MEASURED and toy_half.runtime == "toy runtime" and toy_half.size_bytes == 3
    assert toy_half.load_s is not None and measured.evaluated["toy_half"]["runtime"] == "toy runtime"


def test_a_converter_callable_whose_parameters_say_otherwise_is_refused():
    """The pipeline passes by position, so a name is all that says what comes: `loaded` where a ModelSpec does."""

    def load(path, loaded, recipe):
        return registry.Runtime(lambda ids, mask: ids, "toy runtime")

    with pytest.raises(TypeError, match=r"'toy': load takes \(path, loaded, recipe\); registry.Load takes "
                                        r"\(path, spec, recipe\)"):
        registry.Converter("toy", {"full": "as is"}, None, lambda loaded=None: None,
                           lambda load, recipe, variant, folder, base=None: folder, load, lambda path: ("batch", 32))


def test_artifacts_are_reused_and_a_changed_one_is_rebuilt(tiny_bert_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    calls = []

    def counting(fn, *args, **kwargs):
        if fn is pipeline.convert_step:
            calls.append(args[:2])
        return _in_process(fn, *args, **kwargs)

    monkeypatch.setattr(pipeline, "run_in_child", counting)
    loaded = workbench.load_model(str(tiny_bert_dir))
    run = lambda: measure.run_variants(loaded, str(tiny_bert_dir), [("onnx", "fp32"), ("onnx", "int8")],  # noqa: E731
                                       ("", "skip", "skip", 4), RECIPE, batch_sizes=(1,), repeats=1)
    first = run().rows
    assert calls == [("onnx", "fp32"), ("onnx", "int8")] and not first[1].from_cache
    second = run().rows
    assert calls == [("onnx", "fp32"), ("onnx", "int8")], "identical artifacts are taken from the cache"
    assert second[2].from_cache and second[2].path == first[2].path
    assert second[2].convert_s == first[2].convert_s  # the cost measured when it was built
    assert "artifact from the cache" not in "; ".join(second[2].notes)  # the table adds that, from `from_cache`
    (tmp := Path(second[2].path) / "model.onnx").write_bytes(tmp.read_bytes() + b"\0")
    with pytest.warns(UserWarning, match="rejected .its files no longer match the recorded SHA-256"):
        third = run().rows
    assert calls[-1] == ("onnx", "int8") and len(calls) == 3 and not third[2].from_cache


def test_the_artifact_key_follows_code_recipe_and_base(tiny_bert_dir, monkeypatch, tmp_path):
    loaded = workbench.load_model(str(tiny_bert_dir))
    onnx = registry.get("onnx")
    key = artifacts.artifact_key(onnx, "int8", loaded, RECIPE, "base-a")
    assert key == artifacts.artifact_key(onnx, "int8", loaded, RECIPE, "base-a")
    assert key != artifacts.artifact_key(onnx, "int8", loaded, replace(RECIPE, last_n_layers=1), "base-a")
    assert key != artifacts.artifact_key(onnx, "int8", loaded, RECIPE, "base-b")
    edited = tmp_path / "onnx_edited.py"
    edited.write_text(open(onnx.code[0]).read() + "\n# a converter fix\n")
    assert key != artifacts.artifact_key(replace(onnx, code=(str(edited),)), "int8", loaded, RECIPE, "base-a")


def test_notebook_on_tiny_qwen3(tmp_path, tiny_qwen3_dir):
    import papermill

    out = tmp_path / "out"
    papermill.execute_notebook(
        str(NOTEBOOKS_DIR / "03_quantization.ipynb"), str(tmp_path / "run.ipynb"), kernel_name="python3",
        progress_bar=False,
        parameters=dict(model=str(tiny_qwen3_dir), formats='["mlx", "coreml"]', variants='["fp32", "q8", "int4"]',
                        last_n_layers=2, max_length=16, max_texts=4, sts_path="skip", batch_sizes=[1],
                        latency_repeats=2, output_dir=str(out)))
    data = json.loads((out / "results.json").read_text())
    r = data["results"]
    assert data["status"] == "complete"
    assert r["mean_cosine_mlx_fp32"] > 0.99999
    assert r["mean_cosine_mlx_q8"] < 1.0
    assert r["size_mb_mlx_q8"] < r["size_mb_mlx_fp32"]
    assert r["peak_convert_rss_mb_mlx_q8"] > 0
    # MLX's Linux CPU build runs, but its speed says nothing about Apple silicon: one call in the note, no latency
    assert r["latency_p50_ms_mlx_q8"] is None and "not representative" in data["notes"]["latency_p50_ms_mlx_q8"]
    assert r["peak_convert_rss_mb_torch_fp32"] is None and data["notes"]["peak_convert_rss_mb_torch_fp32"]
    # Core ML on Linux: sized and scored from decompressed weights, latency not measured and saying why. On the
    # default lean path the Qwen3 decoder's int4 is made chunk by chunk; fp32, which that path lacks, stays plain.
    assert r["size_mb_coreml-lean_int4"] < r["size_mb_coreml-lean_fp16"] and r["mean_cosine_coreml-lean_int4"] > 0.98
    assert r["latency_p50_ms_coreml-lean_int4"] is None
    assert "not measured on this platform" in data["notes"]["latency_p50_ms_coreml-lean_int4"]
    assert np.isfinite(r["mean_cosine_coreml_fp32"]) and "size_mb_coreml_int4" not in r
    paths = {row.key: row.conversion_path for row in ARTIFACTS.read(data)}
    assert paths["coreml-lean_int4"] == "lean" and paths["coreml_fp32"] == paths["mlx_q8"] == "plain"
    executed = (tmp_path / "run.ipynb").read_text()
    assert 'class=\\"wb-notes\\"' in executed  # long notes numbered under the table, not in a narrow column
    # MTEB scored every evaluated artifact's vectors (retrieval only: STS was skipped) as the workbench did
    from mteb.cache import ResultCache

    from workbench.mteb_bridge.rows import MTEB_SCORES, RESULTS_FOLDER, RETRIEVAL_TASK

    scored = {row.key: row for row in MTEB_SCORES.read(data)}
    assert set(scored) == {"torch_fp32", "mlx_fp32", "mlx_q8", "coreml_fp32", "coreml-lean_fp16", "coreml-lean_int4"}
    assert all(row.task == RETRIEVAL_TASK and abs(row.difference) <= 5e-6 for row in scored.values())
    assert scored["coreml-lean_int4"].runs_on == "stand-in" and scored["mlx_q8"].runs_on == "stand-in"
    reference = scored["torch_fp32"]  # a retention needs a reference score above 0 (tiny random weights may get 0)
    assert reference.retention_pct == (100.0 if reference.score > 0 else None)
    read = ResultCache(out / RESULTS_FOLDER).load_results(include_remote=False, load_experiments="match_name")
    assert len(read.model_results) == len(scored)  # one MTEB experiment folder per artifact


def test_the_lean_core_ml_path_runs_through_the_same_runner_and_its_rows_say_so(tiny_qwen3_dir, tmp_path, monkeypatch):
    """Plain and lean side by side in one run: both measured, the path recorded, the same int8 package size.

    The steps run in this process: a fork server started here would keep coremltools and torch in every later
    test's child baseline (tests/test_resources.py)."""
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(pipeline, "run_in_child", _in_process)
    loaded = workbench.load_model(str(tiny_qwen3_dir))
    recipe = workbench.Recipe(max_length=16, last_n_layers=1, pooling=loaded.spec.pooling)
    pairs = pipeline.plan(["coreml", "coreml-lean"], ["int8"])
    # each path's fp16 package first, its int8 compressed from it
    assert pairs == [("coreml", "fp16"), ("coreml", "int8"), ("coreml-lean", "fp16"), ("coreml-lean", "int8")]
    probe = pipeline.Probe.random(loaded.tokenizer.vocab_size, 1, 16, 0)
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob("tmp*.mlpackage"))
    rows = {r.key: r for r in pipeline.run(pipeline.Checkpoint(str(tiny_qwen3_dir)), loaded.spec, pairs, recipe,
                                           probe, preflight_model=loaded)}
    plain, lean = rows["coreml_int8"], rows["coreml-lean_int8"]
    assert plain.status is lean.status is rows["coreml-lean_fp16"].status is Status.MEASURED, (plain.notes, lean.notes)
    lean_fp16, plain_fp16 = rows["coreml-lean_fp16"].size_bytes, rows["coreml_fp16"].size_bytes
    assert abs(lean_fp16 - plain_fp16) < 0.05 * plain_fp16
    assert (plain.conversion_path, lean.conversion_path) == ("plain", "lean")
    assert abs(lean.size_bytes - plain.size_bytes) < 0.05 * plain.size_bytes  # the same weights, in chunks
    assert lean.convert_s is not None and "not measured on this platform" in " ".join(lean.notes)
    # coremltools' temporary packages (gigabytes at 4B) went with each step's scratch folder, not into /tmp
    assert set(Path(tempfile.gettempdir()).glob("tmp*.mlpackage")) <= before
