"""Single-query latency of an index engine: the one timing loop the capacity sweep and the exact-vs-HNSW curves share."""

from __future__ import annotations

import numpy as np

from workbench.core.resources import sample_latency_ms


def time_queries(engine, queries: np.ndarray, k: int, warmup: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each query row alone, one call each, as a device answers a user: the [n, k] ids found and ms per query.

    The first `warmup` rows are asked once untimed beforehand; every row is then timed, so ids line up with queries.
    """
    for row in queries[:warmup]:
        engine.query(row[None], k)
    found, rows = [], iter(queries)
    samples = sample_latency_ms(lambda: found.append(engine.query(next(rows)[None], k)), repeats=len(queries),
                                warmup=0)
    return np.vstack(found), samples
