"""Study 03: what Core ML, ONNX Runtime and MLX variants cost and keep.

Every variant is the artifact a user ships ([batch, dim] out; `workbench.convert.measure` builds
and measures it in child processes); this module turns the measured rows into the notebook's
table, headline numbers and verdicts. Rows that cannot be measured here say why. What the models
users ship cost at full size is study 05's (`workbench.studies.scale`).
"""

from __future__ import annotations

import html
from dataclasses import replace

import numpy as np
import pandas as pd

from workbench.convert.measure import MB, Variant
from workbench.core import comparison, evaluation
from workbench.core.embedding import Embeddings
from workbench.run.formatting import label_for

def _shipped(embedded: evaluation.EmbeddedData) -> evaluation.EmbeddedData:
    """The same sets with `pooled` set to the final vectors: what an artifact returns, so both sides compare alike."""
    return replace(embedded, **{name: replace(e, pooled=e.vectors) for name, e in vars(embedded).items()
                                if isinstance(e, Embeddings)})


def comparisons(rows: list[Variant], data) -> dict[str, comparison.Comparison]:
    """Each evaluated variant against the torch FP32 reference, on the final (shipped) vectors."""
    ref = _shipped(rows[0].evaluated["embedded"])
    return {r.key: comparison.compare(ref, _shipped(r.evaluated["embedded"]), data)
            for r in rows[1:] if r.evaluated}


def table(rows: list[Variant], compared: dict, data, fp32_size: int) -> pd.DataFrame:
    """One row per variant with every measured number (NaN where not measured, see the note)."""
    ref_quality = evaluation.quality(rows[0].evaluated["embedded"], data)
    out = []
    for r in rows:
        e, c = r.evaluated, compared.get(r.key)
        line = {"variant": r.key, "format": r.fmt,
                "size MB": r.size_bytes / MB if r.size_bytes else np.nan,
                "compression vs fp32": fp32_size / r.size_bytes if r.size_bytes else np.nan,
                "convert s": r.convert.seconds if r.convert else np.nan,
                "peak convert RSS MB": r.convert.peak_rss_bytes / MB if r.convert else np.nan,
                "convert step RSS MB": r.convert.step_rss_bytes / MB if r.convert else np.nan,
                "peak RSS / fp32 size": r.convert.peak_rss_bytes / fp32_size if r.convert else np.nan,
                "load s": r.loaded["load_s"] if r.loaded else np.nan,
                "load RSS MB": r.loaded["load_rss_mb"] if r.loaded else np.nan}
        lat = e.get("latency") if e else None
        for b in sorted({int(x) for x in (lat["batch"] if lat is not None else [])}):
            s = lat[lat["batch"] == b].iloc[0]
            line[f"p50 ms b{b}"], line[f"p95 ms b{b}"] = s["p50_ms"], s["p95_ms"]
        if c is not None:
            cos = c.per_text["cosine"]
            line.update({"mean cosine": cos.mean(), "min cosine": cos.min(), "1-cos p50": c.drift["p50"],
                         "1-cos p99": c.drift["p99"], "same top-1": c.agreement["top1_agreement"],
                         "overlap@10": c.agreement["overlap_at_k"]})
        elif r is rows[0]:
            line.update({"mean cosine": 1.0, "min cosine": 1.0})
        if e:
            q = evaluation.quality(e["embedded"], data)
            for k, label in (("sts_spearman", "STS retention %"), ("ndcg10", "nDCG@10 retention %")):
                if k in q and ref_quality.get(k):
                    line[label] = 100.0 * q[k] / ref_quality[k]
        notes = ([e["runtime"]] if e else [])
        notes += ["artifact from the cache; conversion cost as measured when it was built"] if r.cached else []
        line["runtime / note"] = "; ".join(notes + r.notes)
        out.append(line)
    return pd.DataFrame(out).set_index("variant")


def headline_results(frame: pd.DataFrame) -> dict[str, tuple[float | None, str | None]]:
    """results.json keys per variant: value, or None with the reason it was not measured."""
    out = {}
    columns = (("size_mb", "size MB"), ("peak_convert_rss_mb", "peak convert RSS MB"),
               ("mean_cosine", "mean cosine"), ("latency_p50_ms", "p50 ms b1"), ("latency_p95_ms", "p95 ms b1"),
               ("load_rss_mb", "load RSS MB"), ("ndcg10_retention_pct", "nDCG@10 retention %"),
               ("sts_retention_pct", "STS retention %"))
    for key, row in frame.iterrows():
        note = row["runtime / note"] or None
        for name, column in columns:
            value = row.get(column, np.nan)
            ok = value is not None and np.isfinite(value)
            out[f"{name}_{key}"] = (float(value) if ok else None, None if ok else (note or "not measured"))
    return out


def headline_label(key: str) -> str:
    """The index's label for a result key: each variant's size and mean cosine."""
    return label_for(key, {"size_mb_": "size, {} (MB)", "mean_cosine_": "mean cosine to FP32, {}"})


def verdict_html(frame: pd.DataFrame) -> str:
    """A sentence per measured variant: size saved and cosine kept, computed from the table."""
    parts = []
    for key, r in frame.iloc[1:].iterrows():
        if np.isfinite(r.get("size MB", np.nan)) and np.isfinite(r.get("mean cosine", np.nan)):
            parts.append(f"<b>{html.escape(key)}</b>: {r['size MB']:.1f} MB ({r['compression vs fp32']:.1f}&times; "
                         f"smaller than FP32), mean cosine {r['mean cosine']:.5f} (min {r['min cosine']:.5f}).")
        else:
            parts.append(f"<b>{html.escape(key)}</b>: {html.escape(r['runtime / note'])}.")
    return "<p>" + "<br>".join(parts) + "</p>"


def latency_frame(rows: list[Variant]) -> pd.DataFrame:
    """Every timed variant's latency rows, named by variant (the shape `plots.latency_bars` draws)."""
    frames = [r.evaluated["latency"] for r in rows if r.evaluated and r.evaluated.get("latency") is not None]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
