"""Study 04: how many vectors fit on a device, and how fast are they searched?

A sweep over N x dimension x engine measures each point in clean child processes
(build, then load and query), appending every finished point to sweep.jsonl so an
interrupted run resumes. Pure functions then fit bytes and latency against N, test
shared seed 001's capacity claims, and turn the fitted constants into a planner.
"""

from __future__ import annotations

import hashlib
import html
import importlib
import json
import math
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.capacity import ENGINES, PRECISIONS, FaissHnswIndex, HnswParams, exact_top_k, make_engine, recall_at_k
from workbench.params import as_list
from workbench.progress import progress_bar
from workbench.results import atomic_path
from workbench.resources import (ChildProcessFailed, available_memory_bytes, current_rss_bytes, dir_size_bytes,
                                 latency_summary, run_in_child, sample_latency_ms)

SWEEP_FILE = "sweep.jsonl"
VECTOR_SOURCES = ("synthetic", "embeddings")
CHILD_BASELINE_BYTES = 400 * 2**20  # interpreter, numpy, pandas and the engine libraries in a child
# Children fork from a server that imported these once: a point's child starts in milliseconds, not seconds.
CHILD_PRELOAD = ("workbench.studies.capacity", *(cls.module for cls in ENGINES.values()))
# Quoted from shared seed 001 (capacity guide for a local store of 2560-d embeddings):
SEED_ALPHA = (0.5, 1.0)  # per-item storage = vector bytes x (1 + alpha)
SEED_RSS_TO_DISK = 0.6  # working RAM = 0.6 x on-disk
SEED_LATENCY = ((150_000, 100.0), (300_000, 250.0))  # sub-100 ms up to ~50k-150k items, 150-250 ms up to ~300k
SEED_EXAMPLE = dict(disk_gb=20, ram_gb=6, dim=2560, items_disk=1_140_000, items_ram=570_000)
GB = 10**9  # the seed's worked example reads as decimal gigabytes
BYTES_PER_COMPONENT = {"fp32": 4.0, "fp16": 2.0, "int8": 1.0, "binary": 0.125}


# ---------------------------------------------------------------- vectors


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]  # einsum: ~30x faster than linalg.norm here


def synthetic_vectors(n: int, dim: int, seed: int = 1, clusters: int = 64, latent: int = 32,
                      spread: float = 0.6, noise: float = 0.1) -> np.ndarray:
    """Seeded unit vectors shaped like real embeddings: clustered, with a low intrinsic dimension.

    Points around `clusters` centres in a `latent`-d space are mapped into `dim` dimensions by one fixed
    random projection, plus a little full-dimensional noise. Uniform random vectors in hundreds of
    dimensions have no meaningful near neighbours, so HNSW recall on them says little about real data.
    """
    latent = min(latent, dim)
    projection = np.random.default_rng(0).standard_normal((latent, dim), dtype=np.float32) / math.sqrt(latent)
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).standard_normal((clusters, latent), dtype=np.float32)
    points = centres[rng.integers(0, clusters, n)] + spread * rng.standard_normal((n, latent), dtype=np.float32)
    vectors = _unit(points @ projection)
    vectors += rng.standard_normal((n, dim), dtype=np.float32) * np.float32(noise / math.sqrt(dim))
    return _unit(vectors)


def tile_vectors(base: np.ndarray, n: int, seed: int = 1, noise: float = 0.3) -> np.ndarray:
    """n vectors from a few real ones: repeat them, perturb each copy (relative norm `noise`), renormalise."""
    rng = np.random.default_rng(seed)
    base = np.asarray(base, dtype=np.float32)
    picked = base[np.arange(n) % len(base)]
    return _unit(picked + rng.standard_normal(picked.shape) * (noise / math.sqrt(base.shape[1])))


def point_vectors(point: dict, part: str) -> np.ndarray:
    """The 'base' or 'queries' vectors of a sweep point, regenerated identically in every process from seeds."""
    n, seed = (point["n"], 1) if part == "base" else (point["n_queries"], 2)
    if point["vectors"] == "synthetic":
        return synthetic_vectors(n, point["dim"], seed=seed)
    return tile_vectors(np.load(point["embeddings_path"]), n, seed=seed)


def save_embeddings(vectors: np.ndarray, folder) -> str:
    """Write the real embeddings the sweep tiles, so every child process reads the same ones."""
    path = Path(folder) / "embeddings.npy"
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, np.asarray(vectors, dtype=np.float32))
    return str(path)


# ---------------------------------------------------------------- one point, in child processes


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
    for row in queries[:3]:
        engine.query(row[None], k)  # warm-up
    found, rows = [], iter(queries)
    samples = sample_latency_ms(lambda: found.append(engine.query(next(rows)[None], k)), repeats=len(queries),
                                warmup=0)
    return {"rss_after_load_bytes": after_load, "load_s": load_s, "ids": np.vstack(found), "latency_ms": samples}


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


# ---------------------------------------------------------------- the sweep


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
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


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
                    row = {"status": "skipped", "reason": f"needs ~{need / 2**30:.1f} GiB, {free / 2**30:.1f} GiB free"}
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


# ---------------------------------------------------------------- analysis


def fit_linear(x, y) -> dict:
    """Least squares y = a + b x, with the residual standard error (None with two points or fewer)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0:
        raise ValueError(f"a line needs at least two distinct x values; got {list(x)}")
    design = np.column_stack([np.ones_like(x), x])
    (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
    dof = len(x) - 2
    s = float(np.sqrt(np.sum((y - a - b * x) ** 2) / dof)) if dof > 0 else None
    return {"a": float(a), "b": float(b), "s": s, "n": len(x), "x_mean": float(x.mean()),
            "sxx": float(np.sum((x - x.mean()) ** 2))}


def predict(fit: dict, x: float) -> tuple[float, float | None]:
    """Value of a fitted line at x, and its ~95% prediction half-width (2 standard errors)."""
    value = fit["a"] + fit["b"] * x
    if fit["s"] is None:
        return value, None
    se = fit["s"] * math.sqrt(1 + 1 / fit["n"] + (x - fit["x_mean"]) ** 2 / fit["sxx"])
    return value, 2 * se


def hnswlib_formula_bytes(dim: int, M: int) -> float:
    """hnswlib's documented size per element: level 0 (2M links, count, vector, label) plus upper levels.

    Levels above 0 hold M links and a count; an element reaches level l with probability M^-l,
    so the expected upper-level cost is (4M + 4) / (M - 1); the saved file adds a 4-byte list size.
    """
    return 2 * M * 4 + 4 + 4 * dim + 8 + (4 * M + 4) / (M - 1) + 4


def fit_table(sweep: pd.DataFrame, latency_budget_ms: float = 100.0) -> pd.DataFrame:
    """Per vectors source, engine and dimension: bytes = a + b N on disk and in RAM, alpha, latency in log N."""
    ok = sweep[sweep["status"] == "ok"]
    rows = []
    for (source, engine, dim), g in ok.groupby(["vectors", "engine", "dim"], sort=True):
        if g["n"].nunique() < 2:
            continue
        disk, rss = fit_linear(g["n"], g["disk_bytes"]), fit_linear(g["n"], g["rss_after_load_bytes"])
        lat = fit_linear(np.log(g["n"]), g["p95_ms"])
        vector_bytes = 4 * dim
        p95_1m, p95_1m_pm = predict(lat, math.log(1e6))
        top = g.loc[g["n"].idxmax()]
        rows.append({
            "vectors": source, "engine": engine, "dim": dim, "points": len(g), "max n": int(top["n"]),
            "disk bytes/item": disk["b"], "disk fixed bytes": disk["a"], "RSS bytes/item": rss["b"],
            "RSS fixed bytes": rss["a"], "vector bytes": vector_bytes,
            "alpha": (disk["b"] - vector_bytes) / vector_bytes, "RSS/disk": rss["b"] / disk["b"],
            "hnswlib formula bytes/item": hnswlib_formula_bytes(dim, int(top["M"])),
            "p95 ms at max n": float(top["p95_ms"]), "recall@10 at max n": float(top["recall10"]),
            "p95 ms slope per ln N": lat["b"], "p95 ms at 1M (extrapolated)": p95_1m,
            "p95 at 1M +/-": p95_1m_pm, "n where p95 crosses budget (extrapolated)": crossing_n(lat, latency_budget_ms),
        })
    if not rows:
        raise ValueError("no engine and dimension has two measured sizes to fit; the sweep table's status and "
                         "reason columns say why points were skipped or failed")
    return pd.DataFrame(rows)


def crossing_n(latency_fit: dict, budget_ms: float) -> float:
    """N at which the log-N latency line reaches the budget; inf when it does not grow or only beyond 10^15 items."""
    if latency_fit["b"] <= 0:
        return math.inf
    exponent = (budget_ms - latency_fit["a"]) / latency_fit["b"]
    return math.exp(exponent) if exponent < math.log(1e15) else math.inf


def capacity_constants(fits: pd.DataFrame, sweep: pd.DataFrame, vectors: str = "synthetic") -> dict:
    """Per engine: bytes/item on disk and in RAM as c0 + c1 d across the measured dimensions, and the latency fit.

    With one measured dimension the vector part is taken as 4 bytes per component (labelled extrapolation).
    """
    out = {}
    fits = fits[fits["vectors"] == vectors]
    ok = sweep[(sweep["status"] == "ok") & (sweep["vectors"] == vectors)]
    for engine, g in fits.groupby("engine"):
        entry = {"dims": sorted(int(d) for d in g["dim"])}
        for column, name in (("disk bytes/item", "disk"), ("RSS bytes/item", "rss")):
            if len(g) >= 2:
                line = fit_linear(g["dim"], g[column])
                entry[name] = (line["a"], line["b"])
            else:
                row = g.iloc[0]
                entry[name] = (row[column] - 4.0 * row["dim"], 4.0)
            entry[f"{name}_fixed"] = float(max(0.0, g[f"{name.replace('rss', 'RSS')} fixed bytes"].max()))
        rows = ok[(ok["engine"] == engine) & (ok["dim"] == max(entry["dims"]))]
        entry["latency"] = fit_linear(np.log(rows["n"]), rows["p95_ms"])
        entry["latency_dim"] = max(entry["dims"])
        out[engine] = entry
    return out


def plan(disk_budget_bytes, ram_budget_bytes, dim, engine, precision="fp32", latency_budget_ms=None,
         constants=None) -> dict:
    """Most items that fit both budgets (and the latency budget, if given), and which one binds.

    Per-item bytes come from the measured constants; the vector part is rescaled to the
    storage precision. Dimensions outside the measured range are extrapolations and say so.
    """
    if not constants:
        raise ValueError("plan() needs measured constants: pass capacity_constants(fits, sweep)")
    if engine not in constants:
        raise ValueError(f"unknown engine {engine!r}; measured: {', '.join(sorted(constants))}")
    for label, value in (("disk budget", disk_budget_bytes), ("RAM budget", ram_budget_bytes)):
        if value is None or not value > 0:
            raise ValueError(f"{label} must be a positive number of bytes; got {value!r}")
    if not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ValueError(f"dimension must be an integer >= 1; got {dim!r}")
    if precision not in BYTES_PER_COMPONENT:
        raise ValueError(f"precision {precision!r} is not valid; choose from {', '.join(BYTES_PER_COMPONENT)}")
    if precision != "fp32" and engine != "faiss":
        raise ValueError(f"engine {engine!r} stores fp32 only; use engine 'faiss' for {precision}")
    c = constants[engine]
    shrink = (4.0 - BYTES_PER_COMPONENT[precision]) * dim
    per_item = {name: c[name][0] + c[name][1] * dim - shrink for name in ("disk", "rss")}
    limits = {"disk": (disk_budget_bytes - c["disk_fixed"]) / per_item["disk"],
              "ram": (ram_budget_bytes - c["rss_fixed"]) / per_item["rss"]}
    if latency_budget_ms is not None:
        limits["latency"] = crossing_n(c["latency"], latency_budget_ms)
    binding = min(limits, key=limits.get)
    return {"max_items": int(max(0.0, limits[binding])), "binding": binding,
            "limits": {k: (int(v) if math.isfinite(v) else v) for k, v in limits.items()},
            "disk_bytes_per_item": per_item["disk"], "rss_bytes_per_item": per_item["rss"],
            "extrapolated": not min(c["dims"]) <= dim <= max(c["dims"]) or precision != "fp32",
            "measured_dims": c["dims"]}


def seed_example(constants: dict, engine: str, latency_budget_ms: float | None = None) -> pd.DataFrame:
    """The seed's 16 GB MacBook example (20 GB disk, 6 GB RAM, 2560-d) redone with measured constants."""
    e = SEED_EXAMPLE
    result = plan(e["disk_gb"] * GB, e["ram_gb"] * GB, e["dim"], engine, "fp32", latency_budget_ms, constants)
    label = "measured constants, extrapolated to 2560-d" if result["extrapolated"] else "measured constants"
    return pd.DataFrame({
        "seed 001 (quoted)": [e["items_disk"], e["items_ram"], None, "ram"],
        f"{engine}, {label}": [result["limits"]["disk"], result["limits"]["ram"], result["limits"].get("latency"),
                               result["binding"]],
    }, index=["items on disk", "items in RAM", "items within latency budget", "binding budget"])


def claims_html(fits: pd.DataFrame, constants: dict, latency_budget_ms: float, vectors: str = "synthetic") -> str:
    """A verdict per seed claim, computed from the fits (every number from this run unless marked quoted)."""
    rows = fits[fits["vectors"] == vectors]
    if rows.empty:
        return "<p>No fitted points: nothing to compare with the seed.</p>"
    lo, hi = SEED_ALPHA
    parts = []
    alphas = rows["alpha"]
    inside = _alpha_inside(rows)
    parts.append(f"<p><b>Storage, per item = vector bytes &times; (1 + &alpha;), &alpha; in [{lo}, {hi}] (quoted from "
                 f"seed 001):</b> measured &alpha; ranges {alphas.min():.3f} to {alphas.max():.3f} over "
                 f"{len(rows)} engine/dimension fits &mdash; <b>{'holds' if inside else 'does not hold'}</b>."
                 + ("" if inside else " The graph adds far less than the seed assumes at this M; engines that keep "
                    "a second copy of the vectors (a database beside the index) sit higher.") + "</p>")
    dim = SEED_EXAMPLE["dim"]
    projected = {e: (c["disk"][0] + c["disk"][1] * dim - 4 * dim) / (4 * dim) for e, c in constants.items()}
    measured = html.escape(str(sorted(rows["dim"].unique().tolist())))
    parts.append(f"<p>Projected to the seed's {dim}-d (extrapolation from {measured}-d): &alpha; " + ", ".join(f"{html.escape(e)} {a:.3f}" for e, a in projected.items()) + ".</p>")
    hnsw = rows[rows["engine"] == "hnswlib"]
    if len(hnsw):
        gap = (hnsw["disk bytes/item"] / hnsw["hnswlib formula bytes/item"] - 1).abs().max()
        parts.append("<p><b>hnswlib's documented formula</b> (level 0: 2&middot;M&middot;4 + 4 + 4&middot;d + 8 "
                     f"bytes, plus upper levels): measured bytes/item on disk differ from it by at most {gap:.1%}.</p>")
    ratio = rows["RSS/disk"]
    near = _ram_near(rows)
    parts.append(f"<p><b>Working RAM &asymp; {SEED_RSS_TO_DISK} &times; on-disk (quoted):</b> measured RSS/disk per "
                 f"item ranges {ratio.min():.2f} to {ratio.max():.2f} &mdash; <b>"
                 f"{'holds' if near else 'does not hold'}</b> (tolerance &plusmn;0.15).</p>")
    for engine, c in constants.items():
        checks = []
        for n, limit in SEED_LATENCY:
            value, pm = predict(c["latency"], math.log(n))
            checks.append(f"p95 at {n:,} items {value:.2f} ms" + (f" &plusmn; {pm:.2f}" if pm is not None else "")
                          + f" (seed: &le; {limit:g} ms)")
        parts.append(f"<p><b>Latency, {html.escape(engine)}</b> ({c['latency_dim']}-d, extrapolated in log N from "
                     f"the measured range): {'; '.join(checks)} &mdash; <b>{_latency_verdict(c['latency'])}</b>. "
                     f"Budget {latency_budget_ms:g} ms crossed at N &asymp; "
                     f"{_fmt_n(crossing_n(c['latency'], latency_budget_ms))} (extrapolation).</p>")
    return "\n".join(parts)


def _alpha_inside(rows: pd.DataFrame) -> bool:
    lo, hi = SEED_ALPHA
    return bool(((rows["alpha"] >= lo) & (rows["alpha"] <= hi)).all())


def _ram_near(rows: pd.DataFrame) -> bool:
    return bool(((rows["RSS/disk"] - SEED_RSS_TO_DISK).abs() <= 0.15).all())


def claim_checks(fits: pd.DataFrame, constants: dict, vectors: str = "synthetic") -> list[dict]:
    """The same verdicts as claims_html, as records for results.json (the index lists the failed ones)."""
    rows = fits[fits["vectors"] == vectors]
    if rows.empty:
        return []
    source = "shared seed 001, on-device capacity guide"
    checks = [
        {"claim": f"HNSW overhead alpha in [{SEED_ALPHA[0]}, {SEED_ALPHA[1]}] x vector bytes",
         "holds": _alpha_inside(rows), "measured": f"alpha {rows['alpha'].min():.3f} to {rows['alpha'].max():.3f}",
         "source": source},
        {"claim": f"working RAM ~ {SEED_RSS_TO_DISK} x on-disk size", "holds": _ram_near(rows),
         "measured": f"RSS/disk {rows['RSS/disk'].min():.2f} to {rows['RSS/disk'].max():.2f}", "source": source},
    ]
    for engine, c in constants.items():
        checks.append({"claim": f"{engine}: p95 <= 100 ms up to 150k items and <= 250 ms up to 300k",
                       "holds": _latency_verdict(c["latency"]) != "does not hold",
                       "measured": _latency_verdict(c["latency"]) + " (extrapolated in log N)", "source": source})
    return checks


def _latency_verdict(latency_fit: dict) -> str:
    predicted = [(predict(latency_fit, math.log(n))[0], limit) for n, limit in SEED_LATENCY]
    if all(value <= limit / 10 for value, limit in predicted):
        return "holds, and the seed is more than 10x pessimistic here"
    return "holds" if all(value <= limit for value, limit in predicted) else "does not hold"


def _fmt_n(n: float) -> str:
    return "beyond 10^15 items" if not math.isfinite(n) else f"{n:,.0f}"


# ---------------------------------------------------------------- storage precision and Matryoshka truncation


def precision_table(base: np.ndarray, queries: np.ndarray, params: HnswParams, k: int = 10,
                    fractions=(1, 2, 4, 8)) -> pd.DataFrame:
    """faiss HNSW per storage precision and truncated dimension: bytes/item on disk, recall@10 vs exact fp32.

    Truncated vectors keep the first d/f components and are re-normalised (Matryoshka-style).
    """
    exact = exact_top_k(base, queries, k)
    dim = base.shape[1]
    rows = []
    with tempfile.TemporaryDirectory(prefix="capacity-precision-") as scratch:
        for f in fractions:
            d = dim // int(f)
            if d < 1:
                continue
            b, q = _unit(base[:, :d]), _unit(queries[:, :d])
            for precision in PRECISIONS:
                if precision == "binary" and d % 8:
                    continue
                folder = Path(scratch) / f"{precision}-{d}"
                index = FaissHnswIndex(d, params, precision=precision)
                index.build(b, folder)
                rows.append({"precision": precision, "dim": d, "fraction": f"1/{f}" if f != 1 else "1",
                             "disk bytes/item": dir_size_bytes(folder) / len(base),
                             "recall@10": recall_at_k(index.query(q, k), exact)})
                shutil.rmtree(folder)
    frame = pd.DataFrame(rows)
    full = frame[(frame["precision"] == "fp32") & (frame["dim"] == dim)]["disk bytes/item"].iloc[0]
    recall = frame[(frame["precision"] == "fp32") & (frame["dim"] == dim)]["recall@10"].iloc[0]
    frame["capacity multiplier"] = full / frame["disk bytes/item"]
    frame["recall@10 lost"] = recall - frame["recall@10"]
    return frame


# ---------------------------------------------------------------- results


def headline_results(fits: pd.DataFrame, planner_example: dict | None, vectors: str = "synthetic") -> dict:
    """The flat results.json keys: per engine E and dimension D, plus the planner's worked example."""
    out = {}
    for row in fits.itertuples(index=False):
        suffix = f"{row.engine}_{row.dim}" + ("" if row.vectors == vectors else f"_{row.vectors}")
        values = dict(zip(fits.columns, row))
        out[f"disk_bytes_per_item_{suffix}"] = values["disk bytes/item"]
        out[f"rss_bytes_per_item_{suffix}"] = values["RSS bytes/item"]
        out[f"alpha_{suffix}"] = values["alpha"]
        out[f"rss_to_disk_{suffix}"] = values["RSS/disk"]
        out[f"p95_ms_at_max_n_{suffix}"] = values["p95 ms at max n"]
        out[f"recall10_at_max_n_{suffix}"] = values["recall@10 at max n"]
    if planner_example is not None:
        out["planner_max_items_example"] = planner_example["max_items"]
        out["planner_binding_example"] = planner_example["binding"]
    return out


def is_headline(key: str) -> bool:
    """The index page shows bytes/item, alpha, p95, recall and the planner example, not the detail."""
    return key.startswith(("disk_bytes_per_item_", "alpha_", "p95_ms_at_max_n_", "recall10_at_max_n_",
                           "planner_max_items"))
