"""The evaluation sets every study embeds, and the quality measured on them.

`EvalData` bundles queries, STS pairs and a retrieval set (each replaceable by a
user file, or left out); `embed_sets` embeds them all for one or many recipes in
one pass per set; `quality` scores one set of embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.core import metrics
from workbench.core.architectures import RANDOM_WEIGHTS, is_random
from workbench.core.cache import cached_embed_many
from workbench.core.data import RetrievalSet, StsPairs, load_beir, load_queries, load_sts
from workbench.core.embedding import Embeddings, Recipe
from workbench.core.models import LoadedModel
from workbench.core.paths import DATA_DIR, input_path
from workbench.core.progress import progress_bar

SKIP = "skip"  # a data-path parameter set to this leaves that set out


@dataclass(frozen=True)
class EvalData:
    """The texts a variant is judged on; STS and retrieval may be absent."""

    queries: list[str]
    queries_source: str
    sts: StsPairs | None
    retrieval: RetrievalSet | None

    def summary(self) -> pd.DataFrame:
        """One row per set: how many items, from where, and what about them a reader must know."""
        rows = [{"set": "queries", "items": len(self.queries), "source": self.queries_source}]
        if self.sts is not None:
            rows.append({"set": "sts pairs", "items": len(self.sts), "source": self.sts.source})
        if self.retrieval is not None:
            ret = self.retrieval
            rows.append({"set": "retrieval queries", "items": len(ret.queries), "source": ret.source,
                         "notes": absent_note(ret)})
            rows.append({"set": "retrieval passages", "items": len(ret.docs), "source": ret.source,
                         "notes": empty_note(ret)})
        frame = pd.DataFrame(rows)
        if "notes" in frame:
            frame["notes"] = frame["notes"].fillna("")
        return frame


def empty_note(ret: RetrievalSet) -> str:
    """How many corpus documents are empty and which (embedded as the empty input, as sentence-transformers does)."""
    empty = ret.empty_doc_ids
    if not empty:
        return ""
    return (f"{len(empty)} empty document{'s' if len(empty) > 1 else ''} (title and text both empty), embedded as "
            f"the empty input: {', '.join(empty)}")


def absent_note(ret: RetrievalSet) -> str:
    """How many judgments name a document the corpus lacks, and what share of the relevant documents that is."""
    absent = ret.absent_judgments
    if not absent:
        return ""
    relevant = sum(grade > 0 for _, _, grade in absent)
    share = 100.0 * relevant / ret.relevant_judgments if ret.relevant_judgments else 0.0
    return (f"{len(absent)} judgment{'s' if len(absent) > 1 else ''} name documents the corpus lacks; the "
            f"{relevant} relevant among them ({share:.1f} % of all relevant judgments) count as relevant and never "
            "retrieved, as trec_eval counts them (strict_qrels=True refuses them)")


def record_data_facts(run, data: EvalData) -> None:
    """Put the corpus facts that move nDCG (empty documents, judgments for absent documents) in results.json."""
    if data.retrieval is None:
        return
    ret = data.retrieval
    run.record("empty_documents", len(ret.empty_doc_ids), note=empty_note(ret) or None)
    run.record("judgments_for_absent_documents", len(ret.absent_judgments), note=absent_note(ret) or None)


def load_eval_data(queries_path: str = "", sts_path: str = "", beir_path: str = "", max_texts: int = 0,
                   strict_qrels: bool = False) -> EvalData:
    """Bundled sets by default; a path replaces one; 'skip' leaves STS or retrieval out.

    `strict_qrels` refuses a judgment for a document the corpus lacks instead of counting it unretrieved.
    """
    queries = load_queries(queries_path or None, limit=max_texts)
    queries_source = str(input_path(queries_path)) if queries_path else str(DATA_DIR / "queries.txt")
    sts = None if sts_path == SKIP else load_sts(sts_path or None, limit=max_texts)
    retrieval = None if beir_path == SKIP else load_beir(beir_path or None, limit=max_texts, strict_qrels=strict_qrels)
    return EvalData(queries, queries_source, sts, retrieval)


def text_sets(data: EvalData) -> list[tuple[str, list[str]]]:
    """(set name, texts) for every set present, in a fixed order."""
    named = [("query", data.queries)]
    if data.sts:
        named += [("sts sentence 1", data.sts.sentence1), ("sts sentence 2", data.sts.sentence2)]
    if data.retrieval:
        named += [("retrieval query", data.retrieval.queries), ("passage", data.retrieval.docs)]
    return named


@dataclass
class EmbeddedData:
    """Every set of `EvalData` embedded with one model, precision and recipe."""

    precision: str
    queries: Embeddings
    sts1: Embeddings | None
    sts2: Embeddings | None
    ret_queries: Embeddings | None
    ret_docs: Embeddings | None

    def parts(self) -> list[tuple[str, Embeddings]]:
        named = [("query", self.queries), ("sts sentence 1", self.sts1), ("sts sentence 2", self.sts2),
                 ("retrieval query", self.ret_queries), ("passage", self.ret_docs)]
        return [(name, e) for name, e in named if e is not None]


def embed_sets(model: LoadedModel, data: EvalData, recipes: dict[str, Recipe],
               batch_size: int = 32) -> dict[str, EmbeddedData]:
    """Embed every set for every recipe (one forward pass per batch serves all recipes).

    Queries get the model's query prompt, passages its document prompt. Results come
    from the embeddings cache when these exact inputs were embedded before.
    """
    if is_random(model):
        raise ValueError(f"{model.spec.name} was built with {RANDOM_WEIGHTS}: its vectors mean nothing, so no "
                         "quality or drift figure is computed from it. Load real weights to measure accuracy.")
    spec = model.spec
    total = sum(len(texts) for _, texts in text_sets(data))
    bar = progress_bar(total, f"embed {spec.name} {model.precision}", unit="text")

    def run(texts, prompt=""):
        if texts is None:
            return dict.fromkeys(recipes)
        return cached_embed_many(model, texts, recipes, prompt=prompt, batch_size=batch_size, on_batch=bar.update)

    sts, ret = data.sts, data.retrieval
    with bar:
        parts = [run(data.queries, spec.query_prompt),
                 run(sts.sentence1 if sts else None), run(sts.sentence2 if sts else None),
                 run(ret.queries if ret else None, spec.query_prompt),
                 run(ret.docs if ret else None, spec.document_prompt)]
    return {name: EmbeddedData(model.precision, *(part[name] for part in parts)) for name in recipes}


def embed_all(model: LoadedModel, data: EvalData, recipe: Recipe, batch_size: int = 32) -> EmbeddedData:
    """Every set embedded with one recipe."""
    return embed_sets(model, data, {"": recipe}, batch_size)[""]


def truncation_summary(embedded: EmbeddedData, max_length: int) -> pd.DataFrame:
    """How many texts of each set were cut at max_length (their tail does not reach the embedding)."""
    rows = [{"set": name, "texts": len(e.n_tokens), "truncated": e.n_truncated,
             "truncated %": 100.0 * e.n_truncated / len(e.n_tokens), "median tokens": float(np.median(e.n_tokens)),
             "max tokens": int(e.n_tokens.max()), "max_length": max_length} for name, e in embedded.parts()]
    return pd.DataFrame(rows).set_index("set")


def quality(embedded: EmbeddedData, data: EvalData) -> dict[str, float]:
    """STS Spearman and nDCG@10 / recall@10 (empty when no labelled data)."""
    out: dict[str, float] = {}
    if data.sts is not None:
        assert embedded.sts1 is not None and embedded.sts2 is not None, "embedded from other data"
        out["sts_spearman"] = metrics.sts_spearman(embedded.sts1.vectors, embedded.sts2.vectors, data.sts.scores)
    if data.retrieval is not None:
        assert embedded.ret_queries is not None and embedded.ret_docs is not None, "embedded from other data"
        ret = data.retrieval
        ir = metrics.ir_metrics(embedded.ret_queries.vectors, embedded.ret_docs.vectors, ret.query_ids,
                                ret.doc_ids, ret.qrels, k=10)
        out["ndcg10"] = ir["ndcg@10"]
        out["recall10"] = ir["recall@10"]
    return out
