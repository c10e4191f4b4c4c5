"""Vectors stored at a lower precision: quantise, search in that precision, rescore with the float query.

Quantisation is sentence-transformers' `quantize_embeddings` (int8/uint8 from per-dimension ranges,
binary/ubinary as packed sign bits), so the codes are the ones a user of that library stores. Ranges
come from a calibration set, never from the vectors being evaluated. Everything here is numpy on
in-memory arrays, with no I/O, so it is tested on hand-made vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.core.precision import STORAGE_PRECISIONS as PRECISIONS
from workbench.core.precision import StoragePrecision, storage_precision

SCALAR: tuple[StoragePrecision, ...] = ("int8", "uint8")  # precisions that need calibration ranges
BITS: tuple[StoragePrecision, ...] = ("binary", "ubinary")
MIN_CALIBRATION_ROWS = 2  # a per-dimension minimum and maximum need at least two vectors to differ


def check_precisions(precisions) -> list[StoragePrecision]:
    """The precisions, each one known; an unknown one fails listing the valid ones."""
    checked = [storage_precision(p) for p in precisions]
    if not checked:
        raise ValueError(f"give at least one storage precision: {', '.join(PRECISIONS)}")
    return checked


def bytes_per_vector(precision: str, dim: int) -> int:
    """Bytes one stored vector takes: 4, 2 or 1 per component, or one bit per component rounded up to bytes."""
    precision = storage_precision(precision)
    if precision in BITS:
        return (dim + 7) // 8
    return dim * {"float32": 4, "float16": 2}.get(precision, 1)


def calibration_ranges(calibration: np.ndarray) -> np.ndarray:
    """Per-dimension [minimum; maximum] of the calibration vectors, the int8/uint8 buckets' end points."""
    calibration = np.asarray(calibration, dtype=np.float32)
    if calibration.ndim != 2 or len(calibration) < MIN_CALIBRATION_ROWS:
        raise ValueError(f"calibration needs a 2-D array of at least {MIN_CALIBRATION_ROWS} vectors; got shape "
                         f"{calibration.shape}. Give more calibration texts (calibration_path)")
    return np.vstack([calibration.min(axis=0), calibration.max(axis=0)])


def truncate(vectors: np.ndarray, dim: int) -> np.ndarray:
    """The first `dim` components, re-normalised to unit length (Matryoshka truncation)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if not 1 <= dim <= vectors.shape[1]:
        raise ValueError(f"truncated dimension must be between 1 and {vectors.shape[1]}; got {dim}")
    cut = vectors[:, :dim]
    norms = np.linalg.norm(cut, axis=1, keepdims=True)
    return cut / np.where(norms == 0, 1, norms)


def quantize(vectors: np.ndarray, precision: str, ranges: np.ndarray | None = None) -> np.ndarray:
    """The codes a store keeps for these float vectors (int8/uint8 need the calibration ranges)."""
    from sentence_transformers.util.quantization import quantize_embeddings

    stored = storage_precision(precision)
    vectors = np.asarray(vectors, dtype=np.float32)
    if stored == "float16":
        return vectors.astype(np.float16)
    if stored in SCALAR and ranges is None:
        raise ValueError(f"{stored} needs calibration ranges: pass calibration_ranges(calibration vectors)")
    return np.asarray(quantize_embeddings(vectors, precision=stored, ranges=ranges))


def unpack_bits(codes: np.ndarray, precision: str) -> np.ndarray:
    """The sign bits of packed codes; "binary" stores each packed byte minus 128 as int8."""
    packed = codes.astype(np.int16) + 128 if precision == "binary" else codes
    return np.unpackbits(packed.astype(np.uint8), axis=-1)


def dequantize(codes: np.ndarray, precision: str, dim: int, ranges: np.ndarray | None = None) -> np.ndarray:
    """Float vectors back from codes, for rescoring: bucket values for int8/uint8, +1/-1 per bit for binary."""
    codes = np.asarray(codes)
    if precision in ("float32", "float16"):
        return codes.astype(np.float32)
    if precision in BITS:
        return unpack_bits(codes, precision)[..., :dim].astype(np.float32) * 2 - 1
    ranges = np.asarray(ranges, dtype=np.float32)
    steps = (ranges[1] - ranges[0]) / 255
    steps = np.where(steps == 0, 1, steps)
    values = codes.astype(np.float32) + (128 if precision == "int8" else 0)
    return values * steps + ranges[0]


def similarity(query_codes: np.ndarray, doc_codes: np.ndarray, precision: str) -> np.ndarray:
    """[queries, docs] scores as a store searching these codes ranks them: dot product, or minus Hamming distance."""
    if precision in BITS:
        q, d = unpack_bits(query_codes, precision).astype(np.float32), unpack_bits(doc_codes, precision).astype(np.float32)
        agree = q @ d.T + (1 - q) @ (1 - d).T  # bits that agree: the number of bits minus the Hamming distance
        return agree - q.shape[1]
    return query_codes.astype(np.float32) @ doc_codes.astype(np.float32).T


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Row-wise ids of the k highest scores, best first; ties go to the lower id."""
    k = min(k, scores.shape[1])
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


@dataclass(frozen=True)
class StoredVectors:
    """Documents as one precision keeps them, with the ranges their queries must be quantised with."""

    precision: StoragePrecision
    codes: np.ndarray
    dim: int
    ranges: np.ndarray | None = None

    @classmethod
    def of(cls, vectors: np.ndarray, precision: str, ranges: np.ndarray | None = None) -> "StoredVectors":
        vectors = np.asarray(vectors, dtype=np.float32)
        return cls(storage_precision(precision), quantize(vectors, precision, ranges if precision in SCALAR else None),
                   vectors.shape[1], ranges if precision in SCALAR else None)

    @property
    def bytes_per_vector(self) -> int:
        return bytes_per_vector(self.precision, self.dim)

    def floats(self, rows=slice(None)) -> np.ndarray:
        return dequantize(self.codes[rows], self.precision, self.dim, self.ranges)


def search(queries: np.ndarray, stored: StoredVectors, k: int, rescore_multiplier: int = 0,
           rescore_from: StoredVectors | None = None) -> np.ndarray:
    """Top-k ids per float query: the query is quantised like the documents and searched in their precision.

    With `rescore_multiplier` m >= 1, the search keeps m x k candidates and ranks them again by the float
    query's dot product with the documents of `rescore_from` (the stored vectors themselves when None):
    sentence-transformers' rescoring, which needs no float document vectors.
    """
    queries = np.asarray(queries, dtype=np.float32)
    codes = quantize(queries, stored.precision, stored.ranges)
    if rescore_multiplier < 1:
        return top_k(similarity(codes, stored.codes, stored.precision), k)
    source = rescore_from or stored
    if len(source.codes) != len(stored.codes) or source.dim != stored.dim:
        raise ValueError("rescore_from must hold the same documents at the same dimension as the searched vectors")
    candidates = top_k(similarity(codes, stored.codes, stored.precision), k * rescore_multiplier)
    docs = source.floats(candidates.reshape(-1)).reshape(*candidates.shape, source.dim)
    rescored = np.einsum("qd,qcd->qc", queries, docs)
    order = np.argsort(-rescored, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(candidates, order, axis=1)
