"""Figures shared by the study notebooks (matplotlib, returned so callers can save them)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from workbench.core.units import GB

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
    bins = np.logspace(np.log10(low) - 0.1, np.log10(high) + 0.1, 40).tolist()
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
    """Quality per strategy, the best one outlined; a sentence instead when no labelled set was given."""
    columns = [c for c in columns if c in table and table[c].notna().any()]
    if not columns:
        return "No quality figure: every labelled set was skipped (sts_path and beir_path are 'skip')."
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


def size_accuracy_pareto(table: pd.DataFrame):
    """Size on disk against 1 - mean cosine to FP32, the Pareto frontier joined and labelled."""
    from workbench.core.metrics import pareto_front

    rows = table[table["size MB"].notna() & table["mean cosine"].notna()]
    loss = np.clip(1.0 - rows["mean cosine"].to_numpy(dtype=float), FLOOR, None)
    size = rows["size MB"].to_numpy(dtype=float)
    front = pareto_front(size, loss)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter(size[~front], loss[~front], c="grey", label="dominated")
    ax.scatter(size[front], loss[front], c="C3", label="Pareto frontier")
    order = np.argsort(size[front])
    ax.plot(size[front][order], loss[front][order], "C3--", lw=1)
    for name, x, y in zip(rows.index, size, loss):
        ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_yscale("log")
    ax.set_xlabel("size on disk (MB)")
    ax.set_ylabel(f"1 - mean cosine to FP32 (log, floor {FLOOR:g})")
    ax.set_title("Size against accuracy; lower left is better")
    ax.legend(fontsize=8)
    return _finish(fig)


def conversion_ram_bars(table: pd.DataFrame, fp32_mb: float):
    """Peak RSS of each conversion (and the step's share above imports) against the FP32 weights' size."""
    rows = table[table["peak convert RSS MB"].notna()]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    x = np.arange(len(rows))
    ax.bar(x, rows["peak convert RSS MB"], label="peak RSS of the conversion process")
    ax.bar(x, rows["convert step RSS MB"], width=0.5, label="above interpreter and imports")
    ax.axhline(fp32_mb, color="k", ls="--", lw=1, label=f"FP32 weights {fp32_mb:.0f} MB")
    ax.set_xticks(x, rows.index, rotation=30, ha="right")
    ax.set_ylabel("MB")
    ax.set_title("RAM during conversion / compression")
    ax.legend(fontsize=8)
    return _finish(fig)


def _series(sweep: pd.DataFrame):
    """(label, rows sorted by N) per vectors source, engine and dimension of a capacity sweep."""
    ok = sweep[sweep["status"] == "ok"]
    for (source, engine, dim), group in ok.groupby(["vectors", "engine", "dim"], sort=True):
        yield f"{engine} {dim}-d {source}", group.sort_values("n")


def capacity_bytes(sweep: pd.DataFrame):
    """Bytes on disk and resident after loading, against N, log-log, one line per engine and dimension."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for label, rows in _series(sweep):
        axes[0].plot(rows["n"], rows["disk_bytes"], marker="o", label=label)
        axes[1].plot(rows["n"], np.clip(rows["rss_after_load_bytes"], 1, None), marker="o", label=label)
    for ax, title in zip(axes, ("on disk (every file the engine writes)", "RSS added by loading from disk")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("items N")
        ax.set_ylabel("bytes")
        ax.set_title(title)
    axes[0].legend(fontsize=7)
    return _finish(fig)


def capacity_latency(sweep: pd.DataFrame, budget_ms: float):
    """Single-query latency p50 (dashed) and p95 (solid) against N, with the latency budget."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, rows in _series(sweep):
        line, = ax.plot(rows["n"], rows["p95_ms"], marker="o", label=f"{label} p95")
        ax.plot(rows["n"], rows["p50_ms"], ls="--", color=line.get_color(), label=f"{label} p50")
    ax.axhline(budget_ms, color="k", lw=1, label=f"budget {budget_ms:g} ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("items N")
    ax.set_ylabel("ms per query, k=10, one thread")
    ax.set_title("Query latency against index size")
    ax.legend(fontsize=7, ncol=2)
    return _finish(fig)


def capacity_recall(sweep: pd.DataFrame):
    """recall@10 against exact search, against N."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for label, rows in _series(sweep):
        ax.plot(rows["n"], rows["recall10"], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_ylim(min(0.9, float(sweep["recall10"].min()) - 0.02) if "recall10" in sweep else 0, 1.005)
    ax.set_xlabel("items N")
    ax.set_ylabel("recall@10 vs exact search")
    ax.set_title("Recall against index size")
    ax.legend(fontsize=7)
    return _finish(fig)


def storage_retention(retrieval: pd.DataFrame, k: int = 10):
    """nDCG@k kept against bytes per searched vector, one line per rescoring, labelled by precision and dimension."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    column = f"nDCG@{k} retention (%)"
    for rescoring, rows in retrieval.groupby("rescoring", sort=False):
        best = rows.sort_values("bytes per vector")
        ax.scatter(best["bytes per vector"], best[column], label=rescoring, s=18 if rescoring != "none" else 36,
                   marker="o" if rescoring == "none" else ".")
    for row in retrieval[retrieval["multiplier"] == 0].to_dict("records"):
        ax.annotate(f"{row['precision']} {row['dim']}-d", (row["bytes per vector"], row[column]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("bytes per searched vector (log scale)")
    ax.set_ylabel(f"nDCG@{k}, % of float32 exact search")
    ax.set_title("What each storage precision keeps, with and without rescoring")
    ax.legend(fontsize=7, title="rescoring", title_fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _finish(fig)


def flat_vs_hnsw(curve: pd.DataFrame):
    """p95 single-query latency against N: exact search (dashed) and HNSW (solid), one colour per precision."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for precision, rows in curve.groupby("precision", sort=False):
        colour = None
        for engine, style in (("flat", "--"), ("faiss", "-")):
            part = rows[rows["engine"] == engine].sort_values("n")
            line, = ax.plot(part["n"], part["p95_ms"], ls=style, marker="o", color=colour,
                            label=f"{precision}, {'exact' if engine == 'flat' else 'HNSW'}")
            colour = line.get_color()
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("items N")
    ax.set_ylabel("p95 ms per query, k=10, one thread")
    ax.set_title("Exact search against HNSW (faiss)")
    ax.legend(fontsize=7, ncol=2)
    return _finish(fig)


def scale_fit(table: pd.DataFrame, fitted: pd.DataFrame, values: pd.DataFrame, quantity: str, level: float = 0.95):
    """One quantity against parameter count, a panel per format: measured points, each variant's fit with its
    prediction band, projected models as error bars, and steps killed for memory as crosses at their peak."""
    from workbench.core.fitting import predict

    lines = fitted[fitted["quantity"] == quantity]
    formats = sorted({v.split("_")[0] for v in lines["variant"]})
    fig, axes = plt.subplots(1, len(formats), figsize=(4.2 * len(formats), 3.8), squeeze=False)
    far = max([table["params B"].max(), *values["params B"]]) * 1.05
    xs = np.linspace(0, far, 60)
    for ax, fmt in zip(axes[0], formats):
        for i, (_, f) in enumerate(lines[lines["variant"].str.startswith(fmt + "_")].iterrows()):
            color = f"C{i % 10}"
            ys, half = zip(*(predict(f["fit"], x, level=level) for x in xs))
            ax.plot(xs, ys, color=color, lw=1, label=f"{f['variant'].split('_', 1)[1]} ({f['points']} sizes)")
            if half[0] is not None:
                ax.fill_between(xs, np.subtract(ys, half), np.add(ys, half), color=color, alpha=0.12)
            points = table[(table["variant"] == f["variant"]) & table[quantity].notna()
                           & (table["status"] == "measured")]
            ax.scatter(points["params B"], points[quantity], color=color, s=16, zorder=3)
            projected = values[(values["variant"] == f["variant"]) & (values["quantity"] == quantity)
                               & values["kind"].str.startswith("projected")]
            ax.errorbar(projected["params B"], projected["value"],
                        yerr=projected["± (95 % prediction)"].astype(float), fmt="D", color=color, mfc="white",
                        capsize=3, zorder=3)
        killed = table[(table["status"] == "killed") & table[quantity].notna() & table["variant"].str.startswith(fmt)]
        if len(killed):
            ax.scatter(killed["params B"], killed[quantity], marker="x", color="#b00020", s=40, zorder=4,
                       label="killed at this peak")
        ax.set_title(fmt)
        ax.set_xlabel("parameters (billions)")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel(quantity)
    fig.suptitle(f"{quantity}: dots measured, diamonds projected ({level:.0%} prediction interval); random weights",
                 fontsize=10)
    return _finish(fig)


def deployment_tradeoff(rows: pd.DataFrame, front: pd.Series, pick: str | None, ram_budget: float | None,
                        quality_floor: float | None):
    """Quality kept against RAM for every measured configuration: the Pareto front in colour, the pick ringed."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    gb = rows["ram_bytes"] / GB
    ax.scatter(gb, rows["quality_pct"], s=14, color="#999", label="measured configurations")
    best = rows[front]
    ax.scatter(best["ram_bytes"] / GB, best["quality_pct"], s=30, color="#1f77b4",
               label="Pareto front (no other is better on quality, RAM, disk and latency)")
    if pick is not None:
        chosen = rows[rows["name"] == pick]
        ax.scatter(chosen["ram_bytes"] / GB, chosen["quality_pct"], s=160, facecolors="none", edgecolors="#d62728",
                   linewidths=2, label="recommended")
    if ram_budget:
        ax.axvline(ram_budget / GB, color="k", lw=1, ls="--", label="RAM budget")
    if quality_floor:
        ax.axhline(quality_floor, color="k", lw=1, ls=":", label="minimum quality")
    ax.set_xscale("log")
    ax.set_xlabel("RAM for the model and the index (GB, log scale)")
    ax.set_ylabel("quality kept against FP32 (%)")
    ax.set_title("Every measured configuration at the target item count")
    ax.legend(fontsize=7, loc="lower right")
    return _finish(fig)
