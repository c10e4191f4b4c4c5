"""Study 07: the configuration to ship for a device's budgets, chosen from what studies 03 and 06 measured.

Presets are YAML files in presets/ (budgets in GB, ms and %); notebook parameters override them. The choice
itself is `workbench.deploy.selection` (pure); this module reads presets, builds the rows at the target
item count, and writes the answer with a link to the report section behind every number.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.core.paths import PROJECT_ROOT
from workbench.core.records import Table
from workbench.core.units import GB, MB, MS
from workbench.deploy import selection
from workbench.deploy.selection import BUDGET_WORDS, Budgets
from workbench.run import catalog
from workbench.run.conclusions import Conclusions, Result
from workbench.run.formatting import significant
from workbench.run.report import REPORT_FILE

PRESETS_DIR = PROJECT_ROOT / "presets"
PRESET_KEYS = {"name", "disk_gb", "ram_gb", "convert_ram_gb", "latency_ms", "min_quality_pct", "items"}


def load_preset(preset: str) -> dict:
    """A preset by name (presets/<name>.yaml) or path; unknown keys and missing files fail with what to write."""
    import yaml

    path = Path(preset) if preset.endswith((".yaml", ".yml")) else PRESETS_DIR / f"{preset}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.yaml")))
        raise ValueError(f"preset {preset!r}: no file {path}; choose one of {known} or give a YAML path")
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = set(spec) - PRESET_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; a preset has {sorted(PRESET_KEYS)}")
    return {"name": spec.get("name", path.stem), **spec}


def budgets_from(preset: dict, overrides: dict) -> tuple[Budgets, int, dict]:
    """Budgets and target item count: each override that is not 0 replaces the preset's value."""
    merged: dict[str, Any] = {k: (overrides.get(k) or preset.get(k)) for k in PRESET_KEYS - {"name"}}
    if not merged.get("items"):
        raise ValueError("the target item count is missing: set items in the preset or the notebook parameters")

    def scaled(key, factor=1.0):
        return float(merged[key]) * factor if merged.get(key) else None

    budgets = Budgets(disk_bytes=scaled("disk_gb", GB), ram_bytes=scaled("ram_gb", GB),
                      convert_ram_bytes=scaled("convert_ram_gb", GB), latency_ms=scaled("latency_ms"),
                      min_quality_pct=scaled("min_quality_pct"))
    return budgets, int(merged["items"]), merged


def _gb(x: float) -> str:
    return f"{significant(x / GB)} GB"


def _fmt(name: str, value: float) -> str:
    if name in ("disk_bytes", "ram_bytes", "convert_ram_bytes"):
        return _gb(value)
    return f"{significant(value)} ms" if name == "latency_ms" else f"{significant(value)} %"


def budgets_table(budgets: Budgets, items: int) -> pd.DataFrame:
    rows = [{"budget": BUDGET_WORDS[n], "limit": _fmt(n, v)} for n, v in budgets.active().items()]
    return pd.DataFrame(rows + [{"budget": "items in the store", "limit": f"{items:,}"}])


def _a(text: str, href: str) -> str:
    return f'<a href="{html.escape(href, quote=True)}">{html.escape(text)}</a>'


def answer_html(result: selection.Recommendation, budgets: Budgets, items: int) -> str:
    """The pick with every total broken into its measured parts and their sources, or what to relax."""
    if result.pick is None:
        if not result.relax:
            return "<p><b>Nothing measured can be judged against these budgets.</b> Every row lacks a measurement.</p>"
        moves = []
        for name, factor in sorted(result.relax.items(), key=lambda kv: abs(kv[1] - 1)):
            target = getattr(budgets, name) * factor
            verb = "lower" if name == "min_quality_pct" else "raise"
            moves.append(f"<li>{verb} the {BUDGET_WORDS[name]} budget to {_fmt(name, target)} "
                         f"({abs(factor - 1):.0%} {'lower' if factor < 1 else 'higher'})</li>")
        return ("<p><b>No measured configuration meets every budget.</b> Moving one budget alone, keeping the "
                f"others:</p><ul>{''.join(moves)}</ul>")
    p = result.pick
    rescored = p["rescoring"] != "none"
    parts = [
        ("model artifact", html.escape(p["artifact"]), p.get("source_artifact")),
        ("vector storage", html.escape(f"{p['storage']} at {p['dim']}-d"
                                       + (f", rescored {p['rescoring']}" if rescored else "")), p.get("source_storage")),
        ("index", html.escape(p["engine"]), p.get("source_index")),
    ]
    lines = "".join(f"<tr><th>{k}</th><td>{v}</td><td>{_a('measured here', s) if s else ''}</td></tr>"
                    for k, v, s in parts)
    totals = [("quality kept", f"{p['quality_pct']:.2f} %", "model's retention × storage's retention (measured apart)"),
              ("RAM", _gb(p["ram_bytes"]), f"model load RSS + {items:,} × index bytes per item (the index file's "
                                            "size: faiss reads it whole)"),
              ("disk", _gb(p["disk_bytes"]), f"model size + {items:,} × (index + rescoring copy) bytes per item"),
              ("p95 query latency", f"{significant(p['latency_ms'])} ms",
               "query embedding p95 + search p95 at N" + (" (projected beyond the measured sizes)"
                                                          if p["search_projected"] else "")
               + ("; rescoring time not measured" if rescored else "")),
              ("conversion RAM", _gb(p["convert_ram_bytes"]), "peak RSS of the conversion step")]
    total_rows = "".join(f"<tr><th>{k}</th><td>{v}</td><td>{html.escape(how)}</td></tr>" for k, v, how in totals)
    binding = (f"Cheaper configurations are kept out mostly by the <b>{BUDGET_WORDS[result.binding]}</b> budget ("
               + ", ".join(f"{BUDGET_WORDS[n]}: {c}" for n, c in result.cheaper_broken.items())
               + " cheaper rows break it)." if result.binding else "It is the cheapest measured configuration.")
    return (f"<p><b>Ship:</b> {html.escape(p['name'])}</p><table>{lines}</table><table>{total_rows}</table>"
            f"<p>{binding} {result.feasible} measured configurations meet every budget.</p>")


def sensitivity_table(found, budgets: Budgets, items: int) -> pd.DataFrame:
    """The pick when each budget, and then the target item count, moves by ±50 % with the others kept."""
    rows = selection.combine(found.artifacts, found.storages, found.indexes, items)
    out = [selection.sensitivity(rows, budgets)]
    for factor in (0.5, 1.5):
        n = max(1, int(round(items * factor)))
        result = selection.recommend(selection.combine(found.artifacts, found.storages, found.indexes, n), budgets)
        out.append(pd.DataFrame([{"budget": "items in the store", "moved": f"{factor - 1:+.0%}",
                                  "pick": result.pick["name"] if result.pick else "nothing fits",
                                  "binding": BUDGET_WORDS.get(result.binding, "")}]))
    return pd.concat(out, ignore_index=True)


def sources_html(found) -> str:
    """Which runs the evidence comes from, linked."""
    links = ", ".join(_a(f"{notebook} ({folder.name})", f"../{folder.name}/{REPORT_FILE}")
                      for notebook, folder in sorted(found.runs.items()))
    return f"<p>Model: <b>{html.escape(found.model)}</b>. Runs read: {links}.</p>"


def artifacts_table(artifacts: pd.DataFrame) -> pd.DataFrame:
    """Study 03's numbers per artifact, in units, with why a row is left out when it lacks one."""
    lacking = artifacts[["size_bytes", "load_rss_bytes", "convert_ram_bytes", "embed_ms", "quality_pct"]].isna()
    return pd.DataFrame({
        "artifact": artifacts["name"], "size (MB)": artifacts["size_bytes"] / MB,
        "load RSS (MB)": artifacts["load_rss_bytes"] / MB, "conversion peak RSS (MB)": artifacts["convert_ram_bytes"] / MB,
        "query embedding p95 (ms)": artifacts["embed_ms"], "quality kept (%)": artifacts["quality_pct"],
        "used": ["no: " + (artifacts.loc[i, "note"] or "not measured here") if lacking.loc[i].any() else "yes"
                 for i in artifacts.index]})


def storage_table(found) -> pd.DataFrame:
    """Study 06's storage options joined with the index engines timed at the same precision."""
    pairs = found.storages.merge(found.indexes, on=["precision", "dim"])
    return pd.DataFrame({
        "storage": pairs["precision"] + " " + pairs["dim"].astype(str) + "-d", "rescoring": pairs["rescoring"],
        "index": pairs["engine"], "quality kept (%)": pairs["quality_pct"],
        "index bytes per item (B)": pairs["disk_bytes_per_item"],
        "rescoring copy per item (B)": pairs["rescoring_bytes_per_vector"],
        "largest N timed": pairs["max_measured_n"]})


def candidates_table(rows: pd.DataFrame, front: pd.Series, budgets: Budgets) -> pd.DataFrame:
    """Every measured configuration with its totals, whether it is on the Pareto front, and what it breaks."""
    broken = selection.failures(rows, budgets)
    gaps = selection.missing(rows, budgets)
    return pd.DataFrame({
        "configuration": rows["name"], "quality kept (%)": rows["quality_pct"], "RAM (GB)": rows["ram_bytes"] / GB,
        "disk (GB)": rows["disk_bytes"] / GB, "p95 latency (ms)": rows["latency_ms"],
        "conversion RAM (GB)": rows["convert_ram_bytes"] / GB, "Pareto": front.map({True: "yes", False: ""}),
        "breaks": [("not measured: " + gaps[i]) if gaps[i] else ", ".join(BUDGET_WORDS[n] for n in broken.columns
                                                                          if broken.loc[i, n])
                   for i in rows.index]}).sort_values(["breaks", "RAM (GB)"], key=lambda s: s if s.name != "breaks"
                                                      else s.str.len()).reset_index(drop=True)


@dataclass(frozen=True)
class Answer:
    """What this preset's budgets pick, with its totals (None where nothing fits every budget)."""

    preset: str
    configuration: str | None  # model artifact + storage + index, as the candidates table names it
    binding_budget: str | None  # the budget most cheaper configurations break
    relax_first: str | None  # when nothing fits: the budget the cheapest configuration misses by least
    quality_kept_pct: float | None
    ram_bytes: float | None  # model and index together
    disk_bytes: float | None
    p95_latency_s: float | None
    feasible: int  # configurations within every budget


ANSWERS: Table[Answer] = Table("answer", "deployment-answer/1", Answer)


def answer_row(result: selection.Recommendation, preset_name: str) -> Answer:
    p = result.pick
    if p is None:
        relax = BUDGET_WORDS[min(result.relax, key=lambda n: abs(result.relax[n] - 1))] if result.relax else None
        return Answer(preset_name, None, None, relax, None, None, None, None, result.feasible)
    return Answer(preset_name, p["name"], BUDGET_WORDS.get(result.binding, "none"), None, float(p["quality_pct"]),
                  float(p["ram_bytes"]), float(p["disk_bytes"]), float(p["latency_ms"]) * MS, result.feasible)


def results(answer: Answer) -> list[Result]:
    """The pick and its totals, which the index shows (strings for the configuration and what binds)."""
    if answer.configuration is None:
        return [Result("ship_configuration", f"nothing fits ({answer.preset})", "configuration to ship"),
                Result("relax_budget_first", answer.relax_first or "", "budget to relax first")]
    return [Result("ship_configuration", answer.configuration, "configuration to ship"),
            Result("binding_budget", answer.binding_budget, "budget that binds"),
            Result("quality_kept_pct", answer.quality_kept_pct, "quality kept (%)"),
            Result("total_ram_gb", (answer.ram_bytes or 0) / GB, "RAM, model and index (GB)"),
            Result("total_disk_gb", (answer.disk_bytes or 0) / GB, "disk, model and index (GB)"),
            Result("p95_latency_ms", (answer.p95_latency_s or 0) / MS, "p95 query latency (ms)")]


CONCLUSIONS: Conclusions[Answer] = Conclusions(catalog.DEPLOYMENT, results)
