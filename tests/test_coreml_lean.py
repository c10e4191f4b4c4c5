"""The lean Core ML path: a Qwen3 converted chunk by chunk and joined is the plain path's artifact (issue 26, item 3).

Every comparison is against the plain path (`coreml.convert` fp16, then `coreml.compress`) on the same weights:
the same declared inputs and output, the same decompressed weights tensor by tensor, the same stand-in embeddings.
Two fixtures: the shared tiny Qwen3 (hidden 32), where only the token table is large enough for coremltools to
compress (it leaves constants of 2048 values or fewer alone), and a wider one built here (hidden 64, norms not all
ones, a Dense head) whose every layer weight, norm and Dense weight reaches the package.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
from coremltools.proto.FeatureTypes_pb2 import ArrayFeatureType

import workbench
from workbench.convert import chunks, coreml, coreml_lean
from workbench.convert.graph import EmbeddingGraph, eager
from workbench.core import metrics
from workbench.core.architectures import architecture, random_model
from workbench.core.models import ModelNotAvailableError
from workbench.core.precision import PlatformNotAvailable

from texts import TEXTS

# The same quantizer on the same fp16 tensor gives the same values: the plain and the lean package hold bit-equal
# weights (measured: 0.0 difference on every tensor), so the comparison is exact. The stand-ins differ only where
# the lean one rounds hidden states to fp16 between chunks (measured: cosine >= 0.99999995, both fixtures).
WEIGHT_TOLERANCE = 0.0
MIN_COSINE = 0.99999
VARIANTS = tuple(coreml_lean.VARIANTS)  # fp16, int8, int4, palette4


@pytest.fixture(scope="module")
def wide_qwen3_dir(tmp_path_factory, tiny_qwen3_dir):
    """The tiny fixture's tokenizer with a Qwen3 wide enough to compress (hidden 64), norms drawn at random (a
    weight of ones leaves no constant in the package) and a sentence-transformers Dense 64 -> 96 head with Tanh."""
    from safetensors.torch import save_file
    from transformers import Qwen3Config, Qwen3Model

    folder = tmp_path_factory.mktemp("wide-qwen3") / "model"
    shutil.copytree(tiny_qwen3_dir, folder)
    torch.manual_seed(3)
    config = Qwen3Config(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=256,
                         pad_token_id=0, eos_token_id=0)
    model = Qwen3Model(config)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("norm.weight"):
                parameter.uniform_(0.5, 1.5)
    model.save_pretrained(folder, safe_serialization=True)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
               {"idx": 3, "name": "3", "path": "3_Normalize", "type": "sentence_transformers.models.Normalize"}]
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 64,
                                                                  "pooling_mode": "lasttoken"}))
    (folder / "2_Dense").mkdir()
    (folder / "2_Dense" / "config.json").write_text(json.dumps({
        "in_features": 64, "out_features": 96, "bias": True,
        "activation_function": "torch.nn.modules.activation.Tanh"}))
    save_file({"linear.weight": torch.randn(96, 64) / 8, "linear.bias": torch.randn(96) / 8},
              str(folder / "2_Dense" / "model.safetensors"))
    return folder


class Built:
    """One model folder converted both ways, each of `variants`; the lean package one layer a chunk."""

    def __init__(self, folder, recipe_args: dict, variants, out, wide: bool = False):
        self.folder, self.wide = folder, wide
        self.loaded = workbench.load_model(str(folder))
        self.recipe = workbench.Recipe(**{"max_length": 16, "pooling": self.loaded.spec.pooling, **recipe_args})
        self.graph = EmbeddingGraph(eager(self.loaded), self.recipe)
        self.source = chunks.SafetensorsSource(folder)
        fp16 = coreml.convert(lambda: self.loaded, self.recipe, "fp16", out)
        self.plain = {v: fp16 if v == "fp16" else coreml.convert(lambda: self.loaded, self.recipe, v, out, fp16)
                      for v in variants}
        # as the pipeline builds them: the lean fp16 package first, each compression made from it
        lean_fp16 = coreml_lean.convert_lean(self.source, self.recipe, "fp16", out, layers_per_chunk=1)
        self.lean = {v: lean_fp16 if v == "fp16" else coreml_lean.convert_lean(self.source, self.recipe, v, out,
                                                                               base=lean_fp16) for v in variants}

    def embed(self, runtime):
        return workbench.embed(replace(self.loaded, encoder=runtime.encode, precision="artifact"), TEXTS, self.recipe)


@pytest.fixture(scope="module", params=["tiny_qwen3_dir", "wide_qwen3_dir"])
def built(request, tmp_path_factory) -> Built:
    return Built(request.getfixturevalue(request.param), {"last_n_layers": 1}, VARIANTS,
                 tmp_path_factory.mktemp("built"), wide=request.param == "wide_qwen3_dir")


def _spec(path):
    import coremltools as ct

    return ct.models.MLModel(str(path), skip_model_load=True).get_spec()


def test_chunks_cover_every_layer_once_and_the_last_holds_the_averaged_layers():
    def ranges(plan):
        return [(c.start, c.stop) for c in plan[1:]]

    plan = chunks.plan_chunks(36, 4, 4)  # Qwen3-Embedding-4B with the seed recipe
    assert plan[0].table and not plan[0].layers and plan[0].input_name == "input_ids"
    assert ranges(plan) == [(i, i + 4) for i in range(0, 36, 4)]
    assert [c.head for c in plan] == [False] * 9 + [True] and plan[-1].output_name == "embedding"
    assert [c.input_name for c in plan[1:]] == [c.output_name for c in plan[:-1]]  # each reads the one before
    assert ranges(chunks.plan_chunks(28, 4, 5)) == [(0, 5), (5, 10), (10, 15), (15, 20), (20, 23), (23, 28)]
    assert ranges(chunks.plan_chunks(28, 4, 1))[-1] == (24, 28)  # last-N averaging needs its 4 layers together
    assert ranges(chunks.plan_chunks(2, 2, 8)) == [(0, 2)]
    with pytest.raises(ValueError, match="token table's output"):
        chunks.plan_chunks(2, 3, 1)
    with pytest.raises(ValueError, match="layers_per_chunk must be >= 1"):
        chunks.plan_chunks(2, 1, 0)


def test_lean_package_declares_the_plain_inputs_and_output(built):
    n_layers, width = built.source.config.num_hidden_layers, built.source.config.hidden_size
    for variant in VARIANTS:
        lean, plain = _spec(built.lean[variant]), _spec(built.plain[variant])
        assert list(lean.description.input) == list(plain.description.input), variant
        assert list(lean.description.output) == list(plain.description.output), variant
        assert coreml_lean.output_shape(built.lean[variant]) == (1, built.loaded.spec.dim)
        models = lean.pipeline.models  # the token table, then one layer a chunk
        assert [(m.description.input[0].name, m.description.output[0].name) for m in models] == \
            [("input_ids", "hidden_0"), *[(f"hidden_{i}", f"hidden_{i + 1}") for i in range(n_layers - 1)],
             (f"hidden_{n_layers - 1}", "embedding")]
        between = models[0].description.output[0].type.multiArrayType
        assert (list(between.shape), between.dataType) == ([1, 16, width], ArrayFeatureType.FLOAT16)
        weights = sorted(p.name for p in (built.lean[variant] / "Data" / "com.apple.CoreML" / "weights").iterdir())
        assert weights == [f"{i}-weight.bin" for i in range(n_layers + 1)]
        assert not list(built.lean[variant].parent.glob(".lean-*")), "the chunks' scratch folder was left behind"


@pytest.mark.parametrize("variant", VARIANTS)
def test_lean_weights_decompressed_equal_the_plain_paths(built, variant):
    plain = coreml.decompressed_state_dict(built.plain[variant], built.graph)
    lean = coreml_lean.decompressed_state_dict(built.lean[variant], built.graph)
    assert set(lean) == set(plain)
    assert set(coreml.compressible_parameters(built.graph)) <= set(lean)
    differences = {name: float((lean[name] - plain[name]).abs().max()) for name in plain}
    assert max(differences.values()) <= WEIGHT_TOLERANCE, {k: d for k, d in differences.items() if d}
    with pytest.raises(ValueError, match="not a pipeline of chunks"):
        coreml_lean.decompressed_state_dict(built.plain[variant], built.graph)
    if built.wide:  # every tensor reaches the package (the tiny fixture's norms of ones leave no constant)
        assert set(lean) == set(built.graph.state_dict())
    if variant != "fp16":  # the compression ran in every chunk: each compressible tensor moved off its fp16 value
        fp16 = coreml_lean.decompressed_state_dict(built.lean["fp16"], built.graph)
        assert all(not torch.equal(lean[n], fp16[n]) for n in coreml.compressible_parameters(built.graph))


@pytest.mark.parametrize("variant", VARIANTS)
def test_lean_stand_in_embeds_as_the_plain_one(built, variant):
    lean_runtime = coreml_lean.stand_in(built.lean[variant], built.loaded, built.recipe)
    plain = built.embed(coreml.stand_in(built.plain[variant], built.loaded, built.recipe))
    lean = built.embed(lean_runtime)
    assert lean.vectors.shape == (len(TEXTS), built.loaded.spec.dim)
    assert metrics.cosine_rows(plain.vectors, lean.vectors).min() >= MIN_COSINE
    assert f"{built.source.config.num_hidden_layers + 1}, fp16 between them" in lean_runtime.description


def test_last_n_layers_are_averaged_inside_the_last_chunk(tiny_qwen3_dir, tmp_path):
    """Two layers averaged, mean pooling: both layers sit in the last chunk, the average happens there."""
    case = Built(tiny_qwen3_dir, {"last_n_layers": 2, "pooling": "mean"}, ["fp16"], tmp_path)
    assert [(c.start, c.stop) for c in coreml_lean.read_plan(case.lean["fp16"])[1:]] == [(0, 2)]
    plain = case.embed(coreml.stand_in(case.plain["fp16"], case.loaded, case.recipe))
    lean = case.embed(coreml_lean.stand_in(case.lean["fp16"], case.loaded, case.recipe))
    last_only = replace(case.recipe, last_n_layers=1)  # a chunk that dropped the average would embed like this
    single = workbench.embed(case.loaded, TEXTS, last_only)
    gap = 1 - metrics.cosine_rows(plain.vectors, lean.vectors)
    assert gap.max() <= 1 - MIN_COSINE
    # Random layers near the identity keep the two recipes close (1 - cosine about 7e-5), yet 100 times further
    # apart than the lean and the plain artifact are.
    assert gap.max() < (1 - metrics.cosine_rows(single.vectors, lean.vectors)).min() / 100


def test_the_spec_comes_from_the_folder_as_load_model_reads_it(built):
    assert built.source.spec == built.loaded.spec
    if built.wide:  # its Dense head
        assert built.source.dense_head == ((64, 96, True, "Tanh"),) and built.loaded.spec.dim == 96


def test_coreml_predict_path_runs_the_joined_package_unchanged(built):
    """`coreml.predict_encoder` feeds an MLModel of the joined package: what it sends must be what the package
    declares, and what it reads what the package returns. Predicting needs macOS, so a stand-in answers."""
    spec = _spec(built.lean["int8"])
    declared = {i.name: (tuple(i.type.multiArrayType.shape), i.type.multiArrayType.dataType)
                for i in spec.description.input}
    (output,) = [o.name for o in spec.description.output]
    runtime = coreml_lean.stand_in(built.lean["int8"], built.loaded, built.recipe)

    class JoinedPackage:
        def predict(self, data: dict) -> dict:
            assert {k: (v.shape, v.dtype) for k, v in data.items()} == \
                {k: (shape, np.dtype(np.int32)) for k, (shape, _) in declared.items()}
            assert all(dtype == ArrayFeatureType.INT32 for _, dtype in declared.values())
            return {output: runtime.encode(data["input_ids"].astype(np.int64), data["attention_mask"].astype(np.int64))}

    tokens = built.loaded.tokenizer(TEXTS[:4], padding="longest", truncation=True, max_length=built.recipe.max_length,
                                    return_tensors="np")
    ids, mask = tokens["input_ids"], tokens["attention_mask"]
    encoded = coreml.predict_encoder(JoinedPackage(), built.recipe.max_length, built.loaded.spec.padding_side)(ids, mask)
    assert encoded.shape == (4, built.loaded.spec.dim) and encoded.dtype == np.float32
    assert np.allclose(encoded, runtime.encode(ids, mask), atol=1e-6)  # text by text as the whole batch embeds


def test_a_compression_made_from_the_lean_fp16_package_reads_no_weight_and_equals_one_made_from_the_source(
        tiny_qwen3_dir, tmp_path, monkeypatch):
    source = chunks.SafetensorsSource(tiny_qwen3_dir)
    recipe = workbench.Recipe(max_length=16, last_n_layers=1, pooling="last_token")
    direct = coreml_lean.convert_lean(source, recipe, "int8", tmp_path / "direct", layers_per_chunk=1)
    fp16 = coreml_lean.convert_lean(source, recipe, "fp16", tmp_path / "base", layers_per_chunk=1)

    def no_reads(chunk, names):
        raise AssertionError(f"chunk {chunk.index} read its weights again")

    monkeypatch.setattr(source, "chunk_state", no_reads)
    derived = coreml_lean.convert_lean(source, recipe, "int8", tmp_path / "derived", base=fp16)
    assert sorted(p.name for p in (tmp_path / "derived").iterdir()) == ["model_int8_lean.mlpackage"]  # no scratch
    assert coreml_lean.read_plan(derived) == coreml_lean.read_plan(direct)
    graph = EmbeddingGraph(eager(workbench.load_model(str(tiny_qwen3_dir))), recipe)
    a, b = coreml_lean.decompressed_state_dict(direct, graph), coreml_lean.decompressed_state_dict(derived, graph)
    assert set(coreml.compressible_parameters(graph)) <= a.keys() == b.keys()
    assert all(torch.equal(a[name], b[name]) for name in a)
    with pytest.raises(ValueError, match="lean Core ML compresses to int8, int4, palette4; got 'fp16'"):
        coreml_lean.compress_lean(fp16, "fp16", tmp_path / "again")


def test_each_tensor_is_read_once_and_only_with_its_chunk(tiny_qwen3_dir, tmp_path, monkeypatch):
    """Conversion memory follows the chunk: a chunk reads its own tensors alone, from the file, and every tensor is
    read exactly once over the whole conversion."""
    import safetensors

    reads: list[tuple[int, str]] = []
    current = {"chunk": -1}
    real_open = safetensors.safe_open

    class CountingOpen:
        def __init__(self, *args, **kwargs):
            self.handle = real_open(*args, **kwargs)

        def __enter__(self):
            self.inner = self.handle.__enter__()
            return self

        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

        def keys(self):
            return self.inner.keys()

        def get_tensor(self, key):
            reads.append((current["chunk"], key))
            return self.inner.get_tensor(key)

    monkeypatch.setattr(safetensors, "safe_open", CountingOpen)
    source = chunks.SafetensorsSource(tiny_qwen3_dir)
    chunk_state = source.chunk_state

    def tracked(chunk, names):
        current["chunk"] = chunk.index
        return chunk_state(chunk, names)

    monkeypatch.setattr(source, "chunk_state", tracked)
    recipe = workbench.Recipe(max_length=16, last_n_layers=1, pooling="last_token")
    coreml_lean.convert_lean(source, recipe, "fp16", tmp_path, layers_per_chunk=1)
    with real_open(str(tiny_qwen3_dir / "model.safetensors"), framework="pt") as handle:
        stored = set(handle.keys())
    assert sorted(key for _, key in reads) == sorted(stored)  # each once, none left out
    assert {key for chunk, key in reads if chunk == 0} == {"embed_tokens.weight"}
    assert {key for chunk, key in reads if chunk == 1} == {k for k in stored if k.startswith("layers.0.")}
    assert {key for chunk, key in reads if chunk == 2} == {k for k in stored if k.startswith("layers.1.")} | \
        {"norm.weight"}


TINY_ARCH = dict(hidden_size=32, num_hidden_layers=3, intermediate_size=64, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=8, vocab_size=512)


def test_random_chunks_come_from_seeds_of_their_own_and_repeat_exactly(tmp_path):
    arch = architecture("qwen3-embedding-0.6b").scaled(name="tiny qwen3", **TINY_ARCH)
    recipe = workbench.Recipe(max_length=16, last_n_layers=1, pooling="last_token")
    plan = chunks.plan_chunks(3, 1, 1)
    source = chunks.RandomSource(arch, seed=7)
    first, again = (chunks.build_chunk(source, plan[1], recipe).state_dict() for _ in range(2))
    second = chunks.build_chunk(source, plan[2], recipe).state_dict()
    other_seed = chunks.build_chunk(chunks.RandomSource(arch, seed=8), plan[1], recipe).state_dict()
    q0, q1 = "model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.q_proj.weight"
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first[q0], second[q1]) and not torch.equal(first[q0], other_seed[q0])
    assert first[q0].dtype == torch.float16 and set(second) == {k.replace(".0.", ".1.") for k in first}
    std = source.config.initializer_range  # transformers' own init: normal(0, initializer_range), norms at one
    assert 0.8 * std < float(first[q0].float().std()) < 1.2 * std
    assert bool((first["model.layers.0.input_layernorm.weight"] == 1).all())
    assert len({chunks.chunk_seed(7, 1), chunks.chunk_seed(7, 2), chunks.chunk_seed(8, 1)}) == 3

    path = coreml_lean.convert_lean(source, recipe, "fp16", tmp_path, layers_per_chunk=1)
    assert coreml_lean.output_shape(path) == (1, 32) and len(_spec(path).pipeline.models) == 4
    graph = EmbeddingGraph(eager(random_model(arch, "fp32")), recipe)  # only its names and shapes are read
    stored = coreml_lean.decompressed_state_dict(path, graph)
    table = chunks.build_chunk(source, plan[0], recipe).state_dict()["model.embed_tokens.weight"]
    assert torch.equal(stored["model.embed_tokens.weight"], table.float())
    assert torch.equal(stored[q1], second[q1].float())  # the package holds the chunk's own seeded weights


def test_what_the_lean_path_cannot_convert_is_refused_with_the_fix(tiny_bert_dir):
    with pytest.raises(ModelNotAvailableError, match="someorg/some-model is not in the local Hugging Face cache"):
        chunks.SafetensorsSource("someorg/some-model")
    with pytest.raises(PlatformNotAvailable, match=r"Qwen3 decoders .* is 'bert'\. Fix: use the plain Core ML path"):
        chunks.SafetensorsSource(tiny_bert_dir)
    with pytest.raises(PlatformNotAvailable, match=r"embeddinggemma-300m is 'gemma3_text'.*plain Core ML path"):
        chunks.RandomSource("embeddinggemma-300m")
    with pytest.raises(ValueError, match="lean Core ML variant 'palette8' is not known; choose from fp16, int8, int4, "
                                         "palette4"):
        coreml_lean.convert_lean(chunks.RandomSource("qwen3-embedding-0.6b"), workbench.Recipe(), "palette8", ".")
