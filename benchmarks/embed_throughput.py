"""Benchmark: workbench FP32 embedding vs sentence-transformers `encode` on the same model and texts.

Run on demand (not a test): `python benchmarks/embed_throughput.py [--texts 2000] [--batch 32]`.
Prints texts/s for both, their ratio, and achieved GFLOP/s against a measured torch matmul
peak on this machine; writes the figures to benchmarks/results/embed_throughput.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import workbench  # noqa: E402
from workbench.core.data import load_beir  # noqa: E402
from workbench.core.files import write_json_atomic  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "embed_throughput.json"


def make_texts(n: int, seed: int = 0) -> list[str]:
    """n texts of 5-60 words drawn from the bundled corpus vocabulary (deterministic)."""
    words = " ".join(load_beir().docs).split()
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 61, size=n)
    return [" ".join(rng.choice(words, size=k)) for k in lengths]


def matmul_peak_gflops(size: int = 2048, repeats: int = 10) -> float:
    """Best FP32 GEMM rate torch reaches here: the ceiling the embedding loop is compared with."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def forward_flops(config, token_counts: list[tuple[int, int]]) -> float:
    """Matmul FLOPs of a BERT-style encoder for batches given as (batch size, padded length)."""
    d, ff, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    total = 0.0
    for batch, length in token_counts:
        tokens = batch * length
        total += layers * (2 * tokens * (4 * d * d + 2 * d * ff) + 4 * batch * length * length * d)
    return total


def padded_batches(tokenizer, texts: list[str], batch: int, max_length: int) -> list[tuple[int, int]]:
    lengths = sorted((min(len(ids), max_length) for ids in tokenizer(texts)["input_ids"]), reverse=True)
    return [(len(lengths[i:i + batch]), lengths[i]) for i in range(0, len(lengths), batch)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--model", default=workbench.DEFAULT_MODEL)
    args = parser.parse_args()

    from sentence_transformers import SentenceTransformer

    texts = make_texts(args.texts)
    loaded = workbench.load_model(args.model)
    recipe = workbench.Recipe.model_default(loaded.spec)
    st = SentenceTransformer(loaded.source, device="cpu")
    workbench.embed(loaded, texts[:64], recipe, batch_size=args.batch)  # warm-up both
    st.encode(texts[:64], batch_size=args.batch)

    start = time.perf_counter()
    ours = workbench.embed(loaded, texts, recipe, batch_size=args.batch).vectors
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    theirs = st.encode(texts, batch_size=args.batch, normalize_embeddings=True)
    theirs_s = time.perf_counter() - start

    flops = forward_flops(loaded.model.config, padded_batches(loaded.tokenizer, texts, args.batch,
                                                              recipe.max_length))
    peak = matmul_peak_gflops()
    figures = {
        "model": loaded.spec.name,
        "texts": len(texts),
        "batch": args.batch,
        "workbench_texts_per_s": len(texts) / ours_s,
        "sentence_transformers_texts_per_s": len(texts) / theirs_s,
        "ratio_workbench_over_st": theirs_s / ours_s,
        "workbench_gflops": flops / ours_s / 1e9,
        "matmul_peak_gflops": peak,
        "fraction_of_peak": flops / ours_s / 1e9 / peak,
        "min_cosine_vs_st": float((ours * theirs).sum(axis=1).min()),
        "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_json_atomic(RESULTS, figures)
    print(f"workbench fp32:        {figures['workbench_texts_per_s']:8.1f} texts/s")
    print(f"sentence-transformers: {figures['sentence_transformers_texts_per_s']:8.1f} texts/s")
    print(f"ratio (workbench / ST): {figures['ratio_workbench_over_st']:.3f}  (target >= 1.0)")
    print(f"achieved {figures['workbench_gflops']:.1f} GFLOP/s of a measured {peak:.1f} GFLOP/s matmul peak "
          f"({figures['fraction_of_peak']:.0%})")
    print(f"min cosine workbench vs ST: {figures['min_cosine_vs_st']:.7f}")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
