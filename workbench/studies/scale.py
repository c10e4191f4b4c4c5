"""Study 05: what the models users ship cost, measured at their true size with random weights, and fitted.

Full-size published architectures and a size series scaled from one of them go through every
requested (format, variant) (`workbench.convert.profile` measures each step in a child process).
Per (variant, quantity) a line against parameter count, with a prediction interval, projects the
sizes not measured here; each seed claim becomes a verdict row saying whether it was measured or
projected. No row carries an accuracy figure: the weights are random.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.convert import pipeline, profile, registry
from workbench.convert.rows import ArtifactRow, Status
from workbench.core.architectures import Architecture, architecture, published_recipe, total_params
from workbench.core.fitting import fit_linear, predict
from workbench.core.params import as_list, as_mapping
from workbench.core.units import BILLION, GB, MS
from workbench.run.conclusions import Result


def _p50(batch: int):
    """The row's median latency at `batch`, in seconds, or None where it was not timed."""
    return lambda row: (lat.p50_s if (lat := row.latency_at(batch)) is not None else None)


# quantity label -> (the row's SI value, that value's size in the label's unit)
QUANTITIES = {
    "size GB": (lambda row: row.size_bytes, GB),
    "peak convert RSS GB": (lambda row: row.convert_peak_rss_bytes, GB),
    "convert s": (lambda row: row.convert_s, 1.0),
    "load RSS GB": (lambda row: row.load_rss_bytes, GB),
    "resident GB": (lambda row: row.resident_bytes, GB),
    "load s": (lambda row: row.load_s, 1.0),
    "p50 ms b1": (_p50(1), MS),
}
MIN_FIT_POINTS = 3
LEAN_MODEL_TYPE = "qwen3"  # the lean Core ML path's chunks build Qwen3 decoders; other models take the plain path only
# What random weights cannot show, per model type, for its fp16 rows (from the model's own card)
FP16_CAVEATS = {"gemma3_text": "EmbeddingGemma's card says its activations do not support float16 (values far beyond "
                               "65,504); random weights cannot show that overflow, so this row's size and speed say "
                               "nothing about whether fp16 works: that needs the real weights"}
INTERVAL = 0.95


def validated(models, series, large, project_to, variants, series_base: str, large_variants=None):
    """The list and mapping parameters, converted from papermill strings and checked before anything runs."""
    models, large, project_to = (as_list(v, n, allow_empty=True) for v, n in
                                 ((models, "models"), (large, "large"), (project_to, "project_to")))
    for name in [*models, *large, *project_to, series_base]:
        architecture(name)  # an unknown name fails here, with the known ones
    series = as_list(series, "series", allow_empty=True)
    if not all(isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(x, int) and x > 0 for x in p)
               for p in series):
        raise ValueError(f"series: each point is [hidden, layers], two positive integers; got {series!r}")
    variants = _variant_map(variants, "variants")
    large_variants = _variant_map(large_variants, "large_variants") if large_variants is not None else variants
    if not (models or series or large):
        raise ValueError("nothing to profile: give at least one of models, series, large")
    return models, series, large, project_to, variants, large_variants


def _variant_map(value, name: str) -> dict:
    """format -> variant names, each format and variant checked against the converters."""
    mapping = {fmt: as_list(names, f"{name}[{fmt!r}]") for fmt, names in as_mapping(value, name).items()}
    for fmt, names in mapping.items():
        pipeline.plan([fmt], names)  # an unknown format or variant fails here
    return mapping


def series_architectures(base: str, points) -> list:
    """The base record scaled to each [hidden, layers]: FFN 3x hidden, one query head per 64 and a KV head per 128
    of width (Qwen3-0.6B's own ratios), head dim kept; the base itself where a point matches it."""
    record = architecture(base)
    out = []
    for hidden, layers in points:
        hidden, layers = int(hidden), int(layers)
        if (hidden, layers) == (record.config["hidden_size"], record.config["num_hidden_layers"]):
            out.append(record)
            continue
        scaled = record.scaled(name="", hidden_size=hidden, num_hidden_layers=layers, intermediate_size=3 * hidden,
                               num_attention_heads=max(1, hidden // 64), num_key_value_heads=max(1, hidden // 128))
        billions = total_params(scaled) / BILLION
        out.append(record.scaled(name=f"{base} scaled to {billions:.2f}B (hidden {hidden}, {layers} layers)",
                                 **{k: scaled.config[k] for k in ("hidden_size", "num_hidden_layers",
                                                                  "intermediate_size", "num_attention_heads",
                                                                  "num_key_value_heads")}))
    return out


def run(planned: list[Planned], max_length: int, repeats: int, limits: pipeline.Limits, slow: dict[str, str],
        slow_above_params: float, seed: int = 0) -> list[ArtifactRow]:
    """Profile each planned network through its variants; `slow` variants are left to the fit above
    `slow_above_params`, with their reason."""
    rows = []
    for p in planned:
        pairs = [pair for fmt, wanted in p.variants.items() for pair in pipeline.plan([fmt], wanted)
                 if registry.get(fmt).conversion_path == "plain" or p.arch.config["model_type"] == LEAN_MODEL_TYPE]
        skip = slow if total_params(p.arch) > slow_above_params else {}
        rows += profile.profile(pipeline.RandomBuild(p.arch, seed), pairs, published_recipe(p.arch, max_length),
                                p.batch_sizes, repeats, limits, skip)
    return rows


def frame(rows: list[ArtifactRow], planned: list[Planned]) -> pd.DataFrame:
    """One line per (model, variant) in display units; NaN where not measured (the note says why)."""
    model_types = {p.arch.name: p.arch.config["model_type"] for p in planned}
    out = []
    for r in rows:
        line = {"model": r.model, "params B": r.params / BILLION if r.params is not None else np.nan, "variant": r.key,
                "status": r.status.value}
        for label, (value_of, unit) in QUANTITIES.items():
            value = value_of(r)
            line[label] = value / unit if value is not None else np.nan
        if (b32 := _p50(32)(r)) is not None:
            line["p50 ms b32"] = b32 / MS
        caveat = FP16_CAVEATS.get(model_types.get(r.model, "")) if r.variant == "fp16" else None
        line["weights / note"] = "; ".join([r.weights, *r.notes, *([caveat] if caveat else [])]
                                           + (["measured in an earlier run (profile cache)"] if r.from_cache else []))
        out.append(line)
    return pd.DataFrame(out)


def fits(table: pd.DataFrame, family_models: set[str]) -> pd.DataFrame:
    """Per (variant, quantity): intercept + slope against parameters (B) over the family's measured points."""
    out = []
    measured = table[(table["status"] == Status.MEASURED.value) & table["model"].isin(family_models)]
    for (variant, quantity), points in _points(measured):
        if points["params B"].nunique() < MIN_FIT_POINTS:
            continue
        line = fit_linear(points["params B"], points[quantity])
        out.append({"variant": variant, "quantity": quantity, "points": line["n"],
                    "from B": points["params B"].min(), "to B": points["params B"].max(),
                    "intercept": line["a"], "per B": line["b"], "residual s.e.": line["s"], "fit": line})
    columns = ["variant", "quantity", "points", "from B", "to B", "intercept", "per B", "residual s.e.", "fit"]
    return pd.DataFrame(out, columns=columns)  # no rows (but the columns) with fewer than three sizes


def no_fit_reason(table: pd.DataFrame, family_models: set[str]) -> str:
    """The sentence an empty fit table shows: what a fit needs, and what this run profiled."""
    measured = table[(table["status"] == Status.MEASURED.value) & table["model"].isin(family_models)]
    sizes = measured["params B"].nunique()
    return (f"Fits need at least {MIN_FIT_POINTS} sizes of one family; this run profiled {sizes}. "
            "suites/scale.yaml profiles five (workbench run suites/scale.yaml).")


def _points(measured: pd.DataFrame):
    for variant, group in measured.groupby("variant"):
        for quantity in QUANTITIES:
            points = group[["params B", quantity]].dropna()
            if len(points):
                yield (variant, quantity), points


def projections(fitted: pd.DataFrame, table: pd.DataFrame, targets: list[str]) -> pd.DataFrame:
    """Each target model's value per (variant, quantity): measured where a row holds it, else projected with its
    interval (the fit's prediction interval at the target's parameter count)."""
    out = []
    for name in targets:
        billions = total_params(architecture(name)) / BILLION
        for _, f in fitted.iterrows():
            hit = table[(table["model"] == name) & (table["variant"] == f["variant"])
                        & (table["status"] == Status.MEASURED.value)]
            measured = hit[f["quantity"]].dropna() if len(hit) else pd.Series(dtype=float)
            if len(measured):
                value, half, kind = float(measured.iloc[0]), None, "measured"
            else:
                value, half = predict(f["fit"], billions, level=INTERVAL)
                kind = f"projected (fit over {f['points']} sizes, {f['from B']:.2f}-{f['to B']:.2f}B)"
            out.append({"model": name, "params B": billions, "variant": f["variant"], "quantity": f["quantity"],
                        "value": value, "± (95 % prediction)": half, "kind": kind})
    return pd.DataFrame(out)


def values_table(table: pd.DataFrame, fitted: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Every (model, variant, quantity) this run measured, plus the projections of the fitted family's targets."""
    measured = table[table["status"] == Status.MEASURED.value]
    rows = [{"model": r["model"], "params B": r["params B"], "variant": r["variant"], "quantity": q,
             "value": r[q], "± (95 % prediction)": None, "kind": "measured"}
            for _, r in measured.iterrows() for q in QUANTITIES if np.isfinite(r[q])]
    projected = projections(fitted, table, models) if len(fitted) else pd.DataFrame()
    if len(projected):
        projected = projected[~projected["kind"].eq("measured")]
    columns = ["model", "params B", "variant", "quantity", "value", "± (95 % prediction)", "kind"]
    return pd.concat([pd.DataFrame(rows, columns=columns), projected], ignore_index=True)


@dataclass(frozen=True)
class Planned:
    """One network to profile, the batch sizes timed for it and the variants it goes through (format -> names)."""

    arch: Architecture
    batch_sizes: tuple
    variants: dict


def subjects(models, series_base: str, series, large, batch_sizes, series_batch_sizes, variants: dict,
             large_variants: dict) -> list[Planned]:
    """Run order: full-size models, the series, then the large models (with their own, smaller variant set)."""
    out = [Planned(architecture(m), tuple(batch_sizes), variants) for m in models]
    out += [Planned(a, tuple(series_batch_sizes), variants) for a in series_architectures(series_base, series)]
    out += [Planned(architecture(m), tuple(series_batch_sizes), large_variants) for m in large]
    seen, unique = set(), []
    for planned in out:
        if planned.arch.name not in seen:
            seen.add(planned.arch.name)
            unique.append(planned)
    return unique


def architectures_table(planned) -> pd.DataFrame:
    """What each planned network is: parameters, width, depth, and where its numbers come from."""
    return pd.DataFrame([{"model": a.name, "params B": total_params(a) / BILLION, "hidden": a.config["hidden_size"],
                          "layers": a.config["num_hidden_layers"], "FFN": a.config["intermediate_size"],
                          "vocab": a.config["vocab_size"], "output dim": a.output_dim, "pooling": a.pooling,
                          "latency batches": ", ".join(map(str, p.batch_sizes)),
                          "variants": "; ".join(f"{f}: {', '.join(v)}" for f, v in p.variants.items()),
                          "record": a.source}
                         for p in planned for a in [p.arch]]).set_index("model")


def family(planned, series_base: str) -> set[str]:
    """The models fitted together: every planned network of the series base's model type."""
    model_type = architecture(series_base).config["model_type"]
    return {p.arch.name for p in planned if p.arch.config["model_type"] == model_type}


def value_pivot(values: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Per (variant, quantity), each model's value as text: measured, or projected "value ± half-width"."""
    chosen = values[values["model"].isin(models)].copy()
    if chosen.empty:
        return pd.DataFrame()
    half = chosen["± (95 % prediction)"]
    chosen["shown"] = [f"{v:,.3g}" + (f" ± {h:,.2g} (projected)" if h is not None and np.isfinite(h) else
                                       " (projected)" if not k.startswith("measured") else "")
                       for v, h, k in zip(chosen["value"], half.astype(float), chosen["kind"])]
    return chosen.pivot_table(index=["variant", "quantity"], columns="model", values="shown", aggfunc="first")


def results(table: pd.DataFrame, first_model: str) -> list[Result]:
    """Per model, variant and quantity, its value or None with the reason; every note names the weights. The index
    shows the sizes of the first network profiled (the 0.6B model in suites/scale.yaml)."""
    out = []
    for r in table.to_dict("records"):
        for quantity in QUANTITIES:
            value = r[quantity]
            ok = np.isfinite(value)
            label = f"size, {r['variant']}, {first_model} (GB)" if quantity == "size GB" and r["model"] == first_model \
                else ""
            out.append(Result(f"{quantity.lower().replace(' ', '_')}_{r['variant']}_{r['model']}",
                              float(value) if ok else None, label, r["weights / note"] if ok else
                              f"not measured ({r['status']}): {r['weights / note']}"))
    return out
