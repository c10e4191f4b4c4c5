"""Study 06: what storing the vectors at lower precision, truncated, and rescored costs in quality.

Retention is each configuration's STS Spearman and nDCG@10 / recall@10 as a share of float32 at the
full dimension with exact search, on the same texts; the retrieval share carries a 95 % bootstrap
interval over queries, since the bundled set has only 48. Published figures stand beside the
measured ones as quoted, with the model and data they were measured on. `storage_results` writes what
the run records into results.json: the headline keys and the typed tables study 07 reads.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.core import metrics
from workbench.core.data import RetrievalSet, StsPairs, load_beir, load_queries, load_sts
from workbench.core.paths import DATA_DIR
from workbench.core.precision import StoragePrecision
from workbench.index.quantized import (
    BITS,
    StoredVectors,
    bytes_per_vector,
    calibration_ranges,
    check_precisions,
    quantize,
    search,
    truncate,
    unpack_bits,
)
from workbench.index.rows import QUALITY_SECTION as QUALITY_SECTION  # the ids the notebook writes, 07 links to
from workbench.index.rows import SEARCH_SECTION as SEARCH_SECTION
from workbench.run.claims import NOT_MEASURABLE, Claim, verdict_on

BASELINE: StoragePrecision = "float32"
RESCORE_SOURCES = ("stored", "int8", "float32")  # what rescoring reads: the searched vectors, int8 or float32 copies
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0

ST_BENCHMARK = "sentence-transformers' embedding-quantization benchmark (STS-B test, quoted)"
HF_BLOG = "Hugging Face blog 'Binary and Scalar Embedding Quantization' (2024), MTEB retrieval (quoted)"
PUBLISHED_STS: dict[str, Any] = {"model": "all-mpnet-base-v2",
                 "spearman": {"float32": 0.8342, "int8": 0.8313, "uint8": 0.8260, "binary": 0.8244}}
PUBLISHED_RETRIEVAL = [  # (model, precision, rescored, % of float32 retrieval quality)
    ("all-MiniLM-L6-v2", "int8", False, 90.8),
    ("all-MiniLM-L6-v2", "binary", True, 93.8),
    ("mxbai-embed-large-v1", "binary", True, 96.5),
]


def check_options(rescore_multipliers, rescore_with) -> None:
    """Multipliers are whole numbers >= 1 and rescoring sources are known; checked before anything is embedded."""
    for m in rescore_multipliers:
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise ValueError(f"rescore_multipliers must be whole numbers >= 1; got {list(rescore_multipliers)}")
    for source in rescore_with:
        if source not in RESCORE_SOURCES:
            raise ValueError(f"rescore_with {source!r} is not valid; choose from {', '.join(RESCORE_SOURCES)}")


def calibration_texts(calibration_path: str = "") -> dict[str, tuple[list[list[str]], str]]:
    """Texts whose embeddings set the int8/uint8 ranges, per evaluated set, never the evaluated texts themselves.

    A calibration file serves both sets; by default STS is calibrated on the bundled passages and retrieval on
    the bundled STS sentences, each with the bundled unlabelled queries. Each source is its own list, so texts
    another study already embedded come from the embeddings cache.
    """
    if calibration_path:
        texts = load_queries(calibration_path)
        return {"sts": ([texts], calibration_path), "retrieval": ([texts], calibration_path)}
    queries, pairs, corpus = load_queries(None), load_sts(None), load_beir(None)
    return {"sts": ([corpus.docs, queries], f"bundled passages and {DATA_DIR.name}/queries.txt"),
            "retrieval": ([pairs.sentence1, pairs.sentence2, queries],
                          f"bundled STS sentences and {DATA_DIR.name}/queries.txt")}


@dataclass(frozen=True)
class StorageInputs:
    """The float32 vectors under study and the calibration vectors that set each set's int8/uint8 ranges."""

    sts: tuple[np.ndarray, np.ndarray] | None
    retrieval: tuple[np.ndarray, np.ndarray] | None  # queries, documents
    calibration: dict[str, np.ndarray]
    calibration_sources: dict[str, str]

    def ranges(self, part: str, dims) -> dict:
        """Per dimension, the calibration ranges of `part` ("sts" or "retrieval") after truncation."""
        return {d: calibration_ranges(truncate(self.calibration[part], d)) for d in dims}

    def calibration_summary(self) -> pd.DataFrame:
        return pd.DataFrame([{"calibrates": part, "texts": len(self.calibration[part]),
                              "source": self.calibration_sources[part]} for part in self.calibration])


def embed_inputs(loaded, data, calibration_path: str = "", batch_size: int = 32) -> StorageInputs:
    """Embed the evaluated sets and their calibration texts (passage prompt for retrieval, as stored documents)."""
    from workbench.core.cache import cached_embed_many
    from workbench.core.embedding import Recipe
    from workbench.core.evaluation import embed_all

    recipe = Recipe.model_default(loaded.spec)
    embedded = embed_all(loaded, data, recipe, batch_size)
    texts = calibration_texts(calibration_path)
    parts = {"sts": data.sts is not None, "retrieval": data.retrieval is not None}
    prompts = {"sts": "", "retrieval": loaded.spec.document_prompt}
    calibration = {part: np.vstack([cached_embed_many(loaded, chunk, {"": recipe}, prompts[part], batch_size)[""].vectors
                                    for chunk in texts[part][0]])
                   for part, wanted in parts.items() if wanted}
    sts1, sts2, queries, docs = embedded.sts1, embedded.sts2, embedded.ret_queries, embedded.ret_docs
    return StorageInputs(
        sts=(sts1.vectors, sts2.vectors) if sts1 is not None and sts2 is not None else None,
        retrieval=(queries.vectors, docs.vectors) if queries is not None and docs is not None else None,
        calibration=calibration, calibration_sources={part: texts[part][1] for part in calibration})


def storage_dims(full_dim: int, requested: list, matryoshka_dims: tuple) -> list[int]:
    """The full dimension first, then the truncations: those requested, or the model's Matryoshka dimensions."""
    wanted = [int(d) for d in requested] if requested else [d for d in matryoshka_dims if d < full_dim]
    for d in wanted:
        if not 1 <= d <= full_dim:
            raise ValueError(f"truncate_dims must lie between 1 and the model's dimension {full_dim}; got {d}")
    return [full_dim] + sorted({d for d in wanted if d != full_dim}, reverse=True)


def dim_note(dim: int, full_dim: int, matryoshka_dims: tuple) -> str:
    """Whether a truncation is one the model was trained for."""
    if dim == full_dim:
        return "full"
    return "Matryoshka-trained" if dim in matryoshka_dims else "not trained for truncation"


def _sts_view(codes: np.ndarray, precision: str, dim: int) -> np.ndarray:
    """What sentence-transformers' STS evaluator takes the cosine of: the codes as numbers, bits as 0/1."""
    if precision in BITS:
        return unpack_bits(codes, precision)[:, :dim].astype(np.float32)
    return codes.astype(np.float32)


def sts_table(sts1: np.ndarray, sts2: np.ndarray, pairs: StsPairs, precisions, dims, ranges: dict) -> pd.DataFrame:
    """STS Spearman per precision and dimension, computed as sentence-transformers' evaluator does.

    `ranges[dim]` are the int8/uint8 calibration ranges at that dimension (from the calibration set).
    """
    rows = []
    for dim in dims:
        a, b = truncate(sts1, dim), truncate(sts2, dim)
        for precision in check_precisions(precisions):
            r = ranges.get(dim)
            views = [_sts_view(quantize(x, precision, r), precision, dim) for x in (a, b)]
            rows.append({"precision": precision, "dim": dim, "bytes per vector": bytes_per_vector(precision, dim),
                         "STS Spearman": metrics.sts_spearman(views[0], views[1], pairs.scores)})
    frame = pd.DataFrame(rows)
    base = _baseline(frame, dims[0])["STS Spearman"]
    frame["STS retention (%)"] = 100.0 * (frame["STS Spearman"] / base)
    return frame


def _baseline(frame: pd.DataFrame, full_dim: int) -> pd.Series:
    rows = frame[(frame["precision"] == BASELINE) & (frame["dim"] == full_dim)]
    if rows.empty:
        raise ValueError(f"{BASELINE} at the full dimension is the reference every retention is measured against; "
                         "keep it in precisions")
    return rows.iloc[0]


def retention_interval(reference: np.ndarray, test: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(test) / mean(reference) in %, resampling queries in pairs."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    picks = rng.integers(0, len(reference), size=(BOOTSTRAP_RESAMPLES, len(reference)))
    ref = reference[picks].mean(axis=1)
    ratios = 100.0 * test[picks].mean(axis=1) / np.where(ref == 0, np.nan, ref)
    lo, hi = np.nanpercentile(ratios, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def retrieval_table(queries: np.ndarray, docs: np.ndarray, ret: RetrievalSet, precisions, dims, ranges: dict,
                    multipliers, rescore_with, k: int = 10) -> pd.DataFrame:
    """nDCG@k and recall@k per precision, dimension and rescoring, with retention against exact float32 search.

    Rescoring searches k x m candidates in the stored precision, then ranks them by the float query's dot
    product with the document vectors it reads (`rescore_with`). Only 8-bit and binary storage is rescored:
    float32 is exact and float16 keeps its rankings.
    """
    rows, per_query = [], {}
    for dim in dims:
        q, d = truncate(queries, dim), truncate(docs, dim)
        stored = {p: StoredVectors.of(d, p, ranges.get(dim)) for p in check_precisions(precisions)}
        copies = {s: StoredVectors.of(d, s, ranges.get(dim)) for s in rescore_with if s != "stored"}
        for precision, vectors in stored.items():
            runs = [("none", 0, None)] + [(source, m, copies.get(source)) for source in rescore_with
                                          for m in multipliers if _worth_rescoring(precision, source)]
            for source, m, copy in runs:
                found = search(q, vectors, k, m, copy)
                scores = metrics.ranked_ir_metrics(found, ret.query_ids, ret.doc_ids, ret.qrels, k)
                key = (precision, dim, source, m)
                per_query[key] = scores[f"ndcg@{k}"]
                rows.append({"precision": precision, "dim": dim, "rescoring": _rescoring(source, m),
                             "rescore from": source, "multiplier": m,
                             "bytes per vector": vectors.bytes_per_vector,
                             "rescoring bytes per vector": 0 if m == 0 or source == "stored"
                             else bytes_per_vector(source, dim),
                             f"nDCG@{k}": float(scores[f"ndcg@{k}"].mean()),
                             f"recall@{k}": float(scores[f"recall@{k}"].mean())})
    frame = pd.DataFrame(rows)
    base = _baseline(frame[frame["multiplier"] == 0], dims[0])
    reference = per_query[(BASELINE, dims[0], "none", 0)]
    frame[f"nDCG@{k} retention (%)"] = 100.0 * (frame[f"nDCG@{k}"] / base[f"nDCG@{k}"])
    frame[f"recall@{k} retention (%)"] = 100.0 * (frame[f"recall@{k}"] / base[f"recall@{k}"])
    intervals = [retention_interval(reference, per_query[(r["precision"], r["dim"], r["rescore from"], r["multiplier"])])
                 for r in frame.to_dict("records")]
    frame[f"nDCG@{k} retention, 95 % low (%)"] = [lo for lo, _ in intervals]
    frame[f"nDCG@{k} retention, 95 % high (%)"] = [hi for _, hi in intervals]
    return frame


def _worth_rescoring(precision: str, source: str) -> bool:
    """Rescoring helps 8-bit and 1-bit storage only, and only from vectors that hold more than the searched ones."""
    if precision in ("float32", "float16"):
        return False
    return source in ("stored", "float32") or (source == "int8" and precision in BITS)


def _rescoring(source: str, multiplier: int) -> str:
    if multiplier == 0:
        return "none"
    read = "the stored vectors" if source == "stored" else f"{source} copies"
    return f"×{multiplier}, from {read}"


def rescoring_grid(retrieval: pd.DataFrame, dim: int, k: int = 10) -> pd.DataFrame:
    """nDCG@k retention (%) per precision (rows) and rescoring (columns) at one dimension."""
    rows = retrieval[retrieval["dim"] == dim]
    grid = rows.pivot_table(index="precision", columns="rescoring", values=f"nDCG@{k} retention (%)", sort=False)
    order = ["none"] + [c for c in grid.columns if c != "none"]
    return grid[order]


def cheapest(sts: pd.DataFrame | None, retrieval: pd.DataFrame | None, min_retention_pct: float,
             k: int = 10) -> tuple[dict | None, str]:
    """The configuration with the fewest bytes per searched vector that keeps min_retention_pct, and what "quality"
    meant: nDCG@k and recall@k when a retrieval set was measured (rescoring applies to search), else STS Spearman.
    Ties go to the simpler one (no extra copy, then fewer candidates)."""
    if retrieval is not None:
        frame = retrieval.assign(**{"retention (%)": retrieval[[f"nDCG@{k} retention (%)",
                                                                  f"recall@{k} retention (%)"]].min(axis=1)})
        basis = f"retrieval quality (nDCG@{k} and recall@{k})"
    elif sts is not None:
        frame = sts.assign(multiplier=0, rescoring="none", **{"rescoring bytes per vector": 0,
                                                              "retention (%)": sts["STS retention (%)"]})
        basis = "STS Spearman"
    else:
        return None, "quality"
    kept = frame[frame["retention (%)"] >= min_retention_pct]
    if kept.empty:
        return None, basis
    best = kept.sort_values(["bytes per vector", "rescoring bytes per vector", "multiplier"], kind="stable").iloc[0]
    return {key: best[key].item() if hasattr(best[key], "item") else best[key]
            for key in ("precision", "dim", "rescoring", "bytes per vector", "rescoring bytes per vector",
                        "retention (%)")}, basis


def answer_html(answer: dict | None, min_retention_pct: float, basis: str, crossovers: pd.DataFrame,
                full_dim: int) -> str:
    """The study's answer in two sentences: the smallest storage that keeps the target, and where exact search ends."""
    if answer is None:
        first = (f"<p>No measured storage keeps {min_retention_pct:g} % of float32 {html.escape(basis)}: lower the "
                 "target, or add rescoring multipliers and rescoring sources.</p>")
    else:
        shrink = bytes_per_vector(BASELINE, full_dim) / answer["bytes per vector"]
        extra = (f", plus {answer['rescoring bytes per vector']:g} bytes per vector kept for rescoring (on disk)"
                 if answer["rescoring bytes per vector"] else "")
        first = (f"<p><b>Smallest storage keeping &ge; {min_retention_pct:g} % of float32 {html.escape(basis)}:</b> "
                 f"{html.escape(answer['precision'])} at {answer['dim']}-d, rescoring "
                 f"{html.escape(answer['rescoring'])}: {answer['bytes per vector']:g} bytes per searched vector "
                 f"({shrink:.0f}&times; less than float32{extra}); it keeps {answer['retention (%)']:.2f} %.</p>")
    lines = []
    for r in crossovers.to_dict("records"):
        n = r["crossover N"]
        said = (f"exact search is faster up to N &asymp; {n:,.0f} ({html.escape(r['where'])})" if math.isfinite(n)
                else f"the crossover lies {html.escape(r['where'])}")
        lines.append(f"<li>{html.escape(r['precision'])}: {said}</li>")
    return first + (f"<p><b>Exact search or HNSW</b> (p95 per query, one thread):</p><ul>{''.join(lines)}</ul>"
                    if lines else "")


def _interval_text(row: dict, k: int = 10) -> str:
    return (f"{row[f'nDCG@{k} retention (%)']:.1f} % (95 % interval {row[f'nDCG@{k} retention, 95 % low (%)']:.1f}–"
            f"{row[f'nDCG@{k} retention, 95 % high (%)']:.1f})")


def _retrieval_row(retrieval: pd.DataFrame, precision: str, multiplier: int, source: str = "stored") -> dict | None:
    full = retrieval["dim"].max()
    rows = retrieval[(retrieval["precision"] == precision) & (retrieval["dim"] == full)
                     & (retrieval["multiplier"] == multiplier)
                     & ((retrieval["rescore from"] == source) | (retrieval["multiplier"] == 0))]
    return rows.iloc[0].to_dict() if len(rows) else None


def published_beside(sts: pd.DataFrame | None, retrieval: pd.DataFrame | None, model: str, data: str,
                     k: int = 10) -> pd.DataFrame:
    """Each published retention figure beside this run's figure for the same precision (and rescoring)."""
    rows = []
    base = PUBLISHED_STS["spearman"][BASELINE]
    for precision, value in PUBLISHED_STS["spearman"].items():
        if precision == BASELINE:
            continue
        mine = None
        if sts is not None:
            hit = sts[(sts["precision"] == precision) & (sts["dim"] == sts["dim"].max())]
            mine = f"{hit['STS retention (%)'].iloc[0]:.2f} %" if len(hit) else None
        rows.append({"published for": f"{PUBLISHED_STS['model']}, STS-B test Spearman", "precision": precision,
                     "rescoring": "none", "published retention (%)": 100.0 * value / base, "source": ST_BENCHMARK,
                     f"this run: {model}, {data}": mine or "not measured"})
    for published_model, precision, rescored, value in PUBLISHED_RETRIEVAL:
        mine = None
        if retrieval is not None:
            row = _retrieval_row(retrieval, precision, int(retrieval["multiplier"].max()) if rescored else 0)
            mine = _interval_text(row, k) if row else None
        rows.append({"published for": f"{published_model}, MTEB retrieval", "precision": precision,
                     "rescoring": "yes" if rescored else "none", "published retention (%)": value, "source": HF_BLOG,
                     f"this run: {model}, {data}": mine or "not measured"})
    return pd.DataFrame(rows)


def claim_checks(sts: pd.DataFrame | None, retrieval: pd.DataFrame | None, model: str, k: int = 10) -> list[Claim]:
    """The published retention figures, judged by this run's 95 % interval; a figure published for another model
    shows this run's value for the same precision, as measured on this model, without a verdict."""
    claims = []
    for published_model, precision, rescored, value in PUBLISHED_RETRIEVAL:
        quote = (f"{published_model}: {precision} {'with rescoring ' if rescored else ''}keeps about {value} % of "
                 "float32 retrieval quality")
        quantity = f"nDCG@{k}, % of float32 exact search" + (", rescored" if rescored else "")
        row = None
        if retrieval is not None:
            multiplier = int(retrieval["multiplier"].max()) if rescored else 0
            row = _retrieval_row(retrieval, precision, multiplier)
        if row is None:
            claims.append(Claim(quote=quote, source=HF_BLOG, quantity=quantity, value="", threshold="",
                                threshold_origin="", verdict=NOT_MEASURABLE, about=published_model, subject=model,
                                detail="no retrieval set in this run" if retrieval is None else
                                f"this run did not measure {precision}" + (" rescored" if rescored else "")))
            continue
        lo, hi = row[f"nDCG@{k} retention, 95 % low (%)"], row[f"nDCG@{k} retention, 95 % high (%)"]
        inside = lo <= value <= hi
        verdict, other = verdict_on(inside, published_model, model)
        claims.append(Claim(
            quote=quote, source=HF_BLOG, quantity=quantity + (f" (×{row['multiplier']}, from the stored vectors)"
                                                              if rescored else ""),
            value=_interval_text(row, k), threshold=f"{value} % inside the 95 % interval",
            threshold_origin="bootstrap over this set's queries", verdict=verdict, about=published_model,
            subject=model, detail=other or ("" if inside else (
                "measured on this run's retrieval set, not MTEB: here the loss is "
                + ("smaller" if lo > value else "larger") + " than published"))))
    return claims
