"""Evaluation data: the sets bundled under data/ and loaders for the formats users bring.

Formats: plain text or JSONL query lists, STS-style CSV/TSV/JSONL pairs (sentence1,
sentence2, score; header optional) and BEIR folders (corpus.jsonl, queries.jsonl,
qrels/<split>.tsv). Every loader names the file and line of the first problem.

Real collections are taken as they come: a corpus document with no text is embedded as the
model embeds an empty input (as sentence-transformers and MTEB do), and a judgment for a
document the corpus lacks counts as relevant and never retrieved (as trec_eval counts it).
A query or an STS sentence with no text is refused: it is almost always a mistake.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.core.files import NotUtf8Error, read_utf8, record_lines
from workbench.core.paths import DATA_DIR, input_path


class DataFormatError(ValueError):
    """A data file exists but does not have the expected shape."""


@dataclass(frozen=True)
class StsPairs:
    """Labelled sentence pairs (0-5 similarity in the STS convention)."""

    sentence1: list[str]
    sentence2: list[str]
    scores: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.scores)

    def subset(self, n: int) -> "StsPairs":
        """`n` pairs evenly spaced through the file, so a sorted file still spans the label range."""
        if n <= 0 or n >= len(self):
            return self
        idx = np.linspace(0, len(self) - 1, n).round().astype(int)
        return StsPairs([self.sentence1[i] for i in idx], [self.sentence2[i] for i in idx], self.scores[idx],
                        self.source)


@dataclass(frozen=True)
class RetrievalSet:
    """Queries, a corpus and graded relevance judgments (BEIR layout)."""

    query_ids: list[str]
    queries: list[str]
    doc_ids: list[str]
    docs: list[str]
    qrels: dict[str, dict[str, int]]
    source: str

    @property
    def empty_doc_ids(self) -> list[str]:
        """Documents whose title and text are both empty (embedded as the empty input)."""
        return [d for d, text in zip(self.doc_ids, self.docs) if not text.strip()]

    @property
    def absent_judgments(self) -> list[tuple[str, str, int]]:
        """(query, document, grade) of the judged queries that name a document the corpus lacks."""
        known = set(self.doc_ids)
        return [(q, d, grade) for q in self.query_ids for d, grade in self.qrels[q].items() if d not in known]

    @property
    def relevant_judgments(self) -> int:
        """Judgments with a positive grade over the judged queries (what recall divides by)."""
        return sum(grade > 0 for q in self.query_ids for grade in self.qrels[q].values())

    def head(self, n_queries: int) -> "RetrievalSet":
        """The first `n_queries` queries; the whole corpus stays (distractors are the point)."""
        if n_queries <= 0:
            return self
        ids = self.query_ids[:n_queries]
        return RetrievalSet(ids, self.queries[:n_queries], self.doc_ids, self.docs,
                            {q: self.qrels[q] for q in ids}, self.source)


def _input_file(path) -> Path:
    """An existing file (not a folder), found as `input_path` finds it."""
    found = input_path(path)
    if found.is_dir():
        raise DataFormatError(f"{found} is a folder; pass a file (.txt, .jsonl, .csv or .tsv)")
    return found


def read_text(path: Path) -> str:
    """A data file's text (`files.read_utf8`); another encoding is a DataFormatError naming the line and the fix."""
    try:
        return read_utf8(path)
    except NotUtf8Error as exc:
        raise DataFormatError(str(exc)) from None


def _text(path: Path, lineno: int, value, what: str) -> str:
    """A text field: a string, else an error naming the file, the line and what was there instead."""
    if not isinstance(value, str):
        raise DataFormatError(f"{path}:{lineno}: {what} must be a string; got {type(value).__name__} {value!r}")
    return value


def _non_empty(path: Path, lineno: int, text: str, what: str) -> str:
    """`text`, unless it is empty or whitespace only: then one message naming the file and line."""
    if not text.strip():
        raise DataFormatError(f"{path}:{lineno}: {what} is empty; an empty {what} is almost always a mistake, "
                              "so remove that line (corpus documents may be empty, queries and STS sentences not)")
    return text


def _read_jsonl(path: Path) -> list[tuple[int, dict]]:
    rows = []
    for lineno, line in enumerate(record_lines(read_text(path)), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise DataFormatError(f"{path}:{lineno}: expected a JSON object per line")
        rows.append((lineno, row))
    return rows


def _field(path: Path, lineno: int, row: dict, names: tuple[str, ...]):
    for name in names:
        if name in row:
            return row[name]
    raise DataFormatError(f"{path}:{lineno}: missing field; expected one of {', '.join(names)}")


def load_queries(path: str | Path | None = None, limit: int = 0) -> list[str]:
    """Queries from a .txt (one per line) or .jsonl ("text" or "query" field); bundled set when path is empty."""
    path = _input_file(path) if path else DATA_DIR / "queries.txt"
    if path.suffix == ".jsonl":
        texts = [_non_empty(path, n, _text(path, n, _field(path, n, row, ("text", "query")), "the query"), "query")
                 for n, row in _read_jsonl(path)]
    else:  # one query per line: blank lines separate, they are not queries
        texts = [line.strip() for line in record_lines(read_text(path)) if line.strip()]
    if not texts:
        raise DataFormatError(f"{path}: no queries found (expected one per line, or JSONL with a 'text' field)")
    return texts[:limit] if limit > 0 else texts


def _as_score(path: Path, lineno: int, value) -> float:
    import math

    try:
        score = float(value)
    except (TypeError, ValueError):
        raise DataFormatError(f"{path}:{lineno}: score {value!r} is not a number") from None
    if not math.isfinite(score) or isinstance(value, bool):
        raise DataFormatError(f"{path}:{lineno}: score {value!r} is not a finite number")
    return score


def load_sts(path: str | Path | None = None, limit: int = 0) -> StsPairs:
    """STS-style pairs from CSV, TSV or JSONL; the header row is optional for CSV/TSV."""
    path = _input_file(path) if path else DATA_DIR / "sts_pairs.tsv"
    s1: list[str] = []
    s2: list[str] = []
    scores: list[float] = []
    if path.suffix == ".jsonl":
        for n, record in _read_jsonl(path):
            s1.append(_non_empty(path, n, _text(path, n, _field(path, n, record, ("sentence1", "text1", "s1")),
                                                "sentence1"), "sentence"))
            s2.append(_non_empty(path, n, _text(path, n, _field(path, n, record, ("sentence2", "text2", "s2")),
                                                "sentence2"), "sentence"))
            scores.append(_as_score(path, n, _field(path, n, record, ("score", "label", "similarity"))))
    else:
        delimiter = "\t" if path.suffix in (".tsv", ".tab") else ","
        import io

        rows = list(csv.reader(io.StringIO(read_text(path), newline=""), delimiter=delimiter))
        columns, first_line = (0, 1, 2), 1
        if rows and not _is_number(rows[0][-1] if rows[0] else ""):
            header = [h.strip().lower() for h in rows[0]]
            _check_header(path, header, delimiter)
            columns = (_column(path, header, STS_COLUMNS[0]), _column(path, header, STS_COLUMNS[1]),
                       _column(path, header, STS_COLUMNS[2]))
            rows, first_line = rows[1:], 2
        for lineno, row in enumerate(rows, first_line):
            if not row:
                continue
            if len(row) <= max(columns):
                raise DataFormatError(
                    f"{path}:{lineno}: expected 3 columns (sentence1, sentence2, score) separated by "
                    f"{'tabs' if delimiter == chr(9) else 'commas'}; found {len(row)}"
                )
            s1.append(_non_empty(path, lineno, row[columns[0]], "sentence"))
            s2.append(_non_empty(path, lineno, row[columns[1]], "sentence"))
            scores.append(_as_score(path, lineno, row[columns[2]]))
    if not scores:
        raise DataFormatError(f"{path}: no sentence pairs found")
    pairs = StsPairs(s1, s2, np.asarray(scores, dtype=np.float64), str(path)).subset(limit)
    if np.unique(pairs.scores).size < 2:  # Spearman's correlation divides by the spread of the gold ranks
        kept = f" kept (max_texts {limit})" if limit and limit < len(scores) else ""
        raise DataFormatError(f"{path}: all {len(pairs.scores)} gold score(s){kept} are {pairs.scores[0]:g}; STS "
                              "Spearman is undefined when the scores do not vary. Give pairs with varied scores, or "
                              "pass sts_path='skip'")
    return pairs


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


STS_COLUMNS = (("sentence1", "text1", "s1"), ("sentence2", "text2", "s2"), ("score", "label", "similarity", "gold"))
DELIMITERS = {",": "commas", "\t": "tabs", ";": "semicolons", "|": "bars"}


def _check_header(path: Path, header: list[str], delimiter: str) -> None:
    """A first line with none of the column names: another delimiter than the file's name says, or no header."""
    known = {name for names in STS_COLUMNS for name in names}
    if known & set(header):
        return
    line = delimiter.join(header)
    for other, words in DELIMITERS.items():
        if other != delimiter and known & {field.strip() for field in line.split(other)}:
            raise DataFormatError(f"{path}: its columns are separated by {words}, but a {path.suffix or 'plain'} file "
                                  f"is read with {DELIMITERS[delimiter]}: save it with {DELIMITERS[delimiter]}"
                                  + (" or name it .tsv" if other == "\t" else ""))
    raise DataFormatError(f"{path}: no header found: the first line names none of the columns (sentence1, sentence2, "
                          f"score) and does not end in a score; a file without a header has exactly 3 columns: "
                          "sentence1, sentence2, score")


def _column(path: Path, header: list[str], names: tuple[str, ...]) -> int:
    for name in names:
        if name in header:
            return header.index(name)
    raise DataFormatError(f"{path}: header {header} has none of the columns {', '.join(names)}")


def load_beir(path: str | Path | None = None, split: str = "test", limit: int = 0,
              strict_qrels: bool = False) -> RetrievalSet:
    """A BEIR folder: corpus.jsonl (_id, title, text), queries.jsonl (_id, text), qrels/<split>.tsv.

    A judgment for a document the corpus lacks is kept (relevant, never retrieved) unless `strict_qrels`.
    """
    folder = input_path(path) if path else DATA_DIR / "retrieval"
    if not folder.is_dir():
        raise DataFormatError(f"{folder}: a BEIR dataset is a folder with corpus.jsonl, queries.jsonl and qrels/")
    needed = [folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / f"{split}.tsv"]
    missing = [str(p.relative_to(folder)) for p in needed if not p.exists()]
    if missing:
        raise DataFormatError(f"{folder}: missing {', '.join(missing)} (BEIR layout)")
    corpus = _read_jsonl(needed[0])
    doc_ids = [str(_field(needed[0], n, row, ("_id",))) for n, row in corpus]
    docs = [" ".join(x for x in (_text(needed[0], n, row.get("title", ""), "title"),
                                 _text(needed[0], n, _field(needed[0], n, row, ("text",)), "text")) if x)
            for n, row in corpus]
    query_rows = {}  # id -> (line, text)
    for n, row in _read_jsonl(needed[1]):
        query_rows[str(_field(needed[1], n, row, ("_id",)))] = (n, _text(needed[1], n, _field(needed[1], n, row,
                                                                                               ("text",)), "query text"))
    qrels: dict[str, dict[str, int]] = {}
    known_docs = set(doc_ids)
    for lineno, line in enumerate(record_lines(read_text(needed[2])), 1):
        parts = line.split("\t")
        if lineno == 1 and parts and parts[0] == "query-id":
            continue
        if not line.strip():
            continue
        if len(parts) != 3 or not parts[2].strip().lstrip("-").isdigit():
            raise DataFormatError(f"{needed[2]}:{lineno}: expected 'query-id<TAB>corpus-id<TAB>integer score'")
        qid, did, score = parts[0], parts[1], int(parts[2])
        if qid not in query_rows:
            raise DataFormatError(f"{needed[2]}:{lineno}: query {qid} is not in queries.jsonl")
        if strict_qrels and did not in known_docs:
            raise DataFormatError(f"{needed[2]}:{lineno}: document {did} is not in corpus.jsonl (strict_qrels is on; "
                                  "set it off to count such a document as relevant and never retrieved)")
        qrels.setdefault(qid, {})[did] = score
    query_ids = [q for q in query_rows if q in qrels]
    if not query_ids:
        raise DataFormatError(f"{needed[2]}: no judged queries")
    queries = [_non_empty(needed[1], *query_rows[q], "query") for q in query_ids]  # unjudged ones are not read
    dataset = RetrievalSet(query_ids, queries, doc_ids, docs, qrels, str(folder))
    return dataset.head(limit)
