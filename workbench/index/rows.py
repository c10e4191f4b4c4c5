"""Study 06's typed tables: what each stored configuration keeps, and what each timed index costs.

Study 06 records them into results.json (`tables.storage` and `tables.search`, each with its schema name) and
study 07 reads them back typed, so 07 parses none of 06's result keys, labels, notes or headings. Quantities are
SI: bytes and seconds. Shares are percentages of float32 exact search at the model's full dimension on the same
texts. The section ids name the elements of 06's report that 07's links point to: 06 writes them above the
sections and 07 links to them, so renaming a heading moves no link.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, fields
from types import NoneType, UnionType
from typing import get_args, get_type_hints

from workbench.core.units import MS

STORAGE_TABLE, STORAGE_SCHEMA = "storage", "storage-row/1"  # bumped when a field changes meaning
SEARCH_TABLE, SEARCH_SCHEMA = "search", "search-timing/1"
QUALITY_SECTION = "storage-quality"  # the id above 06's quality-kept tables
SEARCH_SECTION = "storage-search"  # the id above 06's exact-search-against-HNSW timings


class TableSchemaError(ValueError):
    """A results.json table that is not what its schema says: named, with what was wrong."""


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


def storage_payload(rows: list[StorageRow]) -> dict:
    return {"schema": STORAGE_SCHEMA, "rows": [asdict(row) for row in rows]}


def search_payload(rows: list[SearchTiming]) -> dict:
    return {"schema": SEARCH_SCHEMA, "rows": [asdict(row) for row in rows]}


def timings_from_curve(curve, dim: int) -> list[SearchTiming]:
    """`search_latency.latency_curve`'s frame (milliseconds) as records in seconds."""
    return [SearchTiming(engine=str(r["engine"]), precision=str(r["precision"]), dim=int(dim), n=int(r["n"]),
                         build_s=float(r["build_s"]), disk_bytes_per_item=float(r["disk_bytes_per_item"]),
                         p50_s=float(r["p50_ms"]) * MS, p95_s=float(r["p95_ms"]) * MS, recall10=float(r["recall10"]))
            for r in curve.to_dict("records")]


def storage_from_results(payload: dict) -> list[StorageRow] | None:
    """The storage rows a results.json holds, typed; None for a run written before they were recorded."""
    return _table(payload, STORAGE_TABLE, STORAGE_SCHEMA, StorageRow)


def search_from_results(payload: dict) -> list[SearchTiming] | None:
    """The timed indexes a results.json holds, typed; None for a run written before they were recorded."""
    return _table(payload, SEARCH_TABLE, SEARCH_SCHEMA, SearchTiming)


def _table(payload: dict, name: str, schema: str, kind: type):
    table = (payload.get("tables") or {}).get(name)
    if table is None:
        return None
    if not isinstance(table, dict) or table.get("schema") != schema:
        found = table.get("schema") if isinstance(table, dict) else type(table).__name__
        raise TableSchemaError(f"tables.{name} has schema {found!r}; this workbench reads {schema!r}: re-run the "
                               "study with this version")
    rows = table.get("rows")
    if not isinstance(rows, list):
        raise TableSchemaError(f"tables.{name} needs a list of rows; got {type(rows).__name__}")
    return [from_dict(kind, row, f"tables.{name} row {i}") for i, row in enumerate(rows)]


def from_dict(kind: type, raw, where: str):
    """A `kind` record from its results.json form; a missing, unknown or mistyped field raises TableSchemaError
    naming it."""
    if not isinstance(raw, dict):
        raise TableSchemaError(f"{where} must be an object; got {type(raw).__name__}")
    stray = sorted(set(raw) - {f.name for f in fields(kind)})
    if stray:
        raise TableSchemaError(f"{where} has unknown field(s) {', '.join(stray)}")
    hints, values = get_type_hints(kind), {}
    for f in fields(kind):
        if f.name in raw:
            values[f.name] = _checked(raw[f.name], hints[f.name], f"{where} field {f.name!r}")
        elif f.default is MISSING:
            raise TableSchemaError(f"{where} lacks field {f.name!r}")
    return kind(**values)


def _checked(value, hint, where: str):
    """`value` as the annotation `hint` declares it: str, int, float, or one of them or None."""
    optional = isinstance(hint, UnionType) and NoneType in get_args(hint)
    (base,) = [t for t in get_args(hint) if t is not NoneType] if isinstance(hint, UnionType) else [hint]
    if value is None and optional:
        return None
    if base is str and isinstance(value, str):
        return value
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if base is int and number and isinstance(value, int):
        return value
    if base is float and number:
        return float(value)
    wanted = {str: "a string", int: "a whole number", float: "a finite number"}[base]
    raise TableSchemaError(f"{where} must be {wanted}{' or null' if optional else ''}; got {value!r}")
