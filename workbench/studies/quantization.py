"""Study 03: what Core ML, ONNX Runtime and MLX variants cost and keep.

Every variant is converted in its own clean child process (size, conversion time,
peak RAM) and evaluated in another (RSS after load, latency, embeddings); the
embeddings are compared with the workbench FP32 torch reference on the same
texts and recipe. Rows that cannot be measured here carry the reason.
"""

from __future__ import annotations

import html
import tempfile
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.core import comparison, evaluation
from workbench.convert import coreml, mlx, onnx
from workbench.convert.runtime import with_backend
from workbench.core.embedding import Recipe
from workbench.core.models import LoadedModel, load_model
from workbench.core.params import as_list
from workbench.core.precision import PlatformNotAvailable
from workbench.core.progress import quiet_transformers
from workbench.core.resources import ChildProcessFailed, current_rss_bytes, dir_size_bytes, run_in_child

FORMATS = {"onnx": onnx, "coreml": coreml, "mlx": mlx}
PREREQUISITE = {"onnx": "fp32", "coreml": "fp16", "mlx": None}  # built first: the others derive from it
MB = 1e6
REFERENCE = "torch_fp32"
PROJECTED_MODELS = ("qwen3-embedding-0.6b", "qwen3-embedding-4b", "qwen3-embedding-8b", "embeddinggemma-300m")
# The seeds' claims, quoted; the model they refer to is not stated, Qwen3-Embedding-4B is assumed for all three.
SEED_CLAIMS = (
    ("fp16 package of Qwen3-Embedding-4B is about 8 GB", "size_gb", "fp16", 7.0, 9.0),
    ("INT8 conversion needs 20-28 GB of RAM", "convert_ram_gb", "int8", 20.0, 28.0),
    ("4-bit palettized model is 1-2 GB", "size_gb", "palette4", 1.0, 2.0),
)
CLAIM_MODEL = "qwen3-embedding-4b"


def plan(formats, variants) -> list[tuple[str, str]]:
    """(format, variant) pairs to run: requested variants each format knows, its prerequisite first."""
    formats = list(dict.fromkeys(as_list(formats, "formats")))
    variants = list(dict.fromkeys(as_list(variants, "variants")))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"format {unknown[0]!r} is not known; choose from {', '.join(FORMATS)}")
    known = {v for f in formats for v in FORMATS[f].VARIANTS}
    stray = [v for v in variants if v not in known]
    if stray:
        raise ValueError(f"variant {stray[0]!r} belongs to none of {', '.join(formats)}; known: "
                         + "; ".join(f"{f}: {', '.join(FORMATS[f].VARIANTS)}" for f in formats))
    pairs = []
    for f in formats:
        wanted = [v for v in FORMATS[f].VARIANTS if v in variants]
        first = PREREQUISITE[f]
        if first and wanted and any(v != first for v in wanted) and first not in wanted:
            wanted.insert(0, first)
        pairs += [(f, v) for v in wanted]
    return pairs


def variant_key(fmt: str, variant: str) -> str:
    return f"{fmt}_{variant}"


# ---------------------------------------------------------------- child-process steps (module level for spawn)


def convert_step(fmt: str, variant: str, source: str, folder: str, causal: bool, max_length: int) -> str:
    """Write one artifact; runs in its own process so its peak RSS is the conversion's."""
    if fmt == "onnx":
        return str(onnx.build(variant, source, folder, causal))
    if fmt == "coreml":
        return str(coreml.build(variant, source, folder, causal, max_length))
    return str(mlx.build(variant, source, folder))


def _backend(fmt: str, variant: str, loaded: LoadedModel, path: str, max_length: int) -> tuple[LoadedModel, str]:
    """The variant as a LoadedModel the embedding pipeline runs, and what its numbers mean."""
    if fmt == "onnx":
        return with_backend(loaded, onnx.layers_runner(onnx.session(path)), variant), "ONNX Runtime CPU"
    if fmt == "mlx":
        return with_backend(loaded, mlx.layers_runner(mlx.load(path)), variant), "MLX CPU"
    if fmt == "coreml" and coreml.can_predict():
        run = coreml.layers_runner(coreml.load(path, coreml.COMPUTE_UNITS[0]), max_length)
        return with_backend(loaded, run, variant), f"Core ML runtime, compute units {coreml.COMPUTE_UNITS[0]}"
    if fmt == "coreml":
        state = coreml.decompressed_state_dict(path, loaded.model)
        loaded.model.load_state_dict(state, strict=False)
        compressible = coreml.compressible_parameters(loaded.model)
        mapped = len(set(state) & set(compressible))
        return loaded, (f"weights decompressed into torch, not Core ML runtime ({mapped} of {len(compressible)} "
                        "compressible tensors mapped back)")
    return loaded, "torch FP32 reference"


def evaluate_step(fmt: str, variant: str, model: str, path: str | None, data_args: tuple, recipe: Recipe,
                  batch_sizes: tuple, repeats: int, batch_size: int) -> dict:
    """Load a variant, embed every set and time it; runs in its own process for a clean RSS."""
    quiet_transformers()
    loaded = load_model(model)
    data = evaluation.load_eval_data(*data_args)
    runner, meaning = _backend(fmt, variant, loaded, path, recipe.max_length)
    out = {"rss_after_load_mb": current_rss_bytes() / MB, "runtime": meaning}
    runner.precision = variant_key(fmt, variant)
    out["embedded"] = evaluation.embed_all(runner, data, recipe, batch_size)
    timed = {runner.precision: runner}
    if fmt == "coreml" and coreml.can_predict():  # every compute unit; the first one is the runner above
        timed.update({f"{runner.precision}@{units}": with_backend(
            loaded, coreml.layers_runner(coreml.load(path, units), recipe.max_length), runner.precision)
            for units in coreml.COMPUTE_UNITS[1:]})
    out["latency"] = (None if fmt == "coreml" and not coreml.can_predict() else
                      comparison.measure_latency(timed, data.queries, recipe, batch_sizes, repeats))
    return out


# ---------------------------------------------------------------- the study


@dataclass
class Variant:
    """One row of the study: what it cost to make, what it keeps, how fast it runs (None: not measured)."""

    fmt: str
    variant: str
    path: str | None = None
    size_bytes: int | None = None
    convert: object = None  # ChildRun of the conversion
    evaluated: dict | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return variant_key(self.fmt, self.variant)


def fp32_bytes(loaded: LoadedModel) -> int:
    """Bytes of the FP32 weights (4 per parameter): the size every ratio is taken against."""
    return 4 * parameter_count(loaded)


def parameter_count(loaded: LoadedModel) -> int:
    return int(sum(p.numel() for p in loaded.model.parameters()))


def run_variants(loaded: LoadedModel, model: str, pairs, data_args: tuple, recipe: Recipe, batch_sizes=(1, 32),
                 repeats: int = 10, batch_size: int = 32, folder=None) -> list[Variant]:
    """Convert then evaluate each (format, variant) in clean child processes; the torch FP32 reference first.

    Artifacts go to `folder`, or to a temporary folder removed at the end when none is given.
    """
    if folder is None:
        with tempfile.TemporaryDirectory(prefix="workbench-convert-") as scratch:
            return run_variants(loaded, model, pairs, data_args, recipe, batch_sizes, repeats, batch_size, scratch)
    folder = Path(folder)
    causal = loaded.spec.architecture == "decoder"
    batch_sizes = tuple(int(b) for b in as_list(batch_sizes, "batch_sizes"))
    args = (data_args, recipe, batch_sizes, repeats, batch_size)
    reference = Variant("torch", "fp32", size_bytes=fp32_bytes(loaded))
    reference.evaluated = run_in_child(evaluate_step, "torch", "fp32", model, None, *args).value
    rows = [reference]
    for fmt, variant in pairs:
        row = Variant(fmt, variant)
        rows.append(row)
        try:
            if fmt == "mlx":
                mlx.preflight(_model_type(loaded))
                if not Path(loaded.source).is_dir():
                    raise PlatformNotAvailable("MLX reads a local model folder; pass the folder as `model`")
            else:
                FORMATS[fmt].preflight()
            row.convert = run_in_child(convert_step, fmt, variant, loaded.source, str(folder / fmt), causal,
                                       recipe.max_length)
            row.path = row.convert.value
            row.size_bytes = dir_size_bytes(row.path)
            row.evaluated = run_in_child(evaluate_step, fmt, variant, model, row.path, *args).value
        except (PlatformNotAvailable, ChildProcessFailed) as exc:
            row.notes.append(str(exc))
        except Exception as exc:  # one variant's converter bug must not cost the rows already measured
            summary = f"{type(exc).__name__}: {(str(exc).strip() or 'no message').splitlines()[0]}"
            row.notes.append(f"failed on this machine ({summary})")
            warnings.warn(f"{row.key} failed; its row carries the note. Traceback:\n"
                          + "".join(traceback.format_exception(exc)), stacklevel=2)
        if fmt == "coreml" and row.path and not coreml.can_predict():
            row.notes.append(coreml.NOT_ON_LINUX + " (latency); accuracy from decompressed weights")
    return rows


def _model_type(loaded: LoadedModel) -> str:
    return getattr(getattr(loaded.model, "config", None), "model_type", "")


def comparisons(rows: list[Variant], data) -> dict[str, comparison.Comparison]:
    """Each evaluated variant against the torch FP32 reference."""
    ref = rows[0].evaluated["embedded"]
    return {r.key: comparison.compare(ref, r.evaluated["embedded"], data)
            for r in rows[1:] if r.evaluated}


def table(rows: list[Variant], compared: dict, data, fp32_size: int) -> pd.DataFrame:
    """One row per variant with every measured number (NaN where not measured, see the note)."""
    ref_quality = evaluation.quality(rows[0].evaluated["embedded"], data)
    out = []
    for r in rows:
        e, c = r.evaluated, compared.get(r.key)
        line = {"variant": r.key, "format": r.fmt,
                "size MB": r.size_bytes / MB if r.size_bytes else np.nan,
                "compression vs fp32": fp32_size / r.size_bytes if r.size_bytes else np.nan,
                "convert s": r.convert.seconds if r.convert else np.nan,
                "peak convert RSS MB": r.convert.peak_rss_bytes / MB if r.convert else np.nan,
                "convert step RSS MB": r.convert.step_rss_bytes / MB if r.convert else np.nan,
                "peak RSS / fp32 size": r.convert.peak_rss_bytes / fp32_size if r.convert else np.nan,
                "RSS after load MB": e["rss_after_load_mb"] if e else np.nan}
        lat = e.get("latency") if e else None
        for b in sorted({int(x) for x in (lat["batch"] if lat is not None else [])}):
            s = lat[lat["batch"] == b].iloc[0]
            line[f"p50 ms b{b}"], line[f"p95 ms b{b}"] = s["p50_ms"], s["p95_ms"]
        if c is not None:
            cos = c.per_text["cosine"]
            line.update({"mean cosine": cos.mean(), "min cosine": cos.min(), "1-cos p50": c.drift["p50"],
                         "1-cos p99": c.drift["p99"], "same top-1": c.agreement["top1_agreement"],
                         "overlap@10": c.agreement["overlap_at_k"]})
        elif r is rows[0]:
            line.update({"mean cosine": 1.0, "min cosine": 1.0})
        if e:
            q = evaluation.quality(e["embedded"], data)
            for k, label in (("sts_spearman", "STS retention %"), ("ndcg10", "nDCG@10 retention %")):
                if k in q and ref_quality.get(k):
                    line[label] = 100.0 * q[k] / ref_quality[k]
        line["runtime / note"] = "; ".join(([e["runtime"]] if e else []) + r.notes)
        out.append(line)
    return pd.DataFrame(out).set_index("variant")


def headline_results(frame: pd.DataFrame) -> dict[str, tuple[float | None, str | None]]:
    """results.json keys per variant: value, or None with the reason it was not measured."""
    out = {}
    columns = (("size_mb", "size MB"), ("peak_convert_rss_mb", "peak convert RSS MB"),
               ("mean_cosine", "mean cosine"), ("latency_p50_ms", "p50 ms b1"))
    for key, row in frame.iterrows():
        note = row["runtime / note"] or None
        for name, column in columns:
            value = row.get(column, np.nan)
            ok = value is not None and np.isfinite(value)
            out[f"{name}_{key}"] = (float(value) if ok else None, None if ok else (note or "not measured"))
    return out


def projection(frame: pd.DataFrame, params: int, models=PROJECTED_MODELS) -> pd.DataFrame:
    """Disk size and conversion RAM per registry model, from this run's bytes-per-parameter constants.

    RAM per parameter uses the conversion step's RSS above its imports; on a small model
    fixed costs dominate it, so the projection is an upper bound for big ones.
    """
    from workbench.core.models import REGISTRY

    measured = frame[frame["size MB"].notna()]
    rows = []
    for name in models:
        n = REGISTRY[name].params_millions * 1e6
        for key, r in measured.iterrows():
            rows.append({"model": name, "variant": key, "kind": "projection",
                         "disk GB": r["size MB"] * MB / params * n / 1e9,
                         "conversion RAM GB": (r["convert step RSS MB"] * MB / params * n / 1e9
                                               if np.isfinite(r["convert step RSS MB"]) else np.nan)})
    return pd.DataFrame(rows)


def claims_table(projected: pd.DataFrame) -> pd.DataFrame:
    """The seeds' claims, quoted, beside this run's projection for the model assumed, with a verdict."""
    rows = []
    for claim, what, variant_suffix, low, high in SEED_CLAIMS:
        column = "disk GB" if what == "size_gb" else "conversion RAM GB"
        hits = projected[(projected["model"] == CLAIM_MODEL) & projected["variant"].str.endswith("_" + variant_suffix)]
        if hits.empty or hits[column].isna().all():
            rows.append({"claim (quoted from a seed)": claim, "projection": "no matching variant in this run",
                         "verdict": "not tested"})
            continue
        for _, h in hits.iterrows():
            value = h[column]
            if low <= value <= high:
                verdict = "consistent"
            elif what == "convert_ram_gb" and value > high:
                verdict = (f"not confirmed: projection above {low:g}-{high:g} GB, but it is an upper bound (a small "
                           "model's fixed conversion costs are spread over few parameters)")
            else:
                verdict = f"not consistent: projection is {'below' if value < low else 'above'} {low:g}-{high:g} GB"
            rows.append({"claim (quoted from a seed)": claim, "variant": h["variant"],
                         "projection": f"{value:.2f} GB (projection)", "verdict": verdict})
    return pd.DataFrame(rows)


def is_headline(key: str) -> bool:
    """The index page shows each variant's size and mean cosine."""
    return key.startswith(("size_mb_", "mean_cosine_"))


def claim_records(claims: pd.DataFrame) -> list[dict]:
    """The claims table as results.json records: consistent holds, not consistent fails, the rest is open."""
    records = []
    for _, row in claims.iterrows():
        verdict = str(row["verdict"])
        holds = True if verdict == "consistent" else False if verdict.startswith("not consistent") else None
        records.append({"claim": row["claim (quoted from a seed)"], "holds": holds,
                        "measured": f"{row.get('variant', '')} {row['projection']}: {verdict}".strip(),
                        "source": f"seeds 000/003, model assumed {CLAIM_MODEL} (projection)"})
    return records


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


def latency_frame(rows: list[Variant]) -> pd.DataFrame:
    """Every timed variant's latency rows, named by variant (the shape `plots.latency_bars` draws)."""
    frames = [r.evaluated["latency"] for r in rows if r.evaluated and r.evaluated.get("latency") is not None]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
