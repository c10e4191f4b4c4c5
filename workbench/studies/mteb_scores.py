"""Study 03's MTEB section: MTEB's own score of every artifact beside the workbench's figure for the same vectors.

The rows come from `workbench.mteb_bridge.step`; this module turns them into the page's table, the sentence on
how closely the two agree, and the results the index shows.
"""

from __future__ import annotations

import html
from importlib import metadata

import pandas as pd

from workbench.mteb_bridge.rows import RESULTS_FOLDER, RETRIEVAL_DECIMALS, RETRIEVAL_TASK, STS_TASK, MtebScore
from workbench.run.conclusions import Result

METRIC_WORDS = {"cosine_spearman": "cosine Spearman", "ndcg_at_10": "nDCG@10"}  # MTEB's key stays beside, for its files
OFF = ("The MTEB step is switched off in this run (mteb_scores=False): no MTEB scores. Set it to True to score "
       "every artifact with MTEB's own evaluators.")
NO_LABELS = "No labelled set in this run (STS and retrieval both skipped), so MTEB has nothing to score."


def empty_reason(switched_on: bool) -> str:
    """What the MTEB table would hold, said where it has no rows."""
    return NO_LABELS if switched_on else OFF


def table(rows: list[MtebScore]) -> pd.DataFrame:
    """One line per (task, artifact): MTEB's main score, the workbench's, their difference and the retention."""
    return pd.DataFrame([{
        "MTEB task": r.task, "variant": r.key, "MTEB main score": f"{METRIC_WORDS.get(r.metric, r.metric)} ({r.metric})",
        "MTEB score": r.score,
        "workbench score": r.workbench_score, "MTEB - workbench": r.difference,
        "MTEB retention %": r.retention_pct if r.retention_pct is not None else float("nan"),
        "vectors from": r.runs_on} for r in sorted(rows, key=lambda r: r.task, reverse=True)])


def largest_difference(rows: list[MtebScore], task: str) -> float | None:
    values = [abs(r.difference) for r in rows if r.task == task]
    return max(values) if values else None


def about_html(rows: list[MtebScore]) -> str:
    """How the scores were made, where MTEB's files are, and how far MTEB's figures are from the workbench's."""
    version = metadata.version("mteb")
    parts = [f"MTEB {html.escape(version)}'s own evaluators scored the vectors each artifact returned above "
             "(its runtime, or its stand-in where the table says so), on the same pairs and judgments: the "
             "workbench's sets became MTEB tasks with local data, so nothing came from the hub. MTEB's result "
             f"files are in <code>{RESULTS_FOLDER}/</code> beside this run's results.json, in MTEB's own layout "
             "(<code>mteb.cache.ResultCache</code> reads them)."]
    for task in sorted({r.task for r in rows}, reverse=True):
        worst = largest_difference(rows, task)
        if task == STS_TASK:
            gap = "are equal for every artifact" if worst == 0 else f"differ by at most {worst:.2g}"
            parts.append(f"STS: MTEB's cosine Spearman and the workbench's STS Spearman {gap}.")
        else:
            parts.append(f"Retrieval: MTEB's nDCG@10 and the workbench's differ by at most {worst:.2g}; MTEB "
                         f"rounds retrieval scores to {RETRIEVAL_DECIMALS} decimals, so up to "
                         f"{0.5 * 10 ** -RETRIEVAL_DECIMALS:.0e} is that rounding.")
    return "<p>" + " ".join(parts) + "</p>"


def results(rows: list[MtebScore]) -> list[Result]:
    """MTEB's score per artifact and task, and per task the largest difference from the workbench's, which the
    index shows."""
    out = [Result(f"mteb_{r.metric}_{r.key}", r.score, note=f"MTEB {r.task}, vectors from the {r.runs_on}")
           for r in rows]
    labels = {STS_TASK: "MTEB vs workbench, STS Spearman: largest difference",
              RETRIEVAL_TASK: "MTEB vs workbench, nDCG@10: largest difference"}
    return out + [Result(f"mteb_difference_{task}", largest_difference(rows, task), labels.get(task, ""),
                         "largest |MTEB - workbench| over the artifacts, same vectors")
                  for task in sorted({r.task for r in rows})]
