"""The lean ONNX int8 path against the plain one on the wide tiny Qwen3 (hidden 64), each tensor read from its
safetensors: the same declarations, the same int8 tensors, the same embeddings in ONNX Runtime."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import workbench
from workbench.convert import chunks, onnx, onnx_lean
from workbench.core import metrics
from workbench.core.precision import PlatformNotAvailable

from texts import TEXTS
from test_coreml_lean import wide_qwen3_dir  # noqa: F401 - the fixture

# Both int8 graphs quantize their activations per call, so they differ from each other by about as much as each
# differs from fp32: the lean one must keep as much of the fp32 graph as the plain one does.
KEPT_MARGIN = 5e-4
MIN_COSINE = 0.999


@pytest.fixture(scope="module")
def built(wide_qwen3_dir, tmp_path_factory):  # noqa: F811
    loaded = workbench.load_model(str(wide_qwen3_dir))
    recipe = workbench.Recipe(max_length=16, pooling=loaded.spec.pooling, last_n_layers=1)
    out = tmp_path_factory.mktemp("onnx")
    fp32 = onnx.convert(lambda: loaded, recipe, "fp32", out)
    plain = onnx.convert(lambda: loaded, recipe, "int8", out, fp32)
    lean = onnx_lean.convert_lean(chunks.SafetensorsSource(wide_qwen3_dir), recipe, "int8", out, layers_per_chunk=1)
    return loaded, recipe, plain, lean, fp32


def _int8_tensors(folder) -> list[np.ndarray]:
    """Every int8 initializer, its data files read, in a canonical order (names differ between the two graphs)."""
    import onnx as onnx_lib
    from onnx import numpy_helper

    model = onnx_lib.load(str(folder / onnx.MODEL_FILE))
    found = [numpy_helper.to_array(t) for t in model.graph.initializer if t.data_type == onnx_lib.TensorProto.INT8]
    return sorted(found, key=lambda a: (a.shape, np.abs(a.astype(np.int64)).sum()))


def test_lean_onnx_declares_the_plain_inputs_and_output_and_keeps_weights_per_chunk(built):
    import onnx as onnx_lib

    loaded, _, plain, lean, _ = built
    graphs = [onnx_lib.load(str(f / onnx.MODEL_FILE), load_external_data=False).graph for f in (plain, lean)]
    assert [i.SerializeToString() for i in graphs[0].input] == [i.SerializeToString() for i in graphs[1].input]
    assert [o.SerializeToString() for o in graphs[0].output] == [o.SerializeToString() for o in graphs[1].output]
    assert onnx.output_shape(lean) == ("batch", loaded.spec.dim)
    n_layers = loaded.model.config.num_hidden_layers
    assert sorted(p.name for p in lean.iterdir()) == sorted(
        [onnx.MODEL_FILE, *(f"chunk_{i}.onnx.data" for i in range(n_layers + 1))])
    assert not list(lean.parent.glob(".lean-*")), "the chunks' scratch folder was left behind"


def test_lean_onnx_int8_tensors_are_the_plain_ones_within_one_step(built):
    """The lean chunks read each tensor in fp16 (`chunks.SafetensorsSource`), the plain export in the checkpoint's
    fp32: a value that fp16 rounding moves across a quantization boundary lands one int8 step away."""
    _, _, plain, lean, _ = built
    pairs = list(zip(_int8_tensors(plain), _int8_tensors(lean), strict=True))
    assert len(pairs) >= 8 and all(p.shape == q.shape for p, q in pairs)
    steps = [np.abs(p.astype(np.int64) - q.astype(np.int64)) for p, q in pairs]
    assert max(int(s.max()) for s in steps) <= 1
    assert sum(int((s > 0).sum()) for s in steps) <= 0.01 * sum(s.size for s in steps)


def test_lean_onnx_embeds_as_the_plain_one_in_onnx_runtime(built):
    loaded, recipe, plain, lean, fp32 = built
    vectors = [workbench.embed(replace(loaded, encoder=onnx.load(f, loaded.spec, recipe).encode,
                                       precision="artifact"), TEXTS, recipe).vectors for f in (fp32, plain, lean)]
    assert vectors[2].shape == (len(TEXTS), loaded.spec.dim)
    kept = [metrics.cosine_rows(vectors[0], v) for v in vectors[1:]]
    # measured: plain keeps 0.99868 (lowest) / 0.99901 (mean) of fp32, lean 0.99879 / 0.99921
    assert kept[1].min() >= kept[0].min() - KEPT_MARGIN and kept[1].mean() >= kept[0].mean() - KEPT_MARGIN
    assert metrics.cosine_rows(vectors[1], vectors[2]).min() >= MIN_COSINE  # measured 0.99921


def test_lean_onnx_refuses_what_it_cannot_build(tiny_bert_dir):
    with pytest.raises(PlatformNotAvailable, match="Qwen3 decoders"):
        chunks.SafetensorsSource(tiny_bert_dir)
    with pytest.raises(ValueError, match="lean ONNX variant 'fp16' is not known; choose from int8"):
        onnx_lean.convert_lean(chunks.RandomSource("qwen3-embedding-0.6b"), workbench.Recipe(), "fp16", ".")
