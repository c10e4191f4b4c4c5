"""Core ML packages converted chunk by chunk, so conversion memory follows the chunk, not the model.

The plain path (coreml.py) traces the whole EmbeddingGraph, converts it, then compresses the whole fp16 package:
at 4B that peaks at 16 GB, four times the int8 package (issue 26). Here a Qwen3 decoder is cut into chunks
(`chunks.plan_chunks`: the token table alone, then groups of layers, the last with the head). Each chunk is built
from its own weights only, traced, converted to fp16 and saved before the next one exists. `ct.utils.make_pipeline`
then joins the chunks' specs and copies their weight files, without loading them, into one package that declares
the plain package's inputs and output, so `coreml.predict_encoder` (and `coreml.load`) run it unchanged on macOS.
A compressed variant is made from that fp16 package, one chunk at a time with the plain path's configs, and joined
the same way: the chunks are converted once for all variants. Elsewhere the weights, decompressed, run the same
chunks in torch.
"""

from __future__ import annotations

import gc
import json
import shutil
import tempfile
from copy import deepcopy
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from workbench.convert import chunks, coreml
from workbench.convert.chunks import (
    LAYERS_PER_CHUNK,
    Chunk,
    LayerChunk,
    TableChunk,
    WeightSource,
    build_chunk,
    check_qwen3,
    plan_chunks,
)
from workbench.convert.graph import OUTPUT_NAME, EmbeddingGraph, eager
from workbench.convert.registry import Converter, Runtime, fixed_shape, register
from workbench.core.embedding import Recipe
from workbench.core.files import temporary_files_in
from workbench.core.models import LoadedModel

VARIANTS = {name: coreml.VARIANTS[name] for name in ("fp16", "int8", "int4", "palette4")}
PLAN_KEY = "workbench.lean.chunks"  # user-defined metadata: each layer chunk's [start, stop), for the stand-in


def _convert_chunk(source: WeightSource, chunk: Chunk, recipe: Recipe, scratch: Path) -> Path:
    """Build, trace and convert one chunk to fp16; nothing of it stays in memory when it returns."""
    import coremltools as ct

    module = build_chunk(source, chunk, recipe)
    length, width = recipe.max_length, source.config.hidden_size
    if chunk.table:  # a gather: traced in fp16, so the largest chunk never exists in fp32
        example: tuple = (torch.ones(1, length, dtype=torch.long),)
        inputs = [ct.TensorType(name=chunk.input_name, shape=(1, length), dtype=np.int32)]
    else:
        # Layers are traced in fp32, as the plain path traces a checkpoint, then converted to fp16. Traced in fp16
        # they fail when last_n_layers > 1: the torch frontend casts the fp16 hidden input to fp32, so the residual
        # stream runs in fp32 while each RMSNorm casts back to the traced fp16, and the average's `stack` refuses
        # the mix.
        module = module.float()
        example = (torch.zeros(1, length, width), torch.ones(1, length, dtype=torch.long))
        inputs = [ct.TensorType(name=chunk.input_name, shape=(1, length, width), dtype=np.float16),
                  ct.TensorType(name="attention_mask", shape=(1, length), dtype=np.int32)]
    # The last output declared as the plain package declares it; the hidden states between chunks in fp16.
    output = ct.TensorType(name=OUTPUT_NAME) if chunk.head else ct.TensorType(name=chunk.output_name, dtype=np.float16)
    temporary = scratch / f"tmp_{chunk.index}"
    with temporary_files_in(temporary):
        with torch.no_grad():
            traced = torch.jit.trace(module, example)
        del module
        mlmodel = ct.convert(traced, inputs=inputs, outputs=[output], convert_to="mlprogram",
                             minimum_deployment_target=ct.target.iOS18, compute_precision=ct.precision.FLOAT16)
        del traced
        path = scratch / f"chunk_{chunk.index}_fp16.mlpackage"
        mlmodel.save(str(path))
        del mlmodel
        gc.collect()
    shutil.rmtree(temporary)
    return path


def _join(parts: list[Path], plan_metadata: str, path: Path, scratch: Path) -> Path:
    """One pipeline package of the chunk packages `parts` (removed), joined without loading their weights."""
    import coremltools as ct

    join = scratch / "join"
    with temporary_files_in(join):
        pipeline = ct.utils.make_pipeline(*(ct.models.MLModel(str(p), skip_model_load=True) for p in parts))
    # make_pipeline copied the chunks' weights into a package of its own, then into the one it returned: keep
    # that one alone before saving it, so the disk holds the weights twice at the end, not four times.
    for leftover in [*parts, *(p for p in join.iterdir() if p != Path(pipeline.package_path))]:
        shutil.rmtree(leftover)
    pipeline.user_defined_metadata[PLAN_KEY] = plan_metadata
    pipeline.save(str(path))
    return path


def _chunk_package(package: Path, sub, index: int, scratch: Path) -> Path:
    """Sub-model `index` of a pipeline package as a package of its own, its weight file linked, not copied.

    make_pipeline named each sub-model's weight file `{index}-weight.bin` and its spec points there, so the spec
    is written unchanged beside that one file; the MIL loader finds a blob by its file name in the folder."""
    out = scratch / f"chunk_{index}_fp16.mlpackage"
    data = out / "Data" / "com.apple.CoreML"
    (data / "weights").mkdir(parents=True)
    shutil.copyfile(package / "Manifest.json", out / "Manifest.json")  # the same two items: spec and weights
    (data / "model.mlmodel").write_bytes(sub.SerializeToString())
    weights = f"{index}-weight.bin"
    source = package / "Data" / "com.apple.CoreML" / "weights" / weights
    try:
        (data / "weights" / weights).hardlink_to(source)
    except OSError:  # another file system: a copy, one chunk at a time
        shutil.copyfile(source, data / "weights" / weights)
    return out


def compress_lean(package, variant: str, folder) -> Path:
    """Compress the lean fp16 package chunk by chunk (`coreml.compress`, the plain path's configs) and join them
    again: the fp16 chunks are converted once for every variant, and no step holds more than one chunk."""
    import coremltools as ct

    if variant not in VARIANTS or variant == "fp16":
        raise ValueError(f"lean Core ML compresses to {', '.join(v for v in VARIANTS if v != 'fp16')}; "
                         f"got {variant!r}")
    coreml.preflight()
    package, folder = Path(package), Path(folder)
    mlmodel = ct.models.MLModel(str(package), skip_model_load=True)
    metadata = mlmodel.user_defined_metadata[PLAN_KEY]
    subs = list(mlmodel.get_spec().pipeline.models)
    del mlmodel
    folder.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".lean-", dir=folder))
    try:
        parts = []
        for index, sub in enumerate(subs):
            fp16 = _chunk_package(package, sub, index, scratch)
            parts.append(coreml.compress(fp16, variant, scratch / f"chunk_{index}_{variant}.mlpackage"))
            shutil.rmtree(fp16)
            gc.collect()
        return _join(parts, metadata, folder / f"model_{variant}_lean.mlpackage", scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def convert_lean(source: WeightSource, recipe: Recipe, variant: str, folder, base=None,
                 layers_per_chunk: int = LAYERS_PER_CHUNK) -> Path:
    """Write `variant` (fp16, int8, int4, palette4) as one pipeline package of chunks converted one at a time.

    Same inputs ([1, max_length] int32 input_ids and attention_mask) and output ([1, dim] `embedding`) as the
    plain package, and the same compression configs (`coreml.compress` on each chunk). A compressed variant is
    made from `base`, the lean fp16 package, where one is given; otherwise that package is built first.
    """
    if variant not in VARIANTS:
        raise ValueError(f"lean Core ML variant {variant!r} is not known; choose from {', '.join(VARIANTS)}")
    coreml.preflight()
    if variant != "fp16" and base is not None:
        path = compress_lean(base, variant, folder)
    else:
        check_qwen3(source.config.model_type, source.spec.name)
        plan = plan_chunks(source.config.num_hidden_layers, recipe.last_n_layers, layers_per_chunk)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".lean-", dir=folder))
        try:
            parts = [_convert_chunk(source, chunk, recipe, scratch) for chunk in plan]
            metadata = json.dumps([[c.start, c.stop] for c in plan[1:]])
            fp16 = _join(parts, metadata, (folder if variant == "fp16" else scratch) / "model_fp16_lean.mlpackage",
                         scratch)
            path = fp16 if variant == "fp16" else compress_lean(fp16, variant, folder)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    if output_shape(path) != (1, source.spec.dim):
        raise RuntimeError(f"{path} declares output {output_shape(path)}, not (1, {source.spec.dim})")
    return path


# The pipeline's own description declares the last chunk's output: the plain reader reads it unchanged.
output_shape = coreml.output_shape


def read_plan(package) -> tuple[Chunk, ...]:
    """The chunks a lean package was cut into, from its metadata."""
    import coremltools as ct

    metadata = ct.models.MLModel(str(package), skip_model_load=True).user_defined_metadata
    if PLAN_KEY not in metadata:
        raise ValueError(f"{package} is not a lean Core ML package (no {PLAN_KEY} metadata)")
    ranges = json.loads(metadata[PLAN_KEY])
    return (Chunk(0), *(Chunk(k + 1, start, stop, head=k == len(ranges) - 1) for k, (start, stop) in enumerate(ranges)))


def decompressed_state_dict(package, graph: EmbeddingGraph) -> dict[str, torch.Tensor]:
    """Each chunk's weights, decompressed to float, keyed by the full EmbeddingGraph's parameter names.

    Each sub-model's program is read alone from the package's weights folder, where make_pipeline renamed its file
    `{i}-weight.bin` (the MIL loader finds a blob by its file name in the folder it is given), so no sub-model is
    copied out into a package of its own. A constant matches a parameter by name and shape; the caller loads them
    with strict=False, as with `coreml.decompressed_state_dict`.
    """
    import coremltools as ct
    from coremltools.converters.mil.frontend.milproto.load import load

    coreml.preflight()
    mlmodel = ct.models.MLModel(str(package), skip_model_load=True)
    targets = {name.replace("_", "."): (name, p) for name, p in graph.state_dict().items()}
    spec = mlmodel.get_spec()
    if spec.WhichOneof("Type") != "pipeline":
        raise ValueError(f"{package} is not a pipeline of chunks; read it with coreml.decompressed_state_dict")
    found = {}
    for sub in spec.pipeline.models:
        program = load(sub, sub.specificationVersion, file_weights_dir=mlmodel.weights_dir)
        for function in program.functions.values():
            for op in function.operations:
                key = coreml._torch_name(op.outputs[0].name) if op.op_type.startswith("const") else None
                if key not in targets:
                    continue
                name, param = targets[key]
                value = op.val.val if op.op_type == "const" else op.materialized_val_inference()
                if tuple(value.shape) == tuple(param.shape):
                    found[name] = torch.from_numpy(np.asarray(value, dtype=np.float32))
    return found


def stand_in(path, loaded: LoadedModel, recipe: Recipe) -> Runtime:
    """The package's weights decompressed into the torch chunks it was traced from, the hidden states rounded to
    fp16 between chunks as the package passes them: accuracy where Core ML cannot predict."""
    check_qwen3(loaded.model.config.model_type, loaded.spec.name)
    graph = EmbeddingGraph(eager(replace(loaded, model=deepcopy(loaded.model))), recipe).eval()
    state = decompressed_state_dict(path, graph)
    graph.load_state_dict(state, strict=False)
    model = graph.model
    chunks: list[torch.nn.Module] = [TableChunk(model.embed_tokens)]
    for chunk in read_plan(path)[1:]:
        head = dict(norm=model.norm, dense=graph.dense, activations=graph.activations) if chunk.head else {}
        chunks.append(LayerChunk({i: model.layers[i] for i in chunk.layers}, model.rotary_emb, recipe, **head))
    compressible = coreml.compressible_parameters(graph)
    mapped = len(set(state) & set(compressible))

    def encode(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        ids, mask = fixed_shape(ids, mask, recipe.max_length, loaded.spec.padding_side)
        attention_mask = torch.from_numpy(mask)
        with torch.inference_mode():
            hidden = chunks[0](torch.from_numpy(ids))
            for module in chunks[1:]:
                hidden = module(hidden.to(torch.float16).to(model.dtype), attention_mask)
            return hidden.float().numpy()

    return Runtime(encode, f"weights decompressed into the torch chunks ({len(chunks)}, fp16 between them), not "
                   f"the Core ML runtime ({mapped} of {len(compressible)} compressible tensors mapped back)")


def preflight(loaded: LoadedModel | None = None) -> None:
    """coremltools and numpy as the plain path needs them; a model that is not a Qwen3 decoder named up front."""
    coreml.preflight(loaded)
    if loaded is not None:
        check_qwen3(loaded.model.config.model_type, loaded.spec.name)


CONVERTER = register(Converter(
    name="coreml-lean", variants=VARIANTS, base="fp16", preflight=preflight, convert=None,
    convert_from_source=convert_lean, load=coreml.load, output_shape=output_shape, stand_in=stand_in,
    code=(__file__, chunks.__file__, coreml.__file__), build_precision=lambda variant: "fp16",
    conversion_path="lean", replaces="coreml", model_types=("qwen3",)))
