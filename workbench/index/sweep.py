"""The capacity sweep: N x dimension x engine, each point built and queried in clean child processes.

Every finished point is appended to sweep.jsonl at once, so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.core.files import atomic_path, record_lines
from workbench.core.params import as_list
from workbench.core.progress import progress_bar
from workbench.core.resources import (
    ChildProcessFailed,
    available_memory_bytes,
    current_rss_bytes,
    dir_size_bytes,
    latency_summary,
    run_in_child,
    sample_latency_ms,
)
from workbench.core.units import GIB, MIB
from workbench.index.engines import ENGINES, HnswParams, exact_top_k, make_engine, recall_at_k
from workbench.index.timing import time_queries
from workbench.index.vectors import point_vectors

SWEEP_FILE = "sweep.jsonl"
VECTOR_SOURCES = ("synthetic", "embeddings")
CHILD_BASELINE_BYTES = 400 * MIB  # interpreter, numpy, pandas and the engine libraries in a child
CHILD_PRELOAD = ("workbench.index.sweep", *dict.fromkeys(cls.module for cls in ENGINES.values()))


def _engine(point: dict):
    """The point's engine, its library imported now so that import is not counted as index memory."""
    engine = make_engine(point["engine"], point["dim"], HnswParams(**point["params"]))
    importlib.import_module(engine.module)
    return engine


def build_point(point: dict, folder: str, base_path: str) -> dict:
    """Child step: build the index and write it to `folder`; resident memory the built index holds."""
    base = np.load(base_path)
    engine = _engine(point)
    before = current_rss_bytes()
    seconds = sample_latency_ms(lambda: engine.build(base, folder), repeats=1, warmup=0)[0] / 1e3
    return {"build_s": seconds, "rss_after_build_bytes": current_rss_bytes() - before}


def query_point(point: dict, folder: str, queries_path: str) -> dict:
    """Child step: load the index from disk, then time single-threaded queries one at a time."""
    queries = np.load(queries_path)
    engine = _engine(point)
    k = point["k"]
    before = current_rss_bytes()
    load_s = sample_latency_ms(lambda: (engine.load(folder), engine.query(queries[:1], k)), repeats=1,
                               warmup=0)[0] / 1e3  # first query included: some engines (chroma) read lazily
    after_load = current_rss_bytes() - before
    ids, samples = time_queries(engine, queries, k, warmup=3)
    return {"rss_after_load_bytes": after_load, "load_s": load_s, "ids": ids, "latency_ms": samples}


def estimate_bytes(point: dict) -> int:
    """Generous RAM a point needs: base vectors three times over (data, index copy, store) plus a child."""
    return int(3 * point["n"] * point["dim"] * 4 + CHILD_BASELINE_BYTES)


@dataclass(frozen=True)
class PointVectors:
    """A point's base and query vectors, saved where its children read them, and the exact top-k for recall."""

    base_path: str
    queries_path: str
    exact: np.ndarray


def _vectors_key(point: dict) -> tuple:
    """Points that share this key (every engine at one source, dimension and N) share their vectors."""
    return point["vectors"], point.get("embeddings_sha", ""), point["dim"], point["n"], point["n_queries"], point["k"]


def prepare_vectors(point: dict, folder: Path) -> PointVectors:
    """Generate a point's vectors once, save them for the children, and find the true neighbours by brute force."""
    folder.mkdir(parents=True, exist_ok=True)
    base, queries = point_vectors(point, "base"), point_vectors(point, "queries")
    np.save(folder / "base.npy", base)
    np.save(folder / "queries.npy", queries)
    return PointVectors(str(folder / "base.npy"), str(folder / "queries.npy"), exact_top_k(base, queries, point["k"]))


def measure_point(point: dict, vectors: PointVectors, scratch: Path) -> dict:
    """Build in one child, load and query in a fresh one, compare with exact search; one row."""
    folder = Path(tempfile.mkdtemp(prefix=f"{point['engine']}-", dir=scratch)) / "index"
    try:
        built = run_in_child(build_point, point, str(folder), vectors.base_path, preload=CHILD_PRELOAD)
        disk = dir_size_bytes(folder)
        files = sum(1 for p in folder.rglob("*") if p.is_file())
        queried = run_in_child(query_point, point, str(folder), vectors.queries_path, preload=CHILD_PRELOAD)
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)
    lat = queried.value["latency_ms"]
    summary = latency_summary(lat)
    return {
        **built.value,
        "items_per_s": point["n"] / built.value["build_s"],
        "disk_bytes": disk,
        "files": files,
        "rss_after_load_bytes": queried.value["rss_after_load_bytes"],
        "load_s": queried.value["load_s"],
        "query_s": float(np.sum(lat)) / 1e3,
        "p50_ms": summary["p50_ms"],
        "p95_ms": summary["p95_ms"],
        "p99_ms": float(np.percentile(lat, 99)),
        "queries": summary["n"],
        "recall10": recall_at_k(queried.value["ids"], vectors.exact),
    }


@dataclass(frozen=True)
class SweepConfig:
    """The grid and the settings shared by every point."""

    engines: tuple
    dims: tuple
    n_values: tuple
    vectors: tuple
    params: HnswParams
    k: int = 10
    n_queries: int = 500
    embeddings_path: str = ""
    embeddings_dim: int = 0

    @property
    def embeddings_sha(self) -> str:
        """Fingerprint of the real embeddings, so a resumed sweep never reuses rows from another model's vectors."""
        return hashlib.sha256(Path(self.embeddings_path).read_bytes()).hexdigest()[:16] if self.embeddings_path else ""

    def points(self) -> list[dict]:
        """Every grid point; real embeddings only exist at their model's dimension."""
        out, sha = [], self.embeddings_sha
        for source in self.vectors:
            dims = self.dims if source == "synthetic" else (self.embeddings_dim,)
            for dim in dims:
                for engine in self.engines:
                    for n in self.n_values:
                        out.append(dict(vectors=source, engine=engine, dim=int(dim), n=int(n), k=self.k,
                                        n_queries=self.n_queries, params=asdict(self.params),
                                        embeddings_path=self.embeddings_path,
                                        embeddings_sha=sha if source == "embeddings" else ""))
        return out


def sweep_config(engines, dims, n_values, vectors: str, M: int, ef_construction: int, ef_search: int, k: int,
                 n_queries: int, embeddings_path: str = "", embeddings_dim: int = 0) -> SweepConfig:
    """Validated notebook parameters as one config; bad values fail with what to write instead."""
    engines = tuple(as_list(engines, "engines"))
    for name in engines:
        if name not in ENGINES:
            raise ValueError(f"unknown engine {name!r}; valid: {', '.join(ENGINES)}")
    dims = tuple(int(d) for d in as_list(dims, "dims"))
    n_values = tuple(sorted(int(n) for n in as_list(n_values, "n_values")))
    if min(dims) < 1:
        raise ValueError(f"dims must be integers >= 1; got {list(dims)}")
    if len(set(n_values)) < 2:
        raise ValueError(f"n_values needs at least two sizes to fit bytes and latency against N; got {list(n_values)}")
    if n_values[0] <= k:
        raise ValueError(f"every n in n_values must exceed k={k}; got {list(n_values)}")
    if n_queries < 1:
        raise ValueError(f"n_queries must be >= 1; got {n_queries}")
    sources = VECTOR_SOURCES if vectors == "both" else (vectors,)
    if vectors != "both" and vectors not in VECTOR_SOURCES:
        raise ValueError(f"vectors {vectors!r} is not valid; choose synthetic, embeddings or both")
    return SweepConfig(engines, dims, n_values, sources, HnswParams(M, ef_construction, ef_search), k, n_queries,
                       embeddings_path, embeddings_dim)


def _key(point: dict) -> tuple:
    return point["vectors"], point.get("embeddings_sha", ""), point["engine"], point["dim"], point["n"], \
        json.dumps(point["params"], sort_keys=True), point["k"], point["n_queries"]


def load_rows(path: Path) -> list[dict]:
    """Rows already written by an earlier (possibly interrupted) run of the same sweep."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in record_lines(path.read_text(encoding="utf-8")) if line.strip()]


def _append_row(path: Path, row: dict) -> None:
    """Rewrite the file with one more line, atomically: an interruption leaves every earlier row intact."""
    lines = path.read_text(encoding="utf-8") if path.exists() else ""
    with atomic_path(path) as tmp:
        tmp.write_text(lines + json.dumps(row) + "\n", encoding="utf-8")


def run_sweep(config: SweepConfig, output_dir, measure=measure_point) -> pd.DataFrame:
    """Measure every point not already in output_dir/sweep.jsonl; skip those that would not fit in RAM.

    Points are taken grouped by their vectors, so each N x dimension is generated and searched exactly
    once for all engines.
    """
    path = Path(output_dir) / SWEEP_FILE
    done = {_key(r["point"]) for r in load_rows(path) if r["status"] == "ok"}
    todo = sorted((p for p in config.points() if _key(p) not in done), key=_vectors_key)
    scratch = Path(tempfile.mkdtemp(prefix="capacity-"))
    prepared_key, prepared = None, None
    try:
        with progress_bar(len(todo), "capacity sweep", unit="point") as bar:
            for point in todo:
                need, free = estimate_bytes(point), available_memory_bytes()
                if need > free:
                    row = {"status": "skipped", "reason": f"needs ~{need / GIB:.1f} GiB, {free / GIB:.1f} GiB free"}
                else:
                    if _vectors_key(point) != prepared_key:
                        prepared_key, prepared = _vectors_key(point), prepare_vectors(point, scratch / "vectors")
                    try:
                        row = {"status": "ok", **measure(point, prepared, scratch)}
                    except ChildProcessFailed as exc:
                        row = {"status": "failed", "reason": str(exc)}
                _append_row(path, {"point": point, **row})
                bar.update()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return sweep_table(load_rows(path), config)


def sweep_table(rows: list[dict], config: SweepConfig | None = None) -> pd.DataFrame:
    """One row per point (latest measurement wins), restricted to the config's grid when given."""
    wanted = {_key(p) for p in config.points()} if config else None
    latest = {}
    for row in rows:
        if wanted is None or _key(row["point"]) in wanted:
            latest[_key(row["point"])] = row
    records = []
    for row in latest.values():
        point = row["point"]
        records.append({"vectors": point["vectors"], "engine": point["engine"], "dim": point["dim"], "n": point["n"],
                        "M": point["params"]["M"], **{k: v for k, v in row.items() if k != "point"}})
    frame = pd.DataFrame(records)
    return frame.sort_values(["vectors", "engine", "dim", "n"]).reset_index(drop=True) if len(frame) else frame
