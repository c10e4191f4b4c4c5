"""ONNX int8 quantized chunk by chunk, so quantization memory follows the chunk, not the model.

The plain path (onnx.py) exports the whole fp32 graph and runs onnxruntime's `quantize_dynamic` on it, which holds
the fp32 model and its quantized copy at once: about 11.7 GB per billion parameters here, so 4B was never measured
(issue 26, item 6). Here a Qwen3 decoder is cut as the lean Core ML path cuts it (`chunks.plan_chunks`); each chunk
is exported in fp32 from its own weights, quantized by the same `quantize_dynamic` call with its weights written to
a data file of its own, and dropped. The chunks' graphs, read without their weights, are then joined into one
model.onnx whose tensors point into those data files, so no step holds more than one chunk. The artifact declares
the plain one's inputs and output and runs in ONNX Runtime unchanged.
"""

from __future__ import annotations

import gc
import shutil
import tempfile
from pathlib import Path

import torch

from workbench.convert import chunks, onnx
from workbench.convert.chunks import LAYERS_PER_CHUNK, Chunk, WeightSource, build_chunk, check_qwen3, plan_chunks
from workbench.convert.graph import OUTPUT_NAME
from workbench.convert.registry import Converter, register
from workbench.core.embedding import Recipe
from workbench.core.models import LoadedModel

VARIANTS = {"int8": onnx.VARIANTS["int8"]}


def _export_chunk(source: WeightSource, chunk: Chunk, recipe: Recipe, path: Path) -> None:
    """One chunk in fp32 through the exporter the plain path uses, batch dynamic, tokens fixed."""
    module = build_chunk(source, chunk, recipe).float()
    length = recipe.max_length
    example: tuple[torch.Tensor, ...]
    if chunk.table:
        names, example = ["input_ids"], (torch.ones(2, length, dtype=torch.long),)
    else:
        names = [chunk.input_name, "attention_mask"]
        example = (torch.zeros(2, length, source.config.hidden_size), torch.ones(2, length, dtype=torch.long))
    axes = {name: {0: "batch"} for name in (*names, chunk.output_name)}
    with torch.no_grad():
        torch.onnx.export(module, example, str(path), input_names=names, output_names=[chunk.output_name],
                          dynamic_axes=axes, opset_version=onnx.OPSET, dynamo=False)


def _prefixed(graph, prefix: str, keep: set[str]) -> None:
    """Give every name of the chunk's graph that is not part of the interface between chunks the chunk's prefix,
    so the joined graph has no two values, nodes or initializers of one name."""
    def rename(name: str) -> str:
        return name if not name or name in keep else f"{prefix}{name}"

    for node in graph.node:
        node.name = rename(node.name)
        node.input[:] = [rename(n) for n in node.input]
        node.output[:] = [rename(n) for n in node.output]
    for item in (*graph.initializer, *graph.value_info):
        item.name = rename(item.name)


def _join(parts: list[Path], plan: tuple[Chunk, ...]):
    """One ModelProto of the quantized chunks' graphs, their tensors left in their own data files."""
    import onnx as onnx_lib
    from onnx import helper

    keep = {"input_ids", "attention_mask", OUTPUT_NAME, *(c.output_name for c in plan)}
    models = [onnx_lib.load(str(p), load_external_data=False) for p in parts]
    for k, model in enumerate(models):
        _prefixed(model.graph, f"c{k}/", keep)
    first, last = models[0].graph, models[-1].graph
    mask = next(i for i in models[1].graph.input if i.name == "attention_mask")
    graph = helper.make_graph(
        nodes=[n for m in models for n in m.graph.node], name="embedding_graph_lean",
        inputs=[first.input[0], mask], outputs=list(last.output),
        initializer=[t for m in models for t in m.graph.initializer],
        value_info=[v for m in models for v in m.graph.value_info])
    opsets: dict[str, int] = {}
    for model in models:
        for opset in model.opset_import:
            opsets[opset.domain] = max(opsets.get(opset.domain, 0), opset.version)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()],
                             ir_version=models[0].ir_version, producer_name="workbench onnx-lean")


def convert_lean(source: WeightSource, recipe: Recipe, variant: str, folder, base=None,
                 layers_per_chunk: int = LAYERS_PER_CHUNK) -> Path:
    """Write `variant` (int8) as a folder holding model.onnx and one weights file per chunk (no base: each
    chunk is quantized from its own fp32 export)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if variant not in VARIANTS:
        raise ValueError(f"lean ONNX variant {variant!r} is not known; choose from {', '.join(VARIANTS)}")
    onnx.preflight()
    check_qwen3(source.config.model_type, source.spec.name)
    plan = plan_chunks(source.config.num_hidden_layers, recipe.last_n_layers, layers_per_chunk)
    out = Path(folder) / f"onnx-lean_{variant}"
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".lean-", dir=folder))
    try:
        parts = []
        for chunk in plan:
            fp32 = scratch / f"chunk_{chunk.index}" / "fp32.onnx"
            fp32.parent.mkdir()
            _export_chunk(source, chunk, recipe, fp32)
            part = out / f"chunk_{chunk.index}.onnx"  # its weights: chunk_<i>.onnx.data, beside model.onnx
            quantize_dynamic(str(fp32), str(part), weight_type=QuantType.QInt8, use_external_data_format=True)
            shutil.rmtree(fp32.parent)
            parts.append(part)
            gc.collect()
        import onnx as onnx_lib

        onnx_lib.save(_join(parts, plan), str(out / onnx.MODEL_FILE))
        for part in parts:
            part.unlink()  # the graphs now live in model.onnx; their data files stay
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if onnx.output_shape(out)[1:] != (source.spec.dim,):
        raise RuntimeError(f"{out} declares output {onnx.output_shape(out)}, not (batch, {source.spec.dim})")
    return out


def preflight(loaded: LoadedModel | None = None) -> None:
    """onnx and onnxruntime as the plain path needs them; a model that is not a Qwen3 decoder named up front."""
    onnx.preflight(loaded)
    if loaded is not None:
        check_qwen3(loaded.model.config.model_type, loaded.spec.name)


CONVERTER = register(Converter(
    name="onnx-lean", variants=VARIANTS, base=None, preflight=preflight, convert=None,
    convert_from_source=convert_lean, load=onnx.load, output_shape=onnx.output_shape,
    code=(__file__, chunks.__file__, onnx.__file__), build_precision=lambda variant: "fp16",
    conversion_path="lean", replaces="onnx", model_types=("qwen3",), serving_script=onnx.CONVERTER.serving_script))
