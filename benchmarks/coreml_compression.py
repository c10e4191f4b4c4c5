"""Benchmark: what compressing a Core ML fp16 package costs, the workbench's step against coremltools' plain call.

Run on demand (not a test; minutes and several GB at 0.6B, about 16 GB at 4B):
`python benchmarks/coreml_compression.py [--arch qwen3-embedding-0.6b] [--variants int8 int4] [--ways ...]`.
The fp16 package of the exact architecture (seeded random weights) is built once; then each variant is compressed
alone in a child process: coremltools' plain `linear_quantize_weights` with one global config, the workbench's
`coreml.compress` (per-row configs for folded tables, read from the spec), the same step preceded by
`get_weights_metadata` as the workbench did before it read shapes from the spec, and the lean path (format
`coreml-lean`: the chunks converted to fp16 one at a time from seeded weights and joined, then compressed chunk by
chunk, in one step here), and two other candidates from the model itself: compressing in torch before conversion,
and converting to MIL first. Wall time, peak RSS of the child's process tree and package size go to
benchmarks/results/coreml_compression_<arch>_<ways>.json. Each step may hold the memory available at the start
less 1.5 GB (`--memory-limit-gb` to change it); a step stopped there is recorded with the peak it had reached.
Target: the workbench's step peaks no higher than the plain call.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from workbench.convert import coreml, pipeline  # noqa: E402
from workbench.core.architectures import architecture, published_recipe, total_params  # noqa: E402
from workbench.core.files import write_json_atomic  # noqa: E402
from workbench.core.resources import ChildProcessFailed, dir_size_bytes, run_in_child  # noqa: E402
from workbench.core.units import GB  # noqa: E402
from workbench.run.results import package_versions  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def plain(source: str, variant: str, out: str) -> str:
    """coremltools' documented call: one global config, the package opened without loading it."""
    import coremltools as ct
    import coremltools.optimize.coreml as cto

    op, compressor = coreml._compression(variant)
    compressor(ct.models.MLModel(source, skip_model_load=True), cto.OptimizationConfig(global_config=op)).save(out)
    return out


def workbench_step(source: str, variant: str, out: str) -> str:
    return str(coreml.compress(source, variant, out))


def metadata_first(source: str, variant: str, out: str) -> str:
    """The workbench's step as it was: every weight's metadata (values included) read before compressing."""
    import coremltools as ct
    import coremltools.optimize.coreml as cto

    metadata = cto.get_weights_metadata(ct.models.MLModel(source, skip_model_load=True),
                                        weight_threshold=coreml.WEIGHT_THRESHOLD)
    shapes = {name: tuple(meta.val.shape) for name, meta in metadata.items()}
    del metadata
    assert shapes, "no weights found"
    return str(coreml.compress(source, variant, out))


def _traced(arch_name: str, recipe, precision: str, compress_in_torch: str | None = None):
    """The EmbeddingGraph of the seeded random build, traced as `coreml.trace_and_convert` traces it, with the
    Linear weights first quantized in torch by coremltools.optimize.torch where `compress_in_torch` names a variant."""
    import torch

    from workbench.convert.graph import EmbeddingGraph, eager

    graph = EmbeddingGraph(eager(pipeline.RandomBuild(architecture(arch_name)).build(precision)), recipe).eval()
    if compress_in_torch is not None:
        from coremltools.optimize.torch.quantization import PostTrainingQuantizer, PostTrainingQuantizerConfig

        per = ({"granularity": "per_channel"} if compress_in_torch == "int8" else
               {"granularity": "per_block", "block_size": coreml.BLOCK_SIZE})
        config = PostTrainingQuantizerConfig.from_dict({"global_config": {
            "weight_dtype": compress_in_torch, "quantization_scheme": "symmetric", **per}})
        graph = PostTrainingQuantizer(graph, config).compress(inplace=True)
    ids = torch.ones(1, recipe.max_length, dtype=torch.long)
    with torch.no_grad():
        return torch.jit.trace(graph, (ids, torch.ones_like(ids)))


def _inputs(recipe):
    import coremltools as ct
    import numpy as np

    return [ct.TensorType(name=name, shape=(1, recipe.max_length), dtype=np.int32)
            for name in ("input_ids", "attention_mask")]


def torch_side(arch_name: str, variant: str, recipe, out: str) -> str:
    """Candidate: compress in torch before conversion (PostTrainingQuantizer, inplace), so coremltools writes the
    compressed ops straight away and no fp16 program of the weights is compressed after. Linear layers only: the
    quantizer does not take Embedding, so the token table stays fp16."""
    import coremltools as ct

    from workbench.convert.graph import OUTPUT_NAME

    traced = _traced(arch_name, recipe, "fp32", variant)
    mlmodel = ct.convert(traced, inputs=_inputs(recipe), outputs=[ct.TensorType(name=OUTPUT_NAME)],
                         convert_to="mlprogram", minimum_deployment_target=ct.target.iOS18,
                         compute_precision=ct.precision.FLOAT16)
    mlmodel.save(out)
    return out


def mil_two_step(arch_name: str, variant: str, recipe, out: str) -> str:
    """Candidate: convert to MIL, release the torch model, compress the program op by op, then write the package."""
    import gc

    import coremltools as ct
    import coremltools.optimize.coreml as cto
    from coremltools.optimize.coreml._quantization_passes import linear_quantize_weights

    from workbench.convert.graph import OUTPUT_NAME

    traced = _traced(arch_name, recipe, "fp16")
    program = ct.convert(traced, inputs=_inputs(recipe), outputs=[ct.TensorType(name=OUTPUT_NAME)],
                         convert_to="milinternal", minimum_deployment_target=ct.target.iOS18,
                         compute_precision=ct.precision.FLOAT16)
    del traced
    gc.collect()
    op, _ = coreml._compression(variant)
    linear_quantize_weights(config=cto.OptimizationConfig(global_config=op)).apply(program)
    for function in program.functions.values():  # the pass's new ops carry no torch scope, which the torch
        function._essential_scope_sources = []  # frontend marked essential; the package needs none
    mlmodel = ct.convert(program, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS18,
                         compute_precision=ct.precision.FLOAT16)
    del program
    mlmodel.save(out)
    return out


# Ways that compress the fp16 package; "lean" builds the whole variant chunk by chunk from the weights, and the
# two candidates from the model itself (no fp16 package first).
WAYS = {"coremltools plain": plain, "workbench": workbench_step, "metadata first (before)": metadata_first,
        "lean": None, "torch-side": torch_side, "mil two-step": mil_two_step}
FROM_MODEL = ("torch-side", "mil two-step")


def _step(way: str, variant: str, arch, recipe, built, scratch: str, limit: int) -> dict:
    """One way of making `variant` in a child process: its time, peak and package size."""
    fn, out = WAYS[way], str(Path(scratch) / f"{variant}-{way.split()[0]}.mlpackage")
    limits = {"preload": pipeline.CHILD_PRELOAD, "memory_limit_bytes": limit}
    if fn is None:
        done = run_in_child(pipeline.convert_step, "coreml-lean", variant, pipeline.RandomBuild(arch), recipe,
                            str(Path(scratch) / f"{variant}-lean"), None, **limits)
        out = done.value
    elif way in FROM_MODEL:
        done = run_in_child(fn, arch.name, variant, recipe, out, **limits)
    else:
        assert built is not None
        done = run_in_child(fn, built.value, variant, out, **limits)
    return {"variant": variant, "way": way, "seconds": done.seconds, "peak_rss_bytes": done.peak_rss_bytes,
            "baseline_rss_bytes": done.baseline_rss_bytes, "size_bytes": dir_size_bytes(out)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="qwen3-embedding-0.6b")
    parser.add_argument("--variants", nargs="+", default=["int8", "int4"])
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--ways", nargs="+", default=list(WAYS), choices=list(WAYS),
                        help="which compressions to run (the one before this change needs one fp16 model more)")
    parser.add_argument("--memory-limit-gb", type=float, default=pipeline.default_memory_limit() / GB,
                        help="the most one step may hold before it is stopped (default: available now less 1.5 GB)")
    args = parser.parse_args()
    limit = int(args.memory_limit_gb * GB)
    arch = architecture(args.arch)
    recipe = published_recipe(arch, args.max_length)
    figures = {"arch": arch.name, "params": total_params(arch), "machine": f"{platform.node()} ({os.cpu_count()} "
               f"cores)", "versions": package_versions(), "memory_limit_bytes": limit, "rows": []}
    with tempfile.TemporaryDirectory(prefix="coreml-compression-") as scratch:
        built = None
        if any(WAYS[way] is not None and way not in FROM_MODEL for way in args.ways):  # what they compress
            built = run_in_child(pipeline.convert_step, "coreml", "fp16", pipeline.RandomBuild(arch), recipe, scratch,
                                 None, preload=pipeline.CHILD_PRELOAD, memory_limit_bytes=limit)
            figures["fp16"] = {"seconds": built.seconds, "peak_rss_bytes": built.peak_rss_bytes,
                               "size_bytes": dir_size_bytes(built.value)}
            print(f"fp16: {built.seconds:.0f} s, peak {built.peak_rss_bytes / GB:.2f} GB", flush=True)
        for variant in args.variants:
            for way in args.ways:
                try:
                    row = _step(way, variant, arch, recipe, built, scratch, limit)
                except ChildProcessFailed as stopped:  # past the limit: its peak so far is the evidence
                    row = {"variant": variant, "way": way, "stopped": str(stopped).splitlines()[0],
                           "seconds": stopped.seconds, "peak_rss_bytes": stopped.peak_rss_bytes}
                    print(f"{variant} {way}: stopped after {stopped.seconds:.0f} s at a peak of "
                          f"{stopped.peak_rss_bytes / GB:.2f} GB ({row['stopped']})", flush=True)
                else:
                    print(f"{variant} {way}: {row['seconds']:.0f} s, peak {row['peak_rss_bytes'] / GB:.2f} GB, "
                          f"{row['size_bytes'] / GB:.3f} GB", flush=True)
                figures["rows"].append(row)
    RESULTS.mkdir(exist_ok=True)
    write_json_atomic(RESULTS / f"coreml_compression_{arch.name}_{'_'.join(w.split()[0] for w in args.ways)}.json",
                      figures)


if __name__ == "__main__":
    main()
