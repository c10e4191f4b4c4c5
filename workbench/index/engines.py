"""Vector-index engines behind one small interface, so a sweep can measure them the same way.

Each engine builds an index over unit vectors (HNSW, or exact "flat" search), writes everything it needs to one
folder, loads it back from that folder and answers k-nearest-neighbour queries as row
ids. The engine library is imported inside the class, so importing this module is cheap
and a child process only pays for the engine it measures.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from workbench.core.precision import ENGINE_PRECISIONS as PRECISIONS  # storage precisions the faiss engines support
from workbench.core.precision import EnginePrecision


class Engine(Protocol):
    """What a sweep does with an engine: build an index into a folder, load it back, query it, let it go."""

    name: str
    module: str  # the library it imports, so a child process measures that import alone

    def build(self, vectors, folder) -> None: ...

    def load(self, folder) -> None: ...

    def query(self, vectors, k: int) -> np.ndarray: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class HnswParams:
    """The graph settings every engine gets, so their numbers compare (seed 001: M=16, ef_search=50)."""

    M: int = 16
    ef_construction: int = 100
    ef_search: int = 50

    def __post_init__(self):
        for name in ("M", "ef_construction", "ef_search"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1; got {value!r}")


def _float32_rows(vectors) -> np.ndarray:
    """A contiguous float32 [items, dim] array, as every engine wants; callers pass unit vectors."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] == 0:
        raise ValueError(f"vectors must be a non-empty 2-D array (items x dimension); got shape {vectors.shape}")
    return vectors


class HnswlibIndex:
    """hnswlib, inner product on unit vectors: one file, the whole graph and vectors."""

    name = module = "hnswlib"
    FILE = "index.bin"

    def __init__(self, dim: int, params: HnswParams = HnswParams(), threads: int = 0):
        self.dim, self.params, self.threads = dim, params, threads or -1
        self.index: Any = None  # an hnswlib.Index once built or loaded

    def build(self, vectors, folder) -> None:
        import hnswlib

        vectors = _float32_rows(vectors)
        self.index = hnswlib.Index(space="ip", dim=self.dim)
        self.index.init_index(max_elements=len(vectors), M=self.params.M, ef_construction=self.params.ef_construction,
                              random_seed=0)
        self.index.add_items(vectors, np.arange(len(vectors)), num_threads=self.threads)
        self.index.set_ef(self.params.ef_search)
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.index.save_index(str(Path(folder) / self.FILE))

    def load(self, folder) -> None:
        import hnswlib

        self.index = hnswlib.Index(space="ip", dim=self.dim)
        self.index.load_index(str(Path(folder) / self.FILE))
        self.index.set_ef(self.params.ef_search)

    def query(self, vectors, k: int) -> np.ndarray:
        ids, _ = self.index.knn_query(_float32_rows(vectors), k=k, num_threads=1)
        return ids.astype(np.int64)

    def close(self) -> None:
        self.index = None


class _FaissIndex:
    """What faiss indexes share: fp32, fp16/int8 scalar-quantised or binary (Hamming) storage, one file."""

    name: str  # each subclass's own
    module = "faiss"
    FILE = "index.faiss"

    def __init__(self, dim: int, params: HnswParams = HnswParams(), threads: int = 0,
                 precision: EnginePrecision = "fp32"):
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r} is not supported; valid: {', '.join(PRECISIONS)}")
        if precision == "binary" and dim % 8:
            raise ValueError(f"binary storage needs a dimension divisible by 8; got {dim}")
        self.dim, self.params, self.threads, self.precision = dim, params, threads, precision
        self.index: Any = None  # a faiss index once built or loaded

    def _encode(self, vectors) -> np.ndarray:
        vectors = _float32_rows(vectors)
        return np.packbits(vectors > 0, axis=1) if self.precision == "binary" else vectors

    def _new_index(self):
        raise NotImplementedError

    def _after_load(self) -> None:
        """Settings faiss does not save with the index."""

    def build(self, vectors, folder) -> None:
        import faiss

        faiss.omp_set_num_threads(self.threads or os.cpu_count() or 1)  # query() leaves it at one thread
        data = self._encode(vectors)
        self.index = self._new_index()
        if not self.index.is_trained:
            self.index.train(data)
        self.index.add(data)
        Path(folder).mkdir(parents=True, exist_ok=True)
        write = faiss.write_index_binary if self.precision == "binary" else faiss.write_index
        write(self.index, str(Path(folder) / self.FILE))

    def load(self, folder) -> None:
        import faiss

        read = faiss.read_index_binary if self.precision == "binary" else faiss.read_index
        self.index = read(str(Path(folder) / self.FILE))
        self._after_load()

    def query(self, vectors, k: int) -> np.ndarray:
        import faiss

        faiss.omp_set_num_threads(1)
        _, ids = self.index.search(self._encode(vectors), k)
        return ids.astype(np.int64)

    def close(self) -> None:
        self.index = None


def _scalar_kind(precision: EnginePrecision):
    import faiss

    return faiss.ScalarQuantizer.QT_fp16 if precision == "fp16" else faiss.ScalarQuantizer.QT_8bit


class FaissHnswIndex(_FaissIndex):
    """faiss HNSW, inner product on unit vectors; also fp16/int8 scalar-quantised and binary (Hamming) storage."""

    name = "faiss"

    def _new_index(self):
        import faiss

        p = self.params
        if self.precision == "binary":
            index = faiss.IndexBinaryHNSW(self.dim, p.M)
        elif self.precision == "fp32":
            index = faiss.IndexHNSWFlat(self.dim, p.M, faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexHNSWSQ(self.dim, _scalar_kind(self.precision), p.M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = p.ef_construction
        index.hnsw.efSearch = p.ef_search
        return index

    def _after_load(self) -> None:
        self.index.hnsw.efSearch = self.params.ef_search


class FlatIndex(_FaissIndex):
    """Exact search: every stored vector scored per query (faiss IndexFlatIP, scalar-quantised or binary flat).

    No graph, so no build cost beyond copying the vectors, recall 1 by construction, and latency that
    grows linearly with N: the engine to beat at the item counts of an on-device memory store.
    """

    name = "flat"

    def _new_index(self):
        import faiss

        if self.precision == "binary":
            return faiss.IndexBinaryFlat(self.dim)
        if self.precision == "fp32":
            return faiss.IndexFlatIP(self.dim)
        return faiss.IndexScalarQuantizer(self.dim, _scalar_kind(self.precision), faiss.METRIC_INNER_PRODUCT)


class ChromaIndex:
    """chromadb embedded (PersistentClient): its HNSW segment plus a SQLite store, all under one folder."""

    name, module = "chroma", "chromadb"
    COLLECTION = "capacity"

    def __init__(self, dim: int, params: HnswParams = HnswParams(), threads: int = 0):
        self.dim, self.params, self.threads = dim, params, threads
        self.client: Any = None  # a chromadb client and its collection once built or loaded
        self.collection: Any = None

    def _client(self, folder):
        import chromadb
        from chromadb.config import Settings

        return chromadb.PersistentClient(path=str(folder), settings=Settings(anonymized_telemetry=False))

    def build(self, vectors, folder) -> None:
        vectors = _float32_rows(vectors)
        p = self.params
        metadata = {"hnsw:space": "ip", "hnsw:M": p.M, "hnsw:construction_ef": p.ef_construction,
                    "hnsw:search_ef": p.ef_search}  # chroma's own search_ef default is 100
        if self.threads:
            metadata["hnsw:num_threads"] = self.threads
        self.client = self._client(folder)
        self.collection = self.client.create_collection(self.COLLECTION, metadata=metadata)
        step = self.client.get_max_batch_size()
        for start in range(0, len(vectors), step):
            chunk = vectors[start:start + step]
            self.collection.add(ids=[str(i) for i in range(start, start + len(chunk))], embeddings=chunk)

    def load(self, folder) -> None:
        self.client = self._client(folder)
        self.collection = self.client.get_collection(self.COLLECTION)

    def query(self, vectors, k: int) -> np.ndarray:
        found = self.collection.query(query_embeddings=_float32_rows(vectors), n_results=k, include=[])
        return np.array([[int(i) for i in row] for row in found["ids"]], dtype=np.int64)

    def close(self) -> None:
        self.collection = self.client = None


ENGINES = {cls.name: cls for cls in (HnswlibIndex, FaissHnswIndex, ChromaIndex, FlatIndex)}
FAISS_ENGINES: dict[str, type[_FaissIndex]] = {cls.name: cls for cls in (FaissHnswIndex, FlatIndex)}  # below fp32 too
GRAPH_ENGINES = ("hnswlib", "faiss", "chroma")  # approximate (HNSW) engines; "flat" is exact search


def make_engine(name: str, dim: int, params: HnswParams = HnswParams(), threads: int = 0,
                precision: EnginePrecision = "fp32") -> Engine:
    """An engine by name; an unknown name fails listing the valid ones. Only the faiss engines store below fp32."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; valid: {', '.join(ENGINES)}")
    if not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ValueError(f"dimension must be an integer >= 1; got {dim!r}")
    if precision == "fp32":
        return ENGINES[name](int(dim), params, threads)
    if name not in FAISS_ENGINES:
        raise ValueError(f"engine {name!r} stores fp32 only; use {' or '.join(FAISS_ENGINES)} for {precision}")
    return FAISS_ENGINES[name](int(dim), params, threads, precision)


def exact_top_k(base, queries, k: int, chunk: int = 256) -> np.ndarray:
    """Brute-force inner-product top-k (the ground truth recall is measured against), sorted best first."""
    base = np.asarray(base, dtype=np.float32)
    if not 1 <= k <= len(base):
        raise ValueError(f"k must be between 1 and the number of vectors ({len(base)}); got {k}")
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        scores = np.asarray(queries[start:start + chunk], dtype=np.float32) @ base.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        out[start:start + chunk] = np.take_along_axis(top, order, axis=1)
    return out


def recall_at_k(found, exact) -> float:
    """Mean fraction of the exact top-k that the index returned."""
    found, exact = np.asarray(found), np.asarray(exact)
    hits = [len(set(f.tolist()) & set(e.tolist())) for f, e in zip(found, exact)]
    return float(np.sum(hits) / exact.size)
