"""Figures shared by the study notebooks (matplotlib, returned so callers can save them)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

FLOOR = 1e-12  # 1 - cos values of exactly 0 are drawn at this floor on log axes
INVARIANT = 0.99999  # strategies whose fixed-vs-dynamic cosine never drops below this are drawn as one line


def _finish(fig):
    """Lay out and close: the figure is shown once, as the cell's result, not again by the inline backend."""
    fig.tight_layout()
    plt.close(fig)
    return fig


def drift_histogram(per_precision: dict[str, pd.Series]):
    """Distribution of 1 - cos to FP32 on a log axis, one histogram per precision."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    values = {p: np.clip(np.asarray(v, dtype=float), FLOOR, None) for p, v in per_precision.items()}
    low = min(v.min() for v in values.values())
    high = max(v.max() for v in values.values())
    bins = np.logspace(np.log10(low) - 0.1, np.log10(high) + 0.1, 40)
    for p, v in values.items():
        ax.hist(v, bins=bins, alpha=0.6, label=f"{p} (n={v.size})")
    ax.set_xscale("log")
    ax.set_xlabel("1 - cosine to FP32 (log)")
    ax.set_ylabel("texts")
    ax.set_title("Drift of each text's embedding from FP32")
    ax.legend()
    return _finish(fig)


def alpha_scatter(per_precision: dict[str, pd.DataFrame]):
    """alpha against 1 - u.v with the seed's 2 alpha^2 bound and the exact worst case."""
    fig, ax = plt.subplots(figsize=(7, 4))
    all_alpha = np.concatenate([np.asarray(f["alpha"], dtype=float) for f in per_precision.values()])
    for p, frame in per_precision.items():
        ax.scatter(np.clip(frame["alpha"], FLOOR, None), np.clip(frame["1 - cos"], FLOOR, None), s=8, alpha=0.5,
                   label=p)
    grid = np.logspace(np.log10(max(all_alpha.min(), FLOOR)), np.log10(max(all_alpha.max(), 2 * FLOOR)), 100)
    ax.plot(grid, 2 * grid**2, "k-", lw=1.5, label="seed bound 2 alpha^2")
    ax.plot(grid, 1 - np.sqrt(1 - np.minimum(grid, 0.999) ** 2), "k--", lw=1, label="worst case 1 - sqrt(1 - alpha^2)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("alpha = |Delta| / |m| (pooled, before L2)")
    ax.set_ylabel("1 - u.v")
    ax.set_title("Every point below the solid line satisfies the seed's bound")
    ax.legend(fontsize=8)
    return _finish(fig)


def retention_bars(quality: pd.DataFrame):
    """Quality retention (% of FP32) per metric and precision."""
    columns = [c for c in quality.columns if c.endswith("retention %")]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    quality[columns].rename(columns=lambda c: c.replace(" retention %", "")).T.plot.bar(ax=ax, rot=0)
    low = float(np.nanmin(quality[columns].to_numpy()))
    ax.set_ylim(min(99.0, low - 0.5), 100.5)
    ax.axhline(100, color="k", lw=0.8)
    ax.set_ylabel("% of FP32")
    ax.set_title("Quality retained relative to FP32")
    return _finish(fig)


def latency_bars(latency: pd.DataFrame):
    """p50 per-query latency with a whisker up to p95, per precision and batch size."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    precisions = list(dict.fromkeys(latency["precision"]))
    batches = sorted(set(latency["batch"]))
    width = 0.8 / len(batches)
    for j, batch in enumerate(batches):
        rows = latency[latency["batch"] == batch].set_index("precision").reindex(precisions)
        x = np.arange(len(precisions)) + (j - (len(batches) - 1) / 2) * width
        ax.bar(x, rows["p50_ms"], width, label=f"batch {batch}",
               yerr=[np.zeros(len(rows)), rows["p95_ms"] - rows["p50_ms"]], capsize=3)
    ax.set_xticks(np.arange(len(precisions)), precisions)
    ax.set_ylabel("ms per query (bar p50, whisker p95)")
    ax.set_title("Latency per query by batch size")
    ax.legend()
    return _finish(fig)


def similarity_heatmap(matrix: pd.DataFrame):
    """Strategy x strategy mean cosine, annotated."""
    size = max(5.0, 0.45 * len(matrix) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix.to_numpy(), vmin=min(0.0, float(matrix.to_numpy().min())), vmax=1.0, cmap="viridis")
    ax.set_xticks(range(len(matrix)), matrix.columns, rotation=60, ha="right")
    ax.set_yticks(range(len(matrix)), matrix.index)
    if len(matrix) <= 16:
        for i in range(len(matrix)):
            for j in range(len(matrix)):
                value = matrix.iat[i, j]
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                        color="black" if value > 0.6 else "white")
    fig.colorbar(image, ax=ax, fraction=0.046, label="mean cosine on the same texts")
    ax.set_title("How alike are the strategies' embeddings?")
    ax.grid(False)
    return _finish(fig)


def quality_bars(table: pd.DataFrame, best: str | None, columns=("sts_spearman", "ndcg10", "auc")):
    """Quality per strategy, the best one outlined."""
    columns = [c for c in columns if c in table]
    fig, ax = plt.subplots(figsize=(max(7.0, 0.5 * len(table) + 3), 4))
    table[columns].plot.bar(ax=ax, rot=60, width=0.8)
    if best is not None:
        position = list(table.index).index(best)
        ax.axvspan(position - 0.45, position + 0.45, color="gold", alpha=0.25, label=f"best: {best}")
    ax.set_ylabel("score")
    ax.set_title("Quality per pooling strategy")
    ax.legend(fontsize=8)
    return _finish(fig)


def padding_vs_length(per_text: pd.DataFrame):
    """Fixed-vs-dynamic padding cosine against text length, one line per strategy (mean per length)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    curves = {name: group.groupby("tokens")["cosine"].mean() for name, group in per_text.groupby("strategy", sort=False)}
    steady = [name for name, curve in curves.items() if curve.min() >= INVARIANT]
    if steady:
        curve = pd.concat([curves[n] for n in steady], axis=1).mean(axis=1)
        ax.plot(curve.index, curve.to_numpy(), "k-", lw=2, label=f"{len(steady)} padding-invariant strategies")
    for name, curve in curves.items():
        if name not in steady:
            ax.plot(curve.index, curve.to_numpy(), marker=".", lw=1, label=name)
    ax.set_xlabel("tokens in the text (after truncation)")
    ax.set_ylabel("cosine, fixed vs dynamic padding")
    ax.set_title("Padding sensitivity against text length")
    ax.legend(fontsize=7, ncol=2)
    return _finish(fig)


def last_n_lines(curve: pd.DataFrame, columns=("sts_spearman", "ndcg10", "recall10")):
    """Quality against the number of averaged layers."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for column in [c for c in columns if c in curve]:
        ax.plot(curve.index, curve[column], marker="o", label=column)
    ax.set_xlabel("last N hidden layers averaged")
    ax.set_ylabel("score")
    ax.set_xticks(list(curve.index))
    ax.set_title("Quality against last-N averaging")
    ax.legend()
    return _finish(fig)
