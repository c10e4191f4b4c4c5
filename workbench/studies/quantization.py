"""Study 03: what Core ML, ONNX Runtime and MLX variants cost and keep.

Every variant is the artifact a user ships ([batch, dim] out; `workbench.convert.measure` builds
and measures it in child processes); this module turns the measured rows into the notebook's
table, headline numbers and verdicts. Rows that cannot be measured here say why. What the models
users ship cost at full size is study 05's (`workbench.studies.scale`).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from workbench.convert.measure import Measured
from workbench.convert.rows import Accuracy, ArtifactRow, Latency
from workbench.core import comparison, evaluation
from workbench.core.embedding import Embeddings
from workbench.core.units import MB, MS
from workbench.mteb_bridge.rows import MtebScore
from workbench.run import catalog
from workbench.run.conclusions import Conclusions, Result
from workbench.studies import mteb_scores


def _shipped(embedded: evaluation.EmbeddedData) -> evaluation.EmbeddedData:
    """The same sets with `pooled` set to the final vectors: what an artifact returns, so both sides compare alike."""
    shipped: dict[str, Any] = {name: replace(e, pooled=e.vectors) for name, e in vars(embedded).items()
                               if isinstance(e, Embeddings)}
    return replace(embedded, **shipped)


def comparisons(measured: Measured, data) -> dict[str, comparison.Comparison]:
    """Each evaluated variant against the torch FP32 reference, on the final (shipped) vectors."""
    reference, *others = measured.rows
    ref = _shipped(measured.evaluated[reference.key]["embedded"])
    return {r.key: comparison.compare(ref, _shipped(measured.evaluated[r.key]["embedded"]), data)
            for r in others if r.key in measured.evaluated}


def _accuracy(embedded, compared: comparison.Comparison | None, ref_quality: dict, data,
              reference: bool) -> Accuracy:
    """What a variant keeps of the reference: similarity per text and the retention of each task's score."""
    q = evaluation.quality(embedded, data)
    kept = {k: 100.0 * q[k] / ref_quality[k] if k in q and ref_quality.get(k) else None
            for k in ("sts_spearman", "ndcg10")}
    similarity = dict(mean_cosine=1.0, min_cosine=1.0) if reference else {}
    if compared is not None:
        cos = compared.per_text["cosine"]
        similarity = dict(mean_cosine=float(cos.mean()), min_cosine=float(cos.min()),
                          drift_p50=float(compared.drift["p50"]), drift_p99=float(compared.drift["p99"]),
                          top1_agreement=float(compared.agreement["top1_agreement"]),
                          overlap_at_10=float(compared.agreement["overlap_at_k"]))
    return Accuracy(**similarity, sts_kept_pct=kept["sts_spearman"], ndcg10_kept_pct=kept["ndcg10"])


def artifact_rows(measured: Measured, compared: dict, data) -> list[ArtifactRow]:
    """The runner's rows with the latency and accuracy of their evaluation: what results.json stores and 07 reads."""
    reference = measured.rows[0]
    ref_quality = evaluation.quality(measured.evaluated[reference.key]["embedded"], data)
    out = []
    for r in measured.rows:
        notes = (*(["artifact from the cache: its conversion cost is the one measured when it was built"] if r.from_cache else []),
                 *r.notes)
        e = measured.evaluated.get(r.key)
        if e is None:
            out.append(replace(r, notes=notes))
            continue
        lat = e.get("latency")
        own = lat[lat["precision"] == r.key] if lat is not None else None
        latency = tuple(Latency(int(x["batch"]), x["p50_ms"] * MS, x["p95_ms"] * MS)
                        for _, x in own.iterrows()) if own is not None else r.latency
        out.append(replace(r, latency=latency, notes=(e["runtime"], *notes),
                           accuracy=_accuracy(e["embedded"], compared.get(r.key), ref_quality, data, r is reference)))
    return out


def _or_nan(value) -> float:
    return np.nan if value is None else float(value)


def table(rows: list[ArtifactRow], fp32_size: int) -> pd.DataFrame:
    """One row per variant with every measured number in page units (NaN where not measured, see the note)."""
    out = []
    for r in rows:
        a = r.accuracy or Accuracy()
        line = {"variant": r.key, "format": r.format,
                "size MB": _or_nan(r.size_bytes) / MB,
                "compression vs fp32": fp32_size / r.size_bytes if r.size_bytes else np.nan,
                "convert s": _or_nan(r.convert_s),
                "peak convert RSS MB": _or_nan(r.convert_peak_rss_bytes) / MB,
                "convert step RSS MB": _or_nan(r.convert_step_rss_bytes) / MB,
                "peak RSS / fp32 size": _or_nan(r.convert_peak_rss_bytes) / fp32_size,
                "load s": _or_nan(r.load_s), "load RSS MB": _or_nan(r.load_rss_bytes) / MB,
                "resident MB": _or_nan(r.resident_bytes) / MB}
        for x in sorted(r.latency, key=lambda x: x.batch):
            line[f"p50 ms b{x.batch}"], line[f"p95 ms b{x.batch}"] = x.p50_s / MS, x.p95_s / MS
        if r.accuracy is not None and a.mean_cosine is not None:
            line.update({"mean cosine": a.mean_cosine, "min cosine": a.min_cosine})
            if a.drift_p50 is not None:
                line.update({"1-cos p50": a.drift_p50, "1-cos p99": a.drift_p99, "same top-1": a.top1_agreement,
                             "overlap@10": a.overlap_at_10})
        for value, label in ((a.sts_kept_pct, "STS retention %"), (a.ndcg10_kept_pct, "nDCG@10 retention %")):
            if value is not None:
                line[label] = value
        line["runtime / note"] = "; ".join(r.notes)
        out.append(line)
    frame = pd.DataFrame(out).set_index("variant")
    return frame[[c for c in frame.columns if c != "runtime / note"] + ["runtime / note"]]  # the notes last


KEPT_COLUMNS = ("mean cosine", "min cosine", "1-cos p50", "1-cos p99", "same top-1", "overlap@10", "STS retention %",
                "nDCG@10 retention %", "runtime / note")


def split_table(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`table` as two tables that each fit a page: what each variant costs, and what it keeps of FP32 (with the
    notes)."""
    kept = [c for c in frame.columns if c in KEPT_COLUMNS]
    return frame.drop(columns=kept), frame[kept]


@dataclass(frozen=True)
class Outcome:
    """What a run of 03 measured, as its conclusions read it: the page's table of variants and MTEB's scores."""

    table: pd.DataFrame  # `table`: one row per variant, in page units
    scored: list[MtebScore]


# (results.json name, column of `table`, the index's label with "{}" for the variant; "" keeps it in results.json)
VARIANT_RESULTS = (("size_mb", "size MB", "size, {} (MB)"), ("peak_convert_rss_mb", "peak convert RSS MB", ""),
                   ("mean_cosine", "mean cosine", "mean cosine to FP32, {}"), ("latency_p50_ms", "p50 ms b1", ""),
                   ("latency_p95_ms", "p95 ms b1", ""), ("load_rss_mb", "load RSS MB", ""),
                   ("resident_mb", "resident MB", ""), ("ndcg10_retention_pct", "nDCG@10 retention %", ""),
                   ("sts_retention_pct", "STS retention %", ""))


def results(outcome: Outcome) -> list[Result]:
    """Per variant, each quantity or None with the reason it was not measured; the index shows each variant's
    size and mean cosine. Then MTEB's scores (`mteb_scores.results`)."""
    out = []
    for key, row in outcome.table.iterrows():
        note = row["runtime / note"] or None
        for name, column, label in VARIANT_RESULTS:
            value = row.get(column, np.nan)
            ok = value is not None and np.isfinite(value)
            out.append(Result(f"{name}_{key}", float(value) if ok else None, label.format(key),
                              None if ok else (note or "not measured")))
    return out + mteb_scores.results(outcome.scored)


CONCLUSIONS: Conclusions[Outcome] = Conclusions(catalog.QUANTIZATION, results)


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


def latency_frame(measured: Measured) -> pd.DataFrame:
    """Every timed variant's latency rows, named by variant (the shape `plots.latency_bars` draws)."""
    frames = [e["latency"] for e in measured.evaluated.values() if e.get("latency") is not None]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
