"""The measured rows a deployment is chosen from, read from the run folders studies 03 and 06 wrote.

Model artifacts come from study 03's results.json (size, load RSS, conversion peak, query latency, quality kept),
storage options from study 06's (quality kept per precision and rescoring), index engines from the latency
curve study 06 timed at the model's dimension. Both are read from the typed tables the studies record
(`convert.rows`, `index.rows`); runs written before those existed are read from their result keys, so their
folders still open. Every row keeps a link to the report section that measured it. Nothing is filled in: a
quantity a run did not measure stays missing, and the selection excludes its rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.convert.rows import ARTIFACTS, ARTIFACTS_SECTION, ArtifactRow
from workbench.core.units import MB, MS
from workbench.index.fits import latency_at, latency_fit
from workbench.index.quantized import bytes_per_vector
from workbench.index.rows import (
    QUALITY_SECTION,
    SEARCH,
    SEARCH_SECTION,
    STORAGE,
    SearchTiming,
    StorageRow,
)
from workbench.run import catalog
from workbench.run.index_page import collect_runs
from workbench.run.report import REPORT_FILE

ARTIFACTS_NOTEBOOK, STORAGE_NOTEBOOK = catalog.QUANTIZATION.name, catalog.STORAGE.name  # what 07 reads
QUALITY_KEYS = {"ndcg10": ("ndcg10_retention_pct", "nDCG@10"), "sts": ("sts_retention_pct", "STS Spearman")}
QUALITY_FIELDS = {"ndcg10": "ndcg10_kept_pct", "sts": "sts_kept_pct"}  # the same, as fields of both row types
REFERENCE_KEY = "torch_fp32"  # 03's reference row, which keeps 100 % by definition
# Where studies 03 and 06 kept their evidence before their typed tables and declared anchors (nbconvert's heading
# anchors, a CSV name): frozen, since only old folders are read this way.
LEGACY_ARTIFACT_SECTION = "Convert-and-evaluate-every-variant"
LEGACY_STORAGE_SECTION = "1.-Quality-kept-per-storage-precision"
LEGACY_SEARCH_SECTION = "3.-Exact-search-against-HNSW"
LEGACY_SEARCH_FILE = "search_latency.csv"
ENGINE_NAMES = {"flat": "exact search (faiss flat)", "faiss": "HNSW (faiss)"}


@dataclass(frozen=True)
class Evidence:
    """The three tables `selection.combine` takes, and the runs they came from."""

    artifacts: pd.DataFrame
    storages: pd.DataFrame
    indexes: pd.DataFrame
    runs: dict  # notebook -> run folder
    model: str


def latest_runs(reports_dir, folders=()) -> dict[str, dict]:
    """The newest complete run of studies 03 and 06 under reports_dir, or the given folders instead."""
    runs = collect_runs(reports_dir) if not folders else []
    for folder in folders:
        found = collect_runs(Path(folder).parent)
        runs += [r for r in found if Path(r["_folder"]).resolve() == Path(folder).resolve()]
        if not any(Path(r["_folder"]).resolve() == Path(folder).resolve() for r in found):
            raise ValueError(f"{folder}: no results.json there; give run folders written by studies 03 and 06")
    out: dict[str, dict] = {}
    for run in runs:  # newest first
        if run.get("status") == "complete" and run.get("notebook") in (ARTIFACTS_NOTEBOOK, STORAGE_NOTEBOOK):
            out.setdefault(run["notebook"], run)
    lacking = [n for n in (ARTIFACTS_NOTEBOOK, STORAGE_NOTEBOOK) if n not in out]
    if lacking:
        raise ValueError(f"no complete run of {' and '.join(lacking)} in {reports_dir}: run them first (`workbench run` "
                         "runs both in the default suite), or pass their folders in `runs`")
    return out


def _link(run: dict, section: str) -> str:
    return f"../{Path(run['_folder']).name}/{REPORT_FILE}#{section}"


def artifact_rows(run: dict, quality: str) -> pd.DataFrame:
    """One row per study-03 artifact: size, load RSS, conversion peak, query latency at batch 1, quality kept.

    Read from the typed rows 03 records (`convert.rows`); a run written before those existed is read from its
    result keys, whose sizes are decimal MB.
    """
    typed = ARTIFACTS.read(run)
    rows = ([_from_row(r, quality) for r in typed] if typed is not None else _from_result_keys(run, quality))
    schema = (run.get("tables") or {}).get(ARTIFACTS.name, {}).get("schema")
    section = LEGACY_ARTIFACT_SECTION if schema in (None, "artifact-row/1") else ARTIFACTS_SECTION  # came with /2
    return pd.DataFrame([{**row, "source_artifact": _link(run, section)} for row in rows])


def _from_row(r: ArtifactRow, quality: str) -> dict:
    kept = getattr(r.accuracy, QUALITY_FIELDS[quality]) if r.accuracy else None
    batch1 = r.latency_at(1)
    measured = {"size_bytes": r.size_bytes, "load_rss_bytes": r.load_rss_bytes,
                "convert_ram_bytes": r.convert_peak_rss_bytes, "embed_ms": batch1.p95_s / MS if batch1 else None,
                "quality_pct": 100.0 if r.key == REFERENCE_KEY else kept}
    lacking = any(v is None for v in measured.values())
    return {"name": r.key, **{k: np.nan if v is None else float(v) for k, v in measured.items()},
            "note": _why("; ".join(r.notes)) if lacking else ""}


def _from_result_keys(run: dict, quality: str) -> list[dict]:
    """The layout before typed rows: `size_mb_<variant>` and the like, in decimal MB as 03 wrote them."""
    results, key = run["results"], QUALITY_KEYS[quality][0]
    variants = sorted({k[len("size_mb_"):] for k in results if k.startswith("size_mb_")})
    names = {"size_bytes": ("size_mb", MB), "load_rss_bytes": ("load_rss_mb", MB),
             "convert_ram_bytes": ("peak_convert_rss_mb", MB), "embed_ms": ("latency_p95_ms", 1.0),
             "quality_pct": (key, 1.0)}
    rows = []
    for v in variants:
        row = {"name": v}
        for column, (name, scale) in names.items():
            x = 100.0 if (v == REFERENCE_KEY and column == "quality_pct") else results.get(f"{name}_{v}")
            row[column] = float(x) * scale if isinstance(x, (int, float)) and math.isfinite(x) else np.nan
        lacking = [name for column, (name, _) in names.items() if np.isnan(row[column])]
        row["note"] = _why(run.get("notes", {}).get(f"{lacking[0]}_{v}", "")) if lacking else ""
        rows.append(row)
    return rows


def _why(note: str) -> str:
    """The clause of a study-03 note that says why a number is missing ("not measured on this platform: ...")."""
    clauses = [c.strip() for c in note.split(";") if c.strip()]
    telling = [c for c in clauses if "not measured" in c or "not representative" in c or "reference" in c]
    return (telling or clauses or ["not measured here"])[0]


def storage_rows(run: dict, quality: str) -> pd.DataFrame:
    """One row per study-06 storage at the model's full dimension: precision, rescoring, bytes, quality kept.

    Read from the typed rows 06 records (`index.rows`); a run written before those existed is read from its
    result keys.
    """
    typed = STORAGE.read(run)
    if typed is None:
        rows, section = _storage_from_result_keys(run, quality), LEGACY_STORAGE_SECTION
    else:
        rows = [_from_storage_row(r, quality) for r in typed
                if r.dim == r.model_dim and getattr(r, QUALITY_FIELDS[quality]) is not None]
        section = QUALITY_SECTION
    if not rows:
        raise ValueError(f"{run['_folder']}: study 06 recorded no {QUALITY_KEYS[quality][1]} retention; "
                         f"choose quality={'sts' if quality == 'ndcg10' else 'ndcg10'} or run 06 with that data")
    return pd.DataFrame([{**row, "source_storage": _link(run, section)} for row in rows])


def _from_storage_row(r: StorageRow, quality: str) -> dict:
    return {"precision": r.precision, "dim": r.dim, "rescoring": _rescoring(r.rescore_multiplier, r.rescore_from),
            "quality_pct": float(getattr(r, QUALITY_FIELDS[quality])),
            "rescoring_bytes_per_vector": r.rescoring_bytes_per_vector}


def _rescoring(multiplier: int, source: str | None) -> str:
    return f"×{multiplier} from {source}" if multiplier else "none"


def _storage_from_result_keys(run: dict, quality: str) -> list[dict]:
    """The layout before typed rows: `<quality key>_<precision>[_rescored_x<m>_from_<source>]` at the full
    dimension, the rescoring copy's bytes worked out from its precision."""
    key, dim = QUALITY_KEYS[quality][0] + "_", _legacy_dim(run)
    rows = []
    for name, value in run["results"].items():
        if not name.startswith(key) or not isinstance(value, (int, float)):
            continue
        precision, rescored, rest = name[len(key):].partition("_rescored_x")
        multiplier, _, source = rest.partition("_from_")
        if not _word(precision) or (rescored and not (multiplier.isdigit() and _word(source))):
            continue
        rows.append({"precision": precision, "dim": dim, "rescoring": _rescoring(int(multiplier or 0), source),
                     "quality_pct": float(value),
                     "rescoring_bytes_per_vector": bytes_per_vector(source, dim) if source not in ("", "stored")
                     else 0})
    return rows


def _word(text: str) -> bool:
    """Lower-case letters and digits only, as 06 named precisions and rescoring sources in its result keys."""
    return text.isascii() and text.isalnum() and text == text.lower()


def _legacy_dim(run: dict) -> int:
    dim = run["results"].get("full_dimension")
    if not isinstance(dim, int) or dim < 1:
        raise ValueError(f"{run['_folder']}: study 06 did not record the dimension it measured at; re-run study 06")
    return dim


def index_rows(run: dict) -> pd.DataFrame:
    """Per engine and precision of study 06's latency curve: bytes per item and search p95 as a function of N.

    Read from the timings 06 records (`index.rows`); a run written before those existed is read from the CSV it
    wrote. RAM per item is the index file's bytes per item: faiss reads the whole file into memory (study 04
    measures RSS / disk of 1.00-1.09 for faiss), so this is an estimate, labelled as such wherever it is shown.
    """
    typed = SEARCH.read(run)
    curve, section = (_legacy_curve(run), LEGACY_SEARCH_SECTION) if typed is None else (_curve(typed), SEARCH_SECTION)
    rows = []
    for (engine, precision), g in curve.groupby(["engine", "precision"], sort=False):
        if g["n"].nunique() < 2:
            continue
        fit = latency_fit(engine, g["n"], g["p95_ms"])
        top = g.loc[g["n"].idxmax()]
        rows.append({"engine": ENGINE_NAMES.get(engine, engine), "precision": precision, "dim": int(top["dim"]),
                     "disk_bytes_per_item": float(top["disk_bytes_per_item"]),
                     "ram_bytes_per_item": float(top["disk_bytes_per_item"]), "max_measured_n": int(g["n"].max()),
                     "search_ms": (lambda n, fit=fit: max(0.0, latency_at(fit, n)[0])),
                     "source_index": _link(run, section)})
    return pd.DataFrame(rows)


def _curve(timings: list[SearchTiming]) -> pd.DataFrame:
    return pd.DataFrame([{"engine": t.engine, "precision": t.precision, "dim": t.dim, "n": t.n,
                          "disk_bytes_per_item": t.disk_bytes_per_item, "p95_ms": t.p95_s / MS} for t in timings],
                        columns=["engine", "precision", "dim", "n", "disk_bytes_per_item", "p95_ms"])


def _legacy_curve(run: dict) -> pd.DataFrame:
    """The CSV 06 wrote its timings to before it recorded them, at the dimension its result keys name."""
    path = Path(run["_folder"]) / LEGACY_SEARCH_FILE
    if not path.exists():
        raise ValueError(f"{path} is missing: re-run study 06 (it records the exact-vs-HNSW timings)")
    return pd.read_csv(path).assign(dim=_legacy_dim(run))


def gather(runs: dict[str, dict], quality: str = "ndcg10") -> Evidence:
    """Everything the selection needs, from the runs of studies 03 and 06 that `latest_runs` chose (read once)."""
    if quality not in QUALITY_KEYS:
        raise ValueError(f"quality {quality!r} is not valid; choose {' or '.join(QUALITY_KEYS)}")
    models = {n: runs[n]["parameters"].get("model") for n in runs}
    if len(set(models.values())) > 1:
        raise ValueError(f"studies 03 and 06 measured different models ({models}); run both on the model you ship")
    storage = runs[STORAGE_NOTEBOOK]
    return Evidence(artifact_rows(runs[ARTIFACTS_NOTEBOOK], quality), storage_rows(storage, quality),
                    index_rows(storage), {n: Path(r["_folder"]) for n, r in runs.items()},
                    str(models[ARTIFACTS_NOTEBOOK]))
