"""Study 06's typed tables: what each stored configuration keeps, and what each timed index costs.

Study 06 records them into results.json (`tables.storage` and `tables.search`, each with its schema name) and
study 07 reads them back typed, so 07 parses none of 06's result keys, labels, notes or headings. Quantities are
SI: bytes and seconds. Shares are percentages of float32 exact search at the model's full dimension on the same
texts. The section ids name the elements of 06's report that 07's links point to: 06 writes them above the
sections and 07 links to them, so renaming a heading moves no link.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.core.records import Table
from workbench.core.units import MS

QUALITY_SECTION = "storage-quality"  # the id above 06's quality-kept tables
SEARCH_SECTION = "storage-search"  # the id above 06's exact-search-against-HNSW timings


@dataclass(frozen=True)
class StorageRow:
    """One stored configuration (precision, dimension, rescoring): what a vector costs and what it keeps."""

    precision: str  # storage precision, one of `quantized.PRECISIONS`
    dim: int  # the stored dimension; below model_dim it is a truncation
    model_dim: int  # the model's full dimension, where float32 exact search is the reference
    bytes_per_vector: int  # one searched vector
    rescore_multiplier: int = 0  # 0: not rescored; else k x this many candidates are rescored
    rescore_from: str | None = None  # what rescoring reads: "stored" (the searched vectors), "int8" or "float32"
    rescoring_bytes_per_vector: int = 0  # the copy rescoring reads besides the searched vectors (0: none)
    sts_kept_pct: float | None = None  # None: not measured (no STS set, or a rescored row)
    ndcg10_kept_pct: float | None = None  # None: no retrieval set
    ndcg10_kept_low_pct: float | None = None  # 95 % bootstrap interval over the queries
    ndcg10_kept_high_pct: float | None = None
    recall10_kept_pct: float | None = None


@dataclass(frozen=True)
class SearchTiming:
    """One index at one item count: its engine and precision, bytes per item on disk, single-query latency."""

    engine: str  # "flat" (exact search) or "faiss" (HNSW), as `search_latency.ENGINES` names them
    precision: str  # as the index stores it
    dim: int
    n: int  # items in the index
    build_s: float
    disk_bytes_per_item: float  # the index folder's bytes over n
    p50_s: float  # per single-thread query
    p95_s: float
    recall10: float  # against exact search at the same precision


def timings_from_curve(curve, dim: int) -> list[SearchTiming]:
    """`search_latency.latency_curve`'s frame (milliseconds) as records in seconds."""
    return [SearchTiming(engine=str(r["engine"]), precision=str(r["precision"]), dim=int(dim), n=int(r["n"]),
                         build_s=float(r["build_s"]), disk_bytes_per_item=float(r["disk_bytes_per_item"]),
                         p50_s=float(r["p50_ms"]) * MS, p95_s=float(r["p95_ms"]) * MS, recall10=float(r["recall10"]))
            for r in curve.to_dict("records")]


STORAGE: Table[StorageRow] = Table("storage", "storage-row/1", StorageRow)  # schemas bump when a field changes meaning
SEARCH: Table[SearchTiming] = Table("search", "search-timing/1", SearchTiming)
