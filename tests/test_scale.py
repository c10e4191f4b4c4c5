"""Random-weight profiling at true architectures, the size-series fit, and the verdicts on the seeds' claims.

Every test uses tiny configs of the real families (Qwen3, EmbeddingGemma); full sizes run in suites/scale.yaml.
"""

import json

import numpy as np
import pandas as pd
import pytest

from workbench.convert import pipeline, profile
from workbench.convert.rows import ARTIFACTS, ArtifactRow, Status
from workbench.core.architectures import RANDOM_WEIGHTS, architecture, published_recipe, total_params
from workbench.core.embedding import Recipe
from workbench.core.paths import NOTEBOOKS_DIR
from workbench.run.claims import INCONCLUSIVE
from workbench.studies import scale, scale_claims

TINY = dict(hidden_size=64, num_hidden_layers=2, intermediate_size=128, num_attention_heads=2, num_key_value_heads=1,
            head_dim=32, vocab_size=1000)
ACCURACY_WORDS = ("cosine", "retention", "ndcg", "spearman", "drift", "recall")


def tiny(name: str):
    return architecture(name).scaled(name=f"tiny {name}", **TINY)


def recipe(arch) -> Recipe:
    return published_recipe(arch, 16)


def test_a_tiny_qwen3_goes_through_every_format_and_is_labelled_random(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    arch = tiny("qwen3-embedding-0.6b")
    pairs = pipeline.plan(["onnx"], ["int8"]) + pipeline.plan(["coreml"], ["fp16"]) + pipeline.plan(["mlx"], ["q4"]) \
        + pipeline.plan(["onnx-lean"], ["int8"])
    rows = profile.profile(pipeline.RandomBuild(arch), pairs, recipe(arch), batch_sizes=(1, 4), repeats=2)
    by_key = {r.key: r for r in rows}
    # the base first, then what derives
    assert list(by_key) == ["onnx_fp32", "onnx_int8", "coreml_fp16", "mlx_q4", "onnx-lean_int8"]
    for r in rows:
        assert r.status is Status.MEASURED, r.notes
        assert r.weights.startswith(RANDOM_WEIGHTS) and r.accuracy is None
        assert r.params == total_params(arch) and r.model == arch.name
        assert r.size_bytes > 0 and r.convert_s > 0 and r.convert_peak_rss_bytes > 0
        assert r.path is None  # full-size artifacts are removed once measured
    assert by_key["onnx_int8"].size_bytes < by_key["onnx_fp32"].size_bytes
    assert by_key["mlx_q4"].size_bytes < by_key["onnx_int8"].size_bytes
    assert by_key["onnx_fp32"].latency_at(1).p50_s > 0 and by_key["onnx_fp32"].latency_at(4).p50_s > 0
    assert by_key["onnx_fp32"].load_rss_bytes > 0
    lean = by_key["onnx-lean_int8"]  # chunk by chunk, run by ONNX Runtime as the plain int8 is
    assert lean.conversion_path == "lean" and by_key["onnx_int8"].conversion_path == "plain"
    assert 0.8 < lean.size_bytes / by_key["onnx_int8"].size_bytes < 1.25
    assert lean.latency_at(4).p50_s > 0 and lean.resident_bytes > lean.resident_baseline_bytes > 0
    assert "not measured on this platform" in " ".join(by_key["coreml_fp16"].notes)  # Linux CI
    assert by_key["coreml_fp16"].load_s is None
    mlx_note = " ".join(by_key["mlx_q4"].notes)
    assert "not representative of the target device" in mlx_note and by_key["mlx_q4"].latency == ()

    again = profile.profile(pipeline.RandomBuild(arch), pairs, recipe(arch), batch_sizes=(1, 4), repeats=2)
    assert all(r.from_cache for r in again)
    assert [r.size_bytes for r in again] == [r.size_bytes for r in rows]
    other_seed = profile.profile(pipeline.RandomBuild(arch, seed=1), pairs[:1], recipe(arch), batch_sizes=(1, 4),
                                 repeats=2)
    assert not other_seed[0].from_cache


def test_gemma_converts_to_mlx_with_its_dense_head_inside_the_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    arch = tiny("embeddinggemma-300m")
    assert arch.dense == ((64, 256, False, "Identity"), (256, 64, False, "Identity"))
    (row,) = profile.profile(pipeline.RandomBuild(arch), [("mlx", "q4")], recipe(arch), repeats=1)
    assert row.status is Status.MEASURED, row.notes
    assert row.model == arch.name and row.load_rss_bytes > 0


def test_a_step_past_the_memory_limit_keeps_its_peak_and_the_run_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    arch = tiny("qwen3-embedding-0.6b")
    pairs = pipeline.plan(["onnx"], ["int8"]) + [("mlx", "q4")]
    limit = 50 * 10**6  # below any interpreter with torch imported: the first sample kills it
    rows = profile.profile(pipeline.RandomBuild(arch), pairs, recipe(arch), limits=pipeline.Limits(limit))
    fp32, int8, q4 = rows
    assert fp32.status is Status.KILLED and fp32.convert_peak_rss_bytes > limit
    assert "killed at" in fp32.notes[0] and "memory limit of 0.1 GB" in fp32.notes[0]
    assert int8.status is Status.NOT_BUILT and "onnx_fp32, which was not built" in int8.notes[0]
    assert q4.status is Status.KILLED  # the next format was still tried
    assert not list((tmp_path / "cache").glob("profiles/*.json"))  # only measured rows are kept


def test_skipped_variants_say_why_and_do_not_stop_the_rest_coming_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    arch = tiny("qwen3-embedding-0.6b")
    pairs = pipeline.plan(["onnx"], ["int8"])
    skip = {"int8": "left to the fit: too slow"}
    first = profile.profile(pipeline.RandomBuild(arch), pairs, recipe(arch), skip=skip)
    again = profile.profile(pipeline.RandomBuild(arch), pairs, recipe(arch), skip=skip)
    for rows in (first, again):
        fp32, int8 = rows
        assert fp32.status is Status.MEASURED
        assert int8.status is Status.LEFT_TO_FIT and int8.notes == ("left to the fit: too slow",)
        assert int8.size_bytes is None
    assert again[0].from_cache and again[0].size_bytes == first[0].size_bytes


def test_a_row_added_to_a_suite_measures_only_itself_and_the_base_it_derives_from(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    arch, subject = tiny("qwen3-embedding-0.6b"), pipeline.RandomBuild(tiny("qwen3-embedding-0.6b"))
    first = profile.profile(subject, pipeline.plan(["onnx"], ["fp32"]) + [("mlx", "q4")], recipe(arch))
    assert [r.key for r in first] == ["onnx_fp32", "mlx_q4"] and not any(r.from_cache for r in first)
    # onnx_int8 is new and derives from onnx_fp32, which is cached but not kept: fp32 is rebuilt, mlx_q4 is not
    pairs = pipeline.plan(["onnx"], ["int8"]) + [("mlx", "q4"), ("mlx", "q8")]
    second = {r.key: r for r in profile.profile(subject, pairs, recipe(arch))}
    assert all(r.status is Status.MEASURED for r in second.values()), [r.notes for r in second.values()]
    assert {k for k, r in second.items() if r.from_cache} == {"mlx_q4"}
    assert second["mlx_q4"].convert_s == first[1].convert_s  # the stored row, not a new measurement
    assert second["onnx_int8"].size_bytes < second["onnx_fp32"].size_bytes
    assert all(r.from_cache for r in profile.profile(subject, pairs, recipe(arch)))


# ---------------------------------------------------------------- fit, projection, verdicts (synthetic rows)


def synthetic_rows(sizes_b, size_gb=lambda b: 0.05 + 2.0 * b, rss_gb=lambda b: 1.0 + 2.5 * b, variant="coreml_fp16",
                   model="qwen3 point {:.2f}"):
    fmt, name = variant.split("_")
    rows = []
    for b in sizes_b:
        rows.append(ArtifactRow(fmt, name, f"{RANDOM_WEIGHTS} (seed 0)", model=model.format(b), params=int(b * 1e9),
                                size_bytes=int(size_gb(b) * 1e9), convert_s=10 + 40 * b,
                                convert_peak_rss_bytes=int(rss_gb(b) * 1e9)))
    return rows


def test_the_fit_recovers_a_known_line_and_projects_with_an_interval():
    rows = synthetic_rows([0.05, 0.12, 0.3, 0.6])
    rng = np.random.default_rng(0)
    noisy = synthetic_rows([0.05, 0.12, 0.3, 0.6], size_gb=lambda b: 0.05 + 2.0 * b + rng.normal(0, 0.01),
                           variant="onnx_fp16")
    table = scale.frame(rows + noisy, [])
    fitted = scale.fits(table, set(table["model"]))
    exact = fitted[(fitted["variant"] == "coreml_fp16") & (fitted["quantity"] == "size GB")].iloc[0]
    assert exact["per B"] == pytest.approx(2.0) and exact["intercept"] == pytest.approx(0.05)
    assert set(fitted["quantity"]) == {"size GB", "peak convert RSS GB", "convert s"}  # nothing fitted from NaN
    values = scale.projections(fitted, table, ["qwen3-embedding-4b"])
    at_4b = values[(values["variant"] == "coreml_fp16") & (values["quantity"] == "size GB")].iloc[0]
    params_4b = total_params(architecture("qwen3-embedding-4b")) / 1e9
    assert at_4b["value"] == pytest.approx(0.05 + 2.0 * params_4b)
    assert at_4b["kind"].startswith("projected (fit over 4 sizes")
    noisy_4b = values[(values["variant"] == "onnx_fp16") & (values["quantity"] == "size GB")].iloc[0]
    assert 0 < noisy_4b["± (95 % prediction)"] < 1.0  # an interval from the residuals, wider than the noise
    assert noisy_4b["± (95 % prediction)"] > 0.01


def test_too_few_sizes_give_no_fit():
    table = scale.frame(synthetic_rows([0.05, 0.6]), [])
    assert scale.fits(table, set(table["model"])).empty


def test_a_measured_row_beats_the_projection_for_its_model():
    rows = synthetic_rows([0.05, 0.12, 0.3]) + synthetic_rows([4.02], size_gb=lambda b: 8.04,
                                                              model="qwen3-embedding-4b")
    table = scale.frame(rows, [])
    values = scale.values_table(table, scale.fits(table, set(table["model"])), ["qwen3-embedding-4b"])
    at_4b = values[(values["model"] == "qwen3-embedding-4b") & (values["quantity"] == "size GB")]
    assert list(at_4b["kind"]) == ["measured"] and at_4b["value"].iloc[0] == pytest.approx(8.04)


def _values(entries):
    return pd.DataFrame([{"model": m, "params B": 1.0, "variant": v, "quantity": q, "value": x,
                          "± (95 % prediction)": h, "kind": "measured" if h is None else "projected (fit)"}
                         for m, v, q, x, h in entries])


def test_verdicts_measured_in_range_out_of_range_and_inconclusive():
    values = _values([
        ("qwen3-embedding-4b", "coreml_fp16", "size GB", 8.04, None),  # 7-9: consistent
        ("qwen3-embedding-4b", "coreml_fp16", "peak convert RSS GB", 10.4, None),  # each variant's first step
        ("qwen3-embedding-4b", "coreml_int8", "size GB", 4.6, None),  # ~2-4 read as 1.75-4.5: above
        ("qwen3-embedding-4b", "coreml_int8", "peak convert RSS GB", 16.1, 5.0),  # 17.5-31.5: interval reaches it
        ("qwen3-embedding-4b", "coreml_palette4", "peak convert RSS GB", 10.0, 1.0),  # lower than int8's 16.1
        ("qwen3-embedding-0.6b", "mlx_q4", "size GB", 0.335, None),  # 0.5-0.7: below
    ])
    table = scale_claims.verdicts(values)
    table = table[table["claim (quoted)"] != scale_claims.NOT_VIABLE_QUOTE].set_index(["model", "variant", "quantity"])
    big, small, gemma = "qwen3-embedding-4b", "qwen3-embedding-0.6b", "embeddinggemma-300m"
    assert table.loc[(big, "coreml_fp16", "size GB"), "holds"] is True
    assert table.loc[(big, "coreml_int8", "size GB"), "verdict"] == "not consistent: above 1.75-4.5"
    ram = table.loc[(big, "coreml_int8", "peak convert RSS GB")]
    assert ram["holds"] is None and ram["verdict"].startswith("inconclusive")
    palette = table.loc[(big, "coreml_palette4", "peak convert RSS GB")]
    assert palette["holds"] is True and "vs coreml_int8 16.1" in palette["value"]
    assert table.loc[(small, "mlx_q4", "size GB"), "holds"] is False
    assert table.loc[(gemma, "mlx_q4", "size GB"), "verdict"] == "not tested"
    assert len(scale_claims.verdicts(values)) == len(scale_claims.CLAIMS)
    records = scale_claims.claim_records(scale_claims.verdicts(values))  # an inconclusive verdict stays one
    (ram_claim,) = [c for c in records if c.quote == scale_claims.INT8_RAM_QUOTE and "coreml_int8" in c.quantity]
    assert ram_claim.verdict == INCONCLUSIVE


def test_conversion_ram_is_judged_per_path_and_the_16gb_mac_question_is_answered():
    """Seed 000's 20-28 GB and "not viable on 16 GB" get one row per path; each path's peak is its larger step
    (its fp16 package, then the compression made from it)."""
    big = "qwen3-embedding-4b"
    values = _values([
        (big, "coreml_fp16", "peak convert RSS GB", 10.4, None),
        (big, "coreml_int8", "peak convert RSS GB", 16.5, None),
        (big, "coreml_int4", "peak convert RSS GB", 8.0, None),  # below the fp16 step: that step decides
        (big, "coreml-lean_fp16", "peak convert RSS GB", 4.2, None),  # above its int8 step: judged by it
        (big, "coreml-lean_int8", "peak convert RSS GB", 3.9, None),
        (big, "coreml-lean_int4", "peak convert RSS GB", 10.5, 1.0),  # the interval reaches 11 GB
    ])
    table = scale_claims.verdicts(values)
    ram = table[table["claim (quoted)"] == scale_claims.INT8_RAM_QUOTE].set_index("path")
    assert ram.loc["plain", "verdict"] == ram.loc["lean", "verdict"] == "not consistent: below 17.5-31.5"
    viable = table[table["claim (quoted)"] == scale_claims.NOT_VIABLE_QUOTE].set_index("path")
    assert viable.loc["plain", "holds"] is True and viable.loc["lean", "holds"] is False
    assert viable.loc["lean", "verdict"] == "not consistent: the peak leaves 6.8 GB of the 11 GB available"
    (lean,) = [c for c in scale_claims.claim_records(table) if c.quote == scale_claims.NOT_VIABLE_QUOTE
               and c.quantity.endswith("qwen3-embedding-4b, coreml-lean_int8, lean conversion path")]
    assert lean.quantity.startswith("peak convert RSS (GB: the largest RSS of the conversion's process tree over its "
                                    "steps")
    assert (lean.verdict, lean.threshold) == ("fails", "above 11 GB, beyond the prediction interval")
    assert "Available on 16GB machine after cleanup" in lean.threshold_origin
    mac = scale_claims.mac_16gb(values).set_index("variant")
    assert list(mac.index) == ["coreml-lean_int4", "coreml-lean_int8", "coreml_int4", "coreml_int8"]
    assert mac.loc["coreml_int4", "peak convert RSS"] == "10.4 GB" and mac.loc["coreml_int4", "steps"] == \
        "coreml_fp16 then coreml_int4"
    assert mac["converts on a 16 GB Mac"].to_dict() == {"coreml-lean_int4": "uncertain", "coreml-lean_int8": "yes",
                                                        "coreml_int4": "yes", "coreml_int8": "no"}
    assert mac.loc["coreml-lean_int8", "headroom in 11 GB"] == "+6.8 GB"
    assert mac.loc["coreml-lean_int8", "steps"] == "coreml-lean_fp16 then coreml-lean_int8"
    nothing_profiled = pd.DataFrame()  # the answers come from `values` alone
    answers = {r.key: (r.value, r.label) for r in scale_claims.results(scale_claims.Outcome(nothing_profiled, values, ""))}
    assert answers["converts_on_16gb_mac_coreml-lean_int8_qwen3-embedding-4b"] == (
        "yes", "converts on a 16 GB Mac, qwen3-embedding-4b coreml-lean_int8 (lean path)")
    assert answers["converts_on_16gb_mac_coreml_int8_qwen3-embedding-4b"][0] == "no"


def test_a_variant_converted_from_the_model_is_one_step_not_its_base_then_itself():
    """Core ML fp32 is converted from the model, not from the fp16 package: its peak is its own step's."""
    big = "qwen3-embedding-4b"
    values = _values([(big, "coreml_fp16", "peak convert RSS GB", 10.4, None),
                      (big, "coreml_fp32", "peak convert RSS GB", 9.0, None)])
    assert scale_claims.conversion_peak(values, big, "coreml_fp32")[0] == 9.0
    fp32 = scale_claims.mac_16gb(values).set_index("variant").loc["coreml_fp32"]
    assert (fp32["steps"], fp32["peak convert RSS"]) == ("coreml_fp32", "9.00 GB")


def test_the_lean_path_is_planned_for_qwen3_only():
    planned = scale.subjects(["embeddinggemma-300m", "qwen3-embedding-0.6b"], "qwen3-embedding-0.6b", [], [], [1],
                             [1], {"coreml-lean": ["int8"], "onnx": ["fp32"]}, {})
    seen = []
    monkey = pytest.MonkeyPatch()
    monkey.setattr(scale.profile, "profile", lambda subject, pairs, *a, **k: seen.append(
        (subject.arch.name, pairs)) or [])
    try:
        scale.run(planned, 32, 1, pipeline.Limits(), {}, 1e12)
    finally:
        monkey.undo()
    assert seen == [("embeddinggemma-300m", [("onnx", "fp32")]),
                    ("qwen3-embedding-0.6b", [("coreml-lean", "fp16"), ("coreml-lean", "int8"), ("onnx", "fp32")])]


def test_claims_and_records_name_the_random_weights():
    table = scale.frame(synthetic_rows([0.05, 0.12, 0.3]), [])
    verdicts = scale_claims.verdicts(scale.values_table(table, scale.fits(table, set(table["model"])),
                                                        ["qwen3-embedding-4b"]))
    claims = scale_claims.claim_records(verdicts)
    assert len(claims) == len(scale_claims.CLAIMS) and all(c.kind.endswith("random weights") for c in claims)
    assert all(c.source.startswith("shared seed 00") and c.threshold and c.threshold_origin for c in claims)
    fp16 = claims[0]  # 4B Core ML fp16 ~8 GB, read as 7-9 GB
    assert (fp16.threshold, fp16.threshold_origin) == ("7–9 GB", "the quote's '~8' ± 12.5% (the approximate-quote rule)")
    assert claims[1].threshold == "1.75–4.5 GB", "~2-4 GB: the same rule as ~8 GB, at each end"
    onnx = next(c for c in claims if c.quote == "Variants: FP32 (2.3GB)")
    assert (onnx.threshold, onnx.threshold_origin) == ("2.1–2.5 GB", "the quoted figure ± 0.2: this study's margin "
                                                                     "for an exact quote")
    first = table["model"].iloc[0]
    records = scale.results(table, first)
    assert records and all(RANDOM_WEIGHTS in (r.note or "") for r in records)
    assert not any(word in r.key for r in records for word in ACCURACY_WORDS)
    assert {r.label for r in records if r.label} == {f"size, {v}, {first} (GB)"
                                                     for v in table.loc[table["model"] == first, "variant"]}


def test_series_points_scale_width_and_depth_from_the_record():
    points = scale.series_architectures("qwen3-embedding-0.6b", [[256, 6], [1024, 28]])
    small, base = points
    assert base is architecture("qwen3-embedding-0.6b")
    assert small.config["hidden_size"] == 256 and small.config["num_hidden_layers"] == 6
    assert small.config["intermediate_size"] == 768 and small.config["num_attention_heads"] == 4
    assert small.config["vocab_size"] == 151669
    assert small.name.startswith("qwen3-embedding-0.6b scaled to 0.04B")


def test_notebook_on_a_tiny_series(tmp_path, monkeypatch):
    """The study end to end on three small Qwen3 points through ONNX fp32, projected to 0.6B."""
    import papermill

    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    papermill.execute_notebook(
        str(NOTEBOOKS_DIR / "05_scale.ipynb"), str(tmp_path / "run.ipynb"), kernel_name="python3",
        progress_bar=False,
        parameters=dict(models=[], series=[[64, 1], [128, 1], [192, 1]], large=[], project_to=["qwen3-embedding-0.6b"],
                        variants={"onnx": ["fp32"]}, large_variants={"onnx": ["fp32"]}, max_length=8,
                        series_batch_sizes=[1], latency_repeats=2, output_dir=str(out)))
    data = json.loads((out / "results.json").read_text())
    assert data["status"] == "complete" and data["label"] == RANDOM_WEIGHTS
    sizes = {k: v for k, v in data["results"].items() if k.startswith("size_gb_onnx_fp32")}
    assert len(sizes) == 3 and all(v > 0 for v in sizes.values())
    assert all(RANDOM_WEIGHTS in data["notes"][k] for k in sizes)
    typed = ARTIFACTS.read(data)  # the same rows, typed, for any study that reads 05
    assert sorted(r.size_bytes / 1e9 for r in typed) == pytest.approx(sorted(sizes.values()))
    assert all(r.weights.startswith(RANDOM_WEIGHTS) and r.accuracy is None and r.params > 0 for r in typed)
    (headline,) = data["headline"]  # the first network's size: one number on the index, not every quantity
    assert headline.startswith("size_gb_onnx_fp32_") and "0.01B" in headline
    (fp32_claim,) = [c for c in data["claims"] if "FP32 (2.3GB)" in c["quote"]]
    assert fp32_claim["kind"].startswith("projected (fit over 3 sizes") and fp32_claim["value"].endswith(" GB")
    assert data["labels"][headline] == f"size, onnx_fp32, {headline[len('size_gb_onnx_fp32_'):]} (GB)"
    assert (out / "key-plot.png").stat().st_size > 1000
    executed = (tmp_path / "run.ipynb").read_text()
    assert not any(word in executed.lower() for word in ("mean cosine", "retention %", "ndcg@10"))


def test_parameters_from_papermill_strings_are_converted_and_bad_ones_refused():
    models, series, large, project_to, variants, large_variants = scale.validated(
        "[]", "[[256, 6]]", "", '["qwen3-embedding-4b"]', '{"onnx": ["int8"]}', "qwen3-embedding-0.6b")
    assert (models, series, large, project_to) == ([], [[256, 6]], [], ["qwen3-embedding-4b"])
    assert variants == large_variants == {"onnx": ["int8"]}
    with pytest.raises(ValueError, match="variant 'q9' belongs to none of mlx"):
        scale.validated([], [[256, 6]], [], [], {"onnx": ["fp32"]}, "qwen3-embedding-0.6b", {"mlx": ["q9"]})
    with pytest.raises(ValueError, match="no architecture record for 'qwen3-embeding-4b'; did you mean"):
        scale.validated(["qwen3-embeding-4b"], [], [], [], {"onnx": ["fp32"]}, "qwen3-embedding-0.6b")
    with pytest.raises(ValueError, match=r"each point is \[hidden, layers\]"):
        scale.validated([], [[256]], [], [], {"onnx": ["fp32"]}, "qwen3-embedding-0.6b")
    with pytest.raises(ValueError, match="variant 'q4' belongs to none of onnx"):
        scale.validated([], [[256, 6]], [], [], {"onnx": ["q4"]}, "qwen3-embedding-0.6b")
    with pytest.raises(ValueError, match="nothing to profile"):
        scale.validated([], [], [], [], {"onnx": ["fp32"]}, "qwen3-embedding-0.6b")
