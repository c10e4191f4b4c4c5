"""Converters: every format writes the artifact a user ships ([batch, dim] out) and it matches torch.

Each artifact is checked against the torch pipeline on tiny models of the real architectures (a BERT
encoder, a BERT with a sentence-transformers Dense head, a Qwen3 decoder). Thresholds are named per
format and variant; each comment says what it was set from.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

import workbench
from workbench.convert import coreml, graph, mlx, onnx, registry
from workbench.core import metrics
from workbench.core.resources import dir_size_bytes
from workbench.core.precision import PlatformNotAvailable

from texts import TEXTS

# An fp32 artifact runs the same graph as torch: only summation order differs (measured 1.000000000 everywhere).
PARITY_MIN_COSINE = 0.99999
# Mean cosine to the torch pipeline, measured when this test was written on the tiny fixtures (encoder / decoder):
# ONNX fp16 0.99999997 / 0.9999998, int8 0.99998 / 0.9983 (0.975 for the encoder with a Dense head, whose 16 x 32
# weight is quantized too; MiniLM in the study: 0.977); MLX fp16 0.99999996 / 0.9999999, q8 0.999999998 /
# 0.9999992, q4 0.9999996 / 0.9997. Thresholds sit about 10x further from 1.
MIN_COSINE = {
    "onnx": {"fp32": PARITY_MIN_COSINE, "fp16": 0.99999, "int8": 0.95},
    "mlx": {"fp32": PARITY_MIN_COSINE, "fp16": 0.9999, "q8": 0.9999, "q4": 0.997},
}
# Core ML weights decompressed into the torch graph. Measured: tiny BERT fp16 0.99999998, int8 0.9999986, int4
# 0.99951, palette4 0.99946, palette6 0.99997, palette8 0.9999982, joint4 0.99945; palette4g16 leaves the tiny BERT's
# tables alone (30522 and 16 rows are not whole groups of 16), so it sits at fp16.
# Tiny Qwen3: fp16 0.99999992, int8 0.99998, int4 0.9926, palettes 4/4g16/6/8 bits 0.72/0.74/0.81/0.83, joint4 0.72:
# its pad/eos embedding row is exactly zero and it is the token last-token pooling reads; palettes move that zero to
# a centroid and RMSNorm blows the small vector up. Int8/int4 keep zero exact. Palette thresholds are loose for it.
MIN_COSINE["coreml"] = {
    "encoder": {"fp32": PARITY_MIN_COSINE, "fp16": 0.9999999, "int8": 0.99999, "int4": 0.995, "palette4": 0.995,
                "palette4g16": 0.995, "palette6": 0.9997, "palette8": 0.99998, "joint4": 0.995},
    "decoder": {"fp32": PARITY_MIN_COSINE, "fp16": 0.9999999, "int8": 0.9999, "int4": 0.98, "palette4": 0.6,
                "palette4g16": 0.6, "palette6": 0.7, "palette8": 0.7, "joint4": 0.6},
}


def _cosine(reference, test) -> float:
    return float(metrics.cosine_rows(reference.vectors, test.vectors).mean())


@pytest.fixture(scope="module", params=["tiny_bert_dir", "tiny_dense_dir", "tiny_qwen3_dir"])
def tiny(request):
    loaded = workbench.load_model(str(request.getfixturevalue(request.param)))
    recipe = workbench.Recipe(max_length=16, last_n_layers=2, pooling=loaded.spec.pooling)
    return loaded, recipe, workbench.embed(loaded, TEXTS, recipe)


def _build_all(converter, loaded, recipe, folder, variants=None) -> dict:
    paths = {}
    for variant in variants or converter.variants:
        base = paths.get(converter.base) if variant != converter.base else None
        if converter.base and variant != converter.base and base is None:
            paths[converter.base] = base = converter.convert(lambda: loaded, recipe, converter.base, folder, None)
        paths[variant] = converter.convert(lambda: loaded, recipe, variant, folder, base)
    return paths


def _runtimes(converter, path, loaded, recipe) -> dict:
    """The real runtime where it runs here, and the stand-in (artifact weights in the torch graph) where there is one."""
    found = {}
    try:
        found["runtime"] = converter.load(path, loaded.spec, recipe)
    except PlatformNotAvailable:
        pass
    if converter.stand_in is not None:
        found["stand-in"] = converter.stand_in(path, loaded, recipe)
    return found


def _embed(runtime, loaded, recipe):
    return workbench.embed(replace(loaded, encoder=runtime.encode, precision="artifact"), TEXTS, recipe)


@pytest.mark.parametrize("fmt", ["onnx", "mlx", "coreml"])
def test_every_artifact_outputs_the_final_embedding_and_matches_torch(tiny, tmp_path, fmt):
    loaded, recipe, reference = tiny
    converter = registry.get(fmt)
    paths = _build_all(converter, loaded, recipe, tmp_path)
    thresholds = MIN_COSINE[fmt][loaded.spec.architecture] if fmt == "coreml" else MIN_COSINE[fmt]
    cosines = {}
    for variant, path in paths.items():
        shape = converter.output_shape(path)
        assert len(shape) == 2 and shape[1] == loaded.spec.dim, (variant, shape)  # [batch, dim], nothing stacked
        runtimes = _runtimes(converter, path, loaded, recipe)
        assert runtimes, f"{fmt} {variant} can neither run here nor be stood in for"
        for how, runtime in runtimes.items():
            test = _embed(runtime, loaded, recipe)
            assert np.allclose(np.linalg.norm(test.vectors, axis=1), 1.0, atol=1e-4), "L2 happens inside the artifact"
            cosines[variant, how] = _cosine(reference, test)
    assert all(c >= thresholds[v] for (v, _), c in cosines.items()), cosines
    if fmt == "mlx":  # the MLX runtime and its torch stand-in compute the same vectors
        assert all(abs(cosines[v, "runtime"] - cosines[v, "stand-in"]) < 1e-3 for v in paths), cosines
    cosines = {v: c for (v, how), c in cosines.items() if how == ("runtime" if fmt == "onnx" else "stand-in")}
    sizes = {v: dir_size_bytes(p) for v, p in paths.items()}
    if fmt == "coreml":
        assert sizes["fp32"] > sizes["fp16"] > sizes["int8"] > sizes["int4"]
        assert cosines["int8"] < 1.0 and cosines["palette4"] < cosines["palette8"], "compression left weights as they were"
    else:
        assert sizes["fp32"] > sizes[list(converter.variants)[-1]], sizes


@pytest.mark.parametrize("fmt", ["onnx", "mlx", "coreml"])
def test_an_input_of_special_tokens_alone_runs_through_every_artifact(tiny, tmp_path, fmt):
    """An empty corpus document is its special tokens alone, padded to the artifact's fixed length."""
    loaded, recipe, _ = tiny
    if loaded.spec.architecture == "decoder":  # the tiny Qwen3's <|endoftext|> row is zero (it is also its pad
        with torch.no_grad():  # token): alone it embeds to nothing. A trained row is not zero; give it one.
            model = type(loaded.model).from_pretrained(loaded.source)
            model.embed_tokens.weight[loaded.tokenizer.eos_token_id] = torch.randn(model.config.hidden_size)
        model.save_pretrained(tmp_path / "model", safe_serialization=True)  # MLX converts from the folder
        loaded.tokenizer.save_pretrained(tmp_path / "model")
        loaded = workbench.load_model(str(tmp_path / "model"))
    converter = registry.get(fmt)
    path = _build_all(converter, loaded, recipe, tmp_path, ["fp32"])["fp32"]
    texts = ["", "wifi password"]
    reference = workbench.embed(loaded, texts, recipe)
    assert reference.n_tokens[0] in (1, 2)  # [CLS] [SEP], or Qwen3's <|endoftext|>
    for how, runtime in _runtimes(converter, path, loaded, recipe).items():
        test = workbench.embed(replace(loaded, encoder=runtime.encode, precision="artifact"), texts, recipe)
        cosines = metrics.cosine_rows(reference.vectors, test.vectors)
        assert cosines.min() >= PARITY_MIN_COSINE, (how, cosines)


def test_coreml_maps_every_compressed_weight_back(tiny, tmp_path):
    loaded, recipe, _ = tiny
    path = _build_all(registry.get("coreml"), loaded, recipe, tmp_path, ["int4"])["int4"]
    embedding_graph = graph.EmbeddingGraph(loaded, recipe)
    state = coreml.decompressed_state_dict(path, embedding_graph)
    assert set(coreml.compressible_parameters(embedding_graph)) <= set(state), "a compressed weight was not mapped back"
    if loaded.dense_layers:
        assert "dense.0.weight" in state, "the Dense head is inside the package"


def test_coreml_weight_shapes_from_the_spec_match_coremltools_metadata(tiny, tmp_path):
    import coremltools as ct
    import coremltools.optimize.coreml as cto

    loaded, recipe, _ = tiny
    package = ct.models.MLModel(str(coreml.convert(lambda: loaded, recipe, "fp16", tmp_path)), skip_model_load=True)
    metadata = cto.get_weights_metadata(package, weight_threshold=coreml.WEIGHT_THRESHOLD)
    shapes = coreml.weight_shapes(package)
    assert shapes == {name: tuple(meta.val.shape) for name, meta in metadata.items()}
    assert len(shapes) >= 1 + 2 * 2  # the token table and, per layer, at least the two FFN matrices


@pytest.mark.parametrize("variant, max_row_error", [("int8", 0.01), ("int4", 0.15)])
def test_coreml_folded_table_is_quantized_per_row(tmp_path, variant, max_row_error):
    """A [1, rows, width] constant (a sliced position table) with one outlier row keeps every other row accurate.

    coremltools' own choice for such a constant is its size-1 axis, one scale for the whole table: the
    outlier then leaves the other rows with ~100 % error. Bounds: int8 per row ~0.3 %, int4 per block ~9 %.
    """
    import coremltools as ct
    import coremltools.optimize.coreml as cto
    from coremltools.converters.mil import Builder as mb

    table = np.random.default_rng(0).standard_normal((1, 128, 64)).astype(np.float32) * 0.02
    table[0, 0, 0] = 2.0  # one outlier, as real position tables have

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 128, 64))], opset_version=ct.target.iOS18)
    def program(x):
        return mb.add(x=x, y=table)

    source = tmp_path / "table.mlpackage"
    ct.convert(program, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS18).save(str(source))
    with pytest.MonkeyPatch.context() as patch:  # the per-row configs come from the spec: no second read of values
        patch.setattr(cto, "get_weights_metadata", lambda *a, **k: pytest.fail("read every weight's values"))
        out = coreml.compress(source, variant, tmp_path / f"table_{variant}.mlpackage")
    decompressed = cto.decompress_weights(ct.models.MLModel(str(out), skip_model_load=True))
    (meta,) = [m for m in cto.get_weights_metadata(decompressed, weight_threshold=2048).values()]
    value = np.asarray(meta.val, dtype=np.float32)[0, 1:]
    assert np.linalg.norm(value - table[0, 1:]) / np.linalg.norm(table[0, 1:]) < max_row_error


def test_coreml_encoder_pads_each_text_to_the_traced_shape_on_the_model_side():
    class FakePackage:  # stands in for MLModel.predict (macOS only): the embedding is [sum of ids, real tokens]
        def __init__(self):
            self.inputs = []

        def predict(self, inputs):
            ids, mask = inputs["input_ids"], inputs["attention_mask"]
            self.inputs.append((ids.shape, ids.dtype, ids[0].tolist()))
            return {"embedding": np.array([[float((ids * mask).sum()), float(mask.sum())]], np.float32)}

    package = FakePackage()
    ids, mask = np.array([[5, 6, 7], [8, 9, 0]]), np.array([[1, 1, 1], [1, 1, 0]])
    out = coreml.predict_encoder(package, max_length=5, side="left")(ids, mask)
    assert [(shape, dtype) for shape, dtype, _ in package.inputs] == [((1, 5), np.int32)] * 2  # one text at a time
    assert package.inputs[0][2] == [0, 0, 5, 6, 7]  # left padding, as a decoder's tokenizer pads
    assert out.tolist() == [[18.0, 3.0], [17.0, 2.0]]
    with pytest.raises(ValueError, match="at most 2 tokens; got 3"):
        coreml.predict_encoder(package, max_length=2, side="right")(ids, mask)


def test_coreml_prediction_is_refused_off_macos_and_the_row_says_why(monkeypatch, tmp_path, tiny_bert_dir):
    monkeypatch.setattr(coreml, "can_predict", lambda: False)
    with pytest.raises(PlatformNotAvailable, match="not measured on this platform: Core ML prediction needs macOS"):
        coreml.package(tmp_path / "model.mlpackage")
    with pytest.raises(ValueError, match="compute units 'GPU' are not known"):
        coreml.package(tmp_path / "model.mlpackage", "GPU")
    loaded = workbench.load_model(str(tiny_bert_dir))
    recipe = workbench.Recipe(max_length=8, last_n_layers=1)
    path = coreml.convert(lambda: loaded, recipe, "fp16", tmp_path)
    with pytest.raises(PlatformNotAvailable, match="not measured on this platform"):
        coreml.load(path, loaded.spec, recipe)
    assert "not the Core ML runtime" in coreml.stand_in(path, loaded, recipe).description


def test_onnx_artifact_takes_any_batch_at_the_fixed_length(tiny_bert_dir, tmp_path):
    loaded = workbench.load_model(str(tiny_bert_dir))
    recipe = workbench.Recipe(max_length=7, last_n_layers=1)
    runtime = onnx.load(onnx.convert(lambda: loaded, recipe, "fp32", tmp_path), loaded.spec, recipe)
    assert runtime.encode(np.ones((3, 7), np.int64), np.ones((3, 7), np.int64)).shape == (3, 32)
    assert runtime.encode(np.ones((1, 4), np.int64), np.ones((1, 4), np.int64)).shape == (1, 32)  # padded to 7
    with pytest.raises(ValueError, match="at most 7 tokens; got 9"):
        runtime.encode(np.ones((1, 9), np.int64), np.ones((1, 9), np.int64))


def test_l2_inside_the_graph_survives_fp16_range_values():
    big = torch.full((2, 384), 3000.0, dtype=torch.float16)  # squares sum to 3.5e9: inf in fp16 without rescaling
    big[1, 0] = -60000.0
    unit = graph.l2_normalize(big)
    assert torch.isfinite(unit).all()
    assert torch.allclose(unit.float().norm(dim=1), torch.ones(2), atol=2e-3)


def test_mlx_converts_and_loads_a_family_it_cannot_walk_but_refuses_to_run_it(tmp_path):
    """EmbeddingGemma converts and loads (size, load RSS); encoding it says why not, instead of a wrong vector."""
    import numpy as np

    from workbench.core.architectures import architecture, random_model

    arch = architecture("embeddinggemma-300m").scaled(name="tiny gemma", hidden_size=64, num_hidden_layers=2,
                                                       intermediate_size=128, num_attention_heads=2,
                                                       num_key_value_heads=1, head_dim=32, vocab_size=1000)
    recipe = workbench.Recipe(max_length=8, last_n_layers=1, pooling="mean")
    path = mlx.convert(lambda: random_model(arch, "fp16"), recipe, "q4", tmp_path)
    runtime = mlx.load(path)
    assert not runtime.representative
    ids = np.ones((1, 8), dtype=np.int64)
    with pytest.raises(PlatformNotAvailable, match="this one is 'gemma3_text' \\(converted and loaded, not run\\)"):
        runtime.encode(ids, np.ones_like(ids))


def test_coreml_preflight_names_the_numpy_fix(monkeypatch):
    monkeypatch.setattr(np, "__version__", "2.4.1")
    with pytest.raises(PlatformNotAvailable, match=r"numpy 2.4.1 breaks coremltools 9.0.*pip install 'numpy<2.4'"):
        coreml.preflight()


@pytest.mark.parametrize("module, missing, fix", [(onnx, "onnxruntime", "pip install onnxruntime"),
                                                   (coreml, "coremltools", "pip install coremltools==9.0"),
                                                   (mlx, "mlx_embeddings", "pip install 'mlx\\[cpu\\]' mlx-embeddings")])
def test_preflight_names_a_missing_package(monkeypatch, module, missing, fix):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == missing else real(name, *a))
    with pytest.raises(PlatformNotAvailable, match=fix):
        module.preflight()


def test_every_registered_format_offers_the_same_interface():
    assert set(registry.CONVERTERS) == {"onnx", "onnx-lean", "coreml", "coreml-lean", "mlx"}
    for converter in registry.CONVERTERS.values():
        assert converter.variants and all(isinstance(d, str) and d for d in converter.variants.values())
        assert converter.base is None or converter.base in converter.variants
        assert all(callable(f) for f in (converter.preflight, converter.load, converter.output_shape))
        builds = converter.convert if converter.conversion_path == "plain" else converter.convert_from_source
        assert callable(builds), converter.name  # the plain path converts a model, the lean one a weight source
    with pytest.raises(TypeError, match="give exactly one of convert and convert_from_source"):
        replace(registry.get("onnx"), convert_from_source=registry.get("coreml-lean").convert_from_source)
    with pytest.raises(ValueError, match="format 'onxx' is not known; did you mean 'onnx'"):
        registry.get("onxx")


def test_fixed_shape_pads_on_the_model_side():
    ids, mask = np.array([[4, 5]]), np.array([[1, 1]])
    left = registry.fixed_shape(ids, mask, 4, "left")
    right = registry.fixed_shape(ids, mask, 4, "right")
    assert left[0].tolist() == [[0, 0, 4, 5]] and left[1].tolist() == [[0, 0, 1, 1]]
    assert right[0].tolist() == [[4, 5, 0, 0]] and right[1].tolist() == [[1, 1, 0, 0]]


def test_onnx_weights_past_the_protobuf_limit_go_to_an_external_file(tiny_bert_dir, tmp_path, monkeypatch):
    """Full-size models (Qwen3 0.6B fp32 is 2.4 GB) exceed protobuf's 2 GB: the derived graphs must keep working."""
    monkeypatch.setattr(onnx, "PROTOBUF_LIMIT", 1000)  # the tiny BERT's weights then count as large
    loaded = workbench.load_model(str(tiny_bert_dir))
    recipe = workbench.Recipe(max_length=8, last_n_layers=1)
    base = onnx.convert(lambda: loaded, recipe, "fp32", tmp_path)
    for variant in ("fp16", "int8"):
        folder = onnx.convert(lambda: loaded, recipe, variant, tmp_path, base)
        assert len(list(folder.iterdir())) == 2, f"{variant}: model.onnx and its external weights"
        vectors = onnx.load(folder, loaded.spec, recipe).encode(np.ones((2, 8), np.int64), np.ones((2, 8), np.int64))
        assert vectors.shape == (2, 32) and np.isfinite(vectors).all()


@pytest.mark.parametrize("name", ["mean", "mean_unmasked", "cls", "last_token", "max"])
def test_mlx_pooling_matches_torch_pooling_under_left_and_right_padding(name):
    mx = pytest.importorskip("mlx.core")
    from workbench.core.pooling import pool

    hidden = np.random.default_rng(0).standard_normal((3, 6, 4)).astype(np.float32)
    hidden[:, :, 0] = -3e38  # real values near the dtype's lowest: max's padding filler must still lose to them
    mask = np.array([[1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    expected = pool(name, torch.from_numpy(hidden), torch.from_numpy(mask)).numpy()
    got = np.array(mlx._pool(name, mx.array(hidden), mask))
    if name.startswith("mean"):  # summation order differs
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    else:  # a selection: padding excluded exactly
        np.testing.assert_array_equal(got, expected)
