"""Study 05's verdicts: the seeds' claims on the sizes users ship, judged per conversion path.

A claim about conversion RAM depends on how the model was converted, so each such claim gets one row per path
(plain: coremltools' documented calls on the whole fp16 program; lean: chunk by chunk, `coreml-lean`), and the
page answers the user's own question beside them: does the conversion fit on a 16 GB Mac?
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.convert import registry
from workbench.run import catalog
from workbench.run.claims import Claim, claimed_range, verdict_of
from workbench.run.conclusions import Conclusions, Result
from workbench.run.formatting import significant
from workbench.studies import scale

INT8_RAM_QUOTE = "INT8 conversion, Total: ~20-28GB RAM required"
NOT_VIABLE_QUOTE = "INT8 conversion: Result: Not viable on 16GB machines"
# Seed 000's own account of a 16 GB MacBook after cleanup: "Available: ~11-12GB" (system 3 GB, Docker 1.3 GB).
# The lower end is what a conversion may peak at; quoted, not measured here.
MAC_16GB_AVAILABLE_GB = 11.0
MAC_16GB_ORIGIN = "seed 000: 'Available on 16GB machine after cleanup: ~11-12GB' (its lower end; quoted, not measured)"

# The seeds' claims, quoted: an approximate one with its "figure", read by `claims.claimed_range`, an exact one
# with the "range" it is read as and where that margin comes from. Seed 000 is about Qwen3(-Embedding)-4B in
# Core ML, 003 about the onnx-community Qwen3-Embedding-0.6B export, 002 about mlx-community 4-bit builds.
CLAIMS: tuple[dict[str, Any], ...] = (
    {"seed": "000", "quote": "FP16 (unquantized): ~8GB model size", "model": "qwen3-embedding-4b",
     "variant": "coreml_fp16", "quantity": "size GB", "figure": (8.0, 8.0)},
    {"seed": "000", "quote": "INT8 (quantized): ~2-4GB model size", "model": "qwen3-embedding-4b",
     "variant": "coreml_int8", "quantity": "size GB", "figure": (2.0, 4.0)},
    *({"seed": "000", "quote": INT8_RAM_QUOTE, "model": "qwen3-embedding-4b", "variant": variant,
       "quantity": "peak convert RSS GB", "figure": (20.0, 28.0)}
      for variant in ("coreml_int8", "coreml-lean_int8")),
    *({"seed": "000", "quote": NOT_VIABLE_QUOTE, "model": "qwen3-embedding-4b", "variant": variant,
       "quantity": "peak convert RSS GB", "above": MAC_16GB_AVAILABLE_GB, "origin": MAC_16GB_ORIGIN}
      for variant in ("coreml_int8", "coreml-lean_int8")),
    {"seed": "000", "quote": "4-bit palettization: ~1-2GB model size", "model": "qwen3-embedding-4b",
     "variant": "coreml_palette4", "quantity": "size GB", "figure": (1.0, 2.0)},
    *({"seed": "000", "quote": "4-bit palettization: conversion more memory-efficient (than INT8)",
       "model": "qwen3-embedding-4b", "variant": f"{fmt}_palette4", "quantity": "peak convert RSS GB",
       "below": f"{fmt}_int8"} for fmt in ("coreml", "coreml-lean")),
    {"seed": "003", "quote": "Variants: FP32 (2.3GB)", "model": "qwen3-embedding-0.6b", "variant": "onnx_fp32",
     "quantity": "size GB", "range": (2.1, 2.5)},
    {"seed": "003", "quote": "FP16 (1.1GB recommended)", "model": "qwen3-embedding-0.6b", "variant": "onnx_fp16",
     "quantity": "size GB", "range": (1.0, 1.2)},
    {"seed": "002", "quote": "Qwen3-Embedding-0.6B, Quantization: 4-bit DWQ, Size: 600MB",
     "model": "qwen3-embedding-0.6b", "variant": "mlx_q4", "quantity": "size GB", "range": (0.5, 0.7)},
    {"seed": "002", "quote": "Qwen3-0.6B | 1024 | ~550MB (memory)", "model": "qwen3-embedding-0.6b",
     "variant": "mlx_q4", "quantity": "resident GB", "also": "load RSS GB", "figure": (0.55, 0.55)},
    {"seed": "002", "quote": "Gemma-300M-4bit, Size: 200MB", "model": "embeddinggemma-300m", "variant": "mlx_q4",
     "quantity": "size GB", "range": (0.15, 0.25)},
    {"seed": "002", "quote": "Gemma-300M | 768 | ~400MB* (memory, estimated)", "model": "embeddinggemma-300m",
     "variant": "mlx_q4", "quantity": "resident GB", "also": "load RSS GB", "figure": (0.4, 0.4)},
)
# What a quantity is, in words, where its name alone could be read two ways.
QUANTITY_MEANINGS = {
    "resident GB": "total RSS of a fresh process that loaded the artifact and embedded one input: interpreter, "
                   "runtime and model, as Activity Monitor shows a running process",
    "peak convert RSS GB": "the largest RSS of the conversion's process tree over its steps (a compressed Core ML "
                           "variant: the fp16 package, then its compression)",
    "load RSS GB": "what loading the artifact added to the RSS of a process that had its libraries imported",
}
SOURCES = {"000": "shared seed 000 (Qwen3-Embedding-4B to Core ML)", "002": "shared seed 002 (MLX 4-bit builds)",
           "003": "shared seed 003 (onnx-community Qwen3-Embedding-0.6B)"}


def conversion_path(variant: str) -> str:
    """"plain" or "lean": how the artifact named `<format>_<variant>` was converted."""
    return registry.get(variant.rsplit("_", 1)[0]).conversion_path


def _value(values: pd.DataFrame, model: str, variant: str, quantity: str):
    """(value, half-width or None, kind) from the measured-or-projected table, or None when neither exists."""
    hit = values[(values["model"] == model) & (values["variant"] == variant) & (values["quantity"] == quantity)]
    if hit.empty or not np.isfinite(hit["value"].iloc[0]):
        return None
    row = hit.iloc[0]
    half = row["± (95 % prediction)"]
    return float(row["value"]), (float(half) if half is not None and np.isfinite(half) else None), row["kind"]


def _steps(variant: str) -> list[str]:
    """The conversion steps that make `variant`: its format's base first where it is derived from one."""
    fmt, name = variant.rsplit("_", 1)
    converter = registry.get(fmt)
    return [f"{fmt}_{converter.base}", variant] if converter.derives(name) else [variant]


def conversion_peak(values: pd.DataFrame, model: str, variant: str):
    """`_value` of the peak convert RSS of making `variant`: the larger of its steps' peaks, None if one is missing.

    A compressed Core ML variant is the fp16 package, then its compression, on either path; its peak is the
    conversion's, not the second step's alone."""
    found = [_value(values, model, v, "peak convert RSS GB") for v in _steps(variant)]
    return None if any(f is None for f in found) else max(found, key=lambda f: f[0])


def _judge(value: float, half: float | None, low: float, high: float) -> tuple[bool | None, str]:
    if low <= value <= high:
        return True, "consistent"
    if half is not None and value - half <= high and value + half >= low:
        return None, "inconclusive: outside the range, but the prediction interval reaches it"
    return False, f"not consistent: {'below' if value < low else 'above'} {low:.3g}-{high:.3g}"


def _lower(difference: float, half: float) -> tuple[bool | None, str]:
    """Verdict on "A needs less than B" from A - B and the half-width of that difference."""
    if difference + half < 0:
        return True, "consistent: lower"
    if difference - half > 0:
        return False, "not consistent: higher"
    return None, "inconclusive: the difference is within the prediction interval"


def _above(value: float, half: float | None, limit: float) -> tuple[bool | None, str]:
    """Verdict on "does not fit in `limit`": the peak above it, beyond its interval."""
    half = half or 0.0
    if value - half > limit:
        return True, f"consistent: the peak is above the {limit:g} GB available"
    if value + half < limit:
        return False, f"not consistent: the peak leaves {limit - value:.1f} GB of the {limit:g} GB available"
    return None, "inconclusive: the prediction interval reaches the memory available"


def _quantity(values: pd.DataFrame, model: str, variant: str, quantity: str):
    """`_value`, with a conversion's peak taken over all of its steps."""
    if quantity == "peak convert RSS GB":
        return conversion_peak(values, model, variant)
    return _value(values, model, variant, quantity)


def verdicts(values: pd.DataFrame) -> pd.DataFrame:
    """One row per seed claim: the value (measured, or projected with its interval), the verdict and which it is."""
    out = []
    for c in CLAIMS:
        found = _quantity(values, c["model"], c["variant"], c["quantity"])
        line = {"seed": c["seed"], "claim (quoted)": c["quote"], "model": c["model"], "variant": c["variant"],
                "path": conversion_path(c["variant"]), "quantity": c["quantity"]}
        if found is None:
            out.append({**line, "value": "not measured, no fit", "verdict": "not tested", "holds": None,
                        "kind": "-"})
            continue
        value, half, kind = found
        shown = significant(value) + (f" ± {significant(half)}" if half is not None else "")
        second = _value(values, c["model"], c["variant"], c["also"]) if "also" in c else None
        if second is not None:  # shown beside the judged value, not judged
            shown += f" ({c['also'].rsplit(' ', 1)[0]}: {significant(second[0])})"
        if "below" in c:
            other = _quantity(values, c["model"], c["below"], c["quantity"])
            if other is None:
                out.append({**line, "value": shown, "verdict": f"not tested: no {c['below']} value to compare with",
                            "holds": None, "kind": kind})
                continue
            shown += f" vs {c['below']} {significant(other[0])}" + (f" ± {significant(other[1])}" if other[1] else "")
            holds, verdict = _lower(value - other[0], float(np.hypot(half or 0.0, other[1] or 0.0)))
            kind = kind if kind == other[2] else f"{kind}; {c['below']}: {other[2]}"
        elif "above" in c:
            holds, verdict = _above(value, half, c["above"])
        else:
            low, high, _ = _range(c)
            holds, verdict = _judge(value, half, low, high)
            line["claimed range"] = f"{low:.3g}-{high:.3g}"
        out.append({**line, "value": shown, "verdict": verdict, "holds": holds, "kind": kind})
    return pd.DataFrame(out)


def _threshold(claim: dict) -> tuple[str, str]:
    """(what counts as holding, where that comes from) for one entry of CLAIMS."""
    if "below" in claim:
        return (f"below {claim['below']}'s, beyond both prediction intervals",
                "the quote: 'more memory-efficient' than INT8")
    if "above" in claim:
        return f"above {claim['above']:g} GB, beyond the prediction interval", claim["origin"]
    low, high, origin = _range(claim)
    return f"{low:.3g}–{high:.3g}", origin


def _range(claim: dict) -> tuple[float, float, str]:
    """(low, high, origin) of a claim judged against a range: the rule's reading of an approximate figure, or an
    exact quote's own range with its stated margin."""
    if "figure" in claim:
        low, high = claim["figure"]
        return claimed_range(low, high, claim["quote"])
    low, high = claim["range"]
    return low, high, claim.get("origin", f"the quoted figure ± {(high - low) / 2:g}: this study's margin for an "
                                       "exact quote")


def _meaning(quantity: str) -> str:
    meaning = QUANTITY_MEANINGS.get(quantity)
    return f": {meaning}" if meaning else ""


def claim_records(table: pd.DataFrame) -> list[Claim]:
    """The verdict rows as claims; every value says it was measured or projected on random weights."""
    out = []
    # to_dict keeps an inconclusive verdict's None; a row Series from iterrows can turn it into NaN
    for r, claim in zip(table.to_dict("records"), CLAIMS):
        threshold, origin = _threshold(claim)
        measurable = not str(r["verdict"]).startswith("not tested")
        unit = r["quantity"].rsplit(" ", 1)[-1]
        out.append(Claim(quote=r["claim (quoted)"], source=SOURCES[r["seed"]],
                         quantity=f"{r['quantity'].rsplit(' ', 1)[0]} ({unit}{_meaning(r['quantity'])}), "
                                  f"{r['model']}, {r['variant']}, {r['path']} conversion path",
                         value=f"{r['value']} {unit}" if measurable else "",
                         threshold=f"{threshold} {unit}" if "range" in claim or "figure" in claim else threshold,
                         threshold_origin=origin,
                         verdict=verdict_of(r["holds"], measurable), kind=f"{r['kind']}, random weights",
                         detail=str(r["verdict"])))
    return out


def mac_16gb(values: pd.DataFrame, model: str = "qwen3-embedding-4b") -> pd.DataFrame:
    """Per Core ML variant and path of `model`: does converting it fit in what a 16 GB Mac leaves free?

    Each path builds its fp16 package first (whole, or chunk by chunk) and compresses it after, so its peak is the
    larger of the two steps."""
    out = []
    for variant in sorted({v for v in values.loc[values["model"] == model, "variant"] if v.startswith("coreml")}):
        fmt, name = variant.rsplit("_", 1)
        found = conversion_peak(values, model, variant)
        if name == registry.get(fmt).base or found is None:  # fp16 is each path's first step, not a choice
            continue
        steps = _steps(variant)
        value, half, kind = found
        too_big, _ = _above(value, half, MAC_16GB_AVAILABLE_GB)
        out.append({"model": model, "variant": variant, "path": conversion_path(variant),
                    "steps": " then ".join(steps), "peak convert RSS": significant(value) +
                    (f" ± {significant(half)}" if half else "") + " GB", "kind": kind,
                    f"headroom in {MAC_16GB_AVAILABLE_GB:g} GB": f"{MAC_16GB_AVAILABLE_GB - value:+.1f} GB",
                    "converts on a 16 GB Mac": {True: "no", False: "yes", None: "uncertain"}[too_big]})
    return pd.DataFrame(out)


@dataclass(frozen=True)
class Outcome:
    """What a run of 05 measured, as its conclusions read it."""

    table: pd.DataFrame  # `scale.frame`: one row per network and variant, in page units
    values: pd.DataFrame  # `scale.values_table`: per model, variant and quantity, measured or projected
    first_model: str  # the first network profiled, whose sizes the index shows


def results(outcome: Outcome) -> list[Result]:
    """Every measured quantity (`scale.results`), then per Core ML variant and path of Qwen3-Embedding-4B whether
    its conversion fits on a 16 GB Mac: the answer the index shows."""
    return scale.results(outcome.table, outcome.first_model) + [
        Result(f"converts_on_16gb_mac_{r['variant']}_{r['model']}", r["converts on a 16 GB Mac"],
               f"converts on a 16 GB Mac, {r['model']} {r['variant']} ({r['path']} path)")
        for r in mac_16gb(outcome.values).to_dict("records")]


def claims(outcome: Outcome) -> list[Claim]:
    return claim_records(verdicts(outcome.values))


CONCLUSIONS: Conclusions[Outcome] = Conclusions(catalog.SCALE, results, claims)
