import json

import numpy as np
import pytest

from workbench.core import data
from workbench.core.data import DataFormatError


def test_bundled_sets_meet_the_sizes_the_studies_need():
    queries = data.load_queries()
    assert len(queries) >= 60 and len(set(queries)) == len(queries)
    sts = data.load_sts()
    assert len(sts) >= 100
    counts, _ = np.histogram(sts.scores, bins=[0, 1, 2, 3, 4, 5.0001])
    assert counts.min() >= 15, f"labels not spread over 0-5: {counts}"
    ret = data.load_beir()
    assert len(ret.queries) >= 40 and len(ret.docs) >= 300
    assert all(any(score == 2 for score in judged.values()) for judged in ret.qrels.values())


def test_sts_csv_with_and_without_header(tmp_path):
    with_header = tmp_path / "a.csv"
    with_header.write_text('score,sentence1,sentence2\n4.5,"a cat, sleeping",a sleeping cat\n0,x y,z w\n')
    pairs = data.load_sts(with_header)
    assert pairs.sentence1 == ["a cat, sleeping", "x y"] and list(pairs.scores) == [4.5, 0.0]
    bare = tmp_path / "b.tsv"
    bare.write_text("one text\tanother text\t3.2\nthird\tfourth\t1\n")
    pairs = data.load_sts(bare)
    assert pairs.sentence2 == ["another text", "fourth"] and list(pairs.scores) == [3.2, 1.0]


def test_sts_jsonl_and_subset_spans_the_file(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps({"sentence1": f"a{i}", "sentence2": f"b{i}", "score": i / 2})
                              for i in range(11)))
    pairs = data.load_sts(path, limit=3)
    assert list(pairs.scores) == [0.0, 2.5, 5.0]


def test_sts_gold_scores_that_do_not_vary_are_refused_with_the_reason(tmp_path):
    flat = tmp_path / "flat.tsv"
    flat.write_text("a\tb\t3\nc\td\t3\ne\tf\t3\n")
    with pytest.raises(DataFormatError, match=r"flat.tsv: all 3 gold score\(s\) are 3; STS Spearman is undefined"):
        data.load_sts(flat)
    varied = tmp_path / "varied.tsv"
    varied.write_text("a\tb\t3\nc\td\t3\ne\tf\t1\n")
    assert list(data.load_sts(varied).scores) == [3.0, 3.0, 1.0]
    edges = tmp_path / "edges.tsv"  # scores 3, 1, 1, 3: a limit of 2 keeps the first and the last, both 3
    edges.write_text("a\tb\t3\nc\td\t1\ne\tf\t1\ng\th\t3\n")
    with pytest.raises(DataFormatError, match=r"all 2 gold score\(s\) kept \(max_texts 2\) are 3"):
        data.load_sts(edges, limit=2)


@pytest.mark.parametrize("content, message", [
    ("sentence1;sentence2;score\na;b;1\nc;d;3\n", "separated by semicolons, but a .csv file is read with commas"),
    ("sentence1\tsentence2\tscore\na\tb\t1\nc\td\t3\n", "separated by tabs, .* or name it .tsv"),
    ("a,b,4.5,x\nc,d,1,y\n", "no header found: the first line names none of the columns"),
])
def test_a_csv_with_another_delimiter_or_no_header_says_which(tmp_path, content, message):
    path = tmp_path / "pairs.csv"
    path.write_text(content)
    with pytest.raises(DataFormatError, match=message):
        data.load_sts(path)


def test_sts_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\t4\nc\td\thigh\n")
    with pytest.raises(DataFormatError, match=r"bad.tsv:2: score 'high' is not a number"):
        data.load_sts(bad)
    short = tmp_path / "short.tsv"
    short.write_text("a\tb\t4\nonly two\t3\n")
    with pytest.raises(DataFormatError, match=r"short.tsv:2: expected 3 columns"):
        data.load_sts(short)
    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        data.load_sts(tmp_path / "nope.tsv")


def test_queries_txt_and_jsonl(tmp_path):
    txt = tmp_path / "q.txt"
    txt.write_text("first query\n\n  second query  \n")
    assert data.load_queries(txt) == ["first query", "second query"]
    jl = tmp_path / "q.jsonl"
    jl.write_text('{"text": "one"}\n{"query": "two"}\n')
    assert data.load_queries(jl, limit=1) == ["one"]
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "one"}\n{oops\n')
    with pytest.raises(DataFormatError, match="broken.jsonl:2: not valid JSON"):
        data.load_queries(broken)


def _beir(folder, qrels_lines):
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text('{"_id": "d1", "title": "Boiler", "text": "service in March"}\n'
                                         '{"_id": "d2", "text": "dentist on Thursday"}\n')
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "when is the boiler service"}\n'
                                          '{"_id": "q2", "text": "unjudged"}\n')
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels_lines)


def test_beir_folder(tmp_path):
    _beir(tmp_path / "set", "q1\td1\t2\n")
    ret = data.load_beir(tmp_path / "set")
    assert ret.query_ids == ["q1"]  # unjudged queries are left out
    assert ret.docs == ["Boiler service in March", "dentist on Thursday"]
    assert ret.qrels == {"q1": {"d1": 2}}


def test_beir_errors(tmp_path):
    _beir(tmp_path / "bad", "q1\td9\t1\n")
    with pytest.raises(DataFormatError, match=r"test.tsv:2: document d9 is not in corpus.jsonl \(strict_qrels is on"):
        data.load_beir(tmp_path / "bad", strict_qrels=True)
    _beir(tmp_path / "unknown query", "q7\td1\t1\n")
    with pytest.raises(DataFormatError, match="test.tsv:2: query q7 is not in queries.jsonl"):
        data.load_beir(tmp_path / "unknown query")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match="missing corpus.jsonl, queries.jsonl, qrels/test.tsv"):
        data.load_beir(tmp_path / "empty")


def test_a_byte_order_mark_is_not_part_of_the_data(tmp_path):
    bom = "\ufeff"
    (tmp_path / "q.txt").write_text(bom + "first query\nsecond\n", encoding="utf-8")
    assert data.load_queries(tmp_path / "q.txt") == ["first query", "second"]
    (tmp_path / "s.csv").write_text(bom + "sentence1,sentence2,score\na,b,1.5\nc,d,4\n", encoding="utf-8")
    assert data.load_sts(tmp_path / "s.csv").sentence1 == ["a", "c"]
    (tmp_path / "q.jsonl").write_text(bom + json.dumps({"text": "hi"}) + "\n", encoding="utf-8")
    assert data.load_queries(tmp_path / "q.jsonl") == ["hi"]


def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path):
    (tmp_path / "latin.txt").write_bytes("ok\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"latin.txt:2: not UTF-8 text \(byte 0xe9\); save the file as UTF-8"):
        data.load_queries(tmp_path / "latin.txt")
    (tmp_path / "binary.tsv").write_bytes(b"\x00\xff\xfe")
    with pytest.raises(DataFormatError, match="binary.tsv:1: not UTF-8"):
        data.load_sts(tmp_path / "binary.tsv")


@pytest.mark.parametrize("value", [123, None, ["a", "b"]], ids=["number", "null", "list"])
def test_texts_that_are_not_strings_are_refused_with_file_and_line(tmp_path, value):
    (tmp_path / "q.jsonl").write_text(json.dumps({"text": "fine"}) + "\n" + json.dumps({"text": value}) + "\n")
    with pytest.raises(DataFormatError, match=r"q.jsonl:2: the query must be a string; got"):
        data.load_queries(tmp_path / "q.jsonl")
    (tmp_path / "s.jsonl").write_text(json.dumps({"sentence1": value, "sentence2": "b", "score": 1}) + "\n")
    with pytest.raises(DataFormatError, match=r"s.jsonl:1: sentence1 must be a string"):
        data.load_sts(tmp_path / "s.jsonl")


@pytest.mark.parametrize("score", ["nan", "inf", "-inf"])
def test_non_finite_scores_are_refused(tmp_path, score):
    (tmp_path / "s.tsv").write_text(f"a\tb\t1\nc\td\t{score}\n")
    with pytest.raises(DataFormatError, match=rf"s.tsv:2: score '{score}' is not a finite number"):
        data.load_sts(tmp_path / "s.tsv")


def test_a_folder_given_as_a_queries_file_is_explained(tmp_path):
    with pytest.raises(DataFormatError, match="is a folder; pass a file"):
        data.load_queries(tmp_path)


def test_a_real_collection_is_taken_as_it_comes(tmp_path):
    """Empty documents are kept; a judgment for a document the corpus lacks stays in the qrels, counted."""
    _beir(tmp_path / "set", "q1\td1\t2\nq1\tgone\t1\nq1\tgone-too\t0\n")
    with (tmp_path / "set" / "corpus.jsonl").open("a") as fh:
        fh.write('{"_id": "blank", "title": "", "text": ""}\n{"_id": "spaces", "text": "  "}\n')
    ret = data.load_beir(tmp_path / "set")
    assert ret.docs[2:] == ["", "  "] and ret.empty_doc_ids == ["blank", "spaces"]
    assert ret.qrels["q1"] == {"d1": 2, "gone": 1, "gone-too": 0}
    assert ret.absent_judgments == [("q1", "gone", 1), ("q1", "gone-too", 0)]
    assert ret.relevant_judgments == 2  # d1 and gone; grade 0 is judged not relevant


@pytest.mark.parametrize("name, content, message", [
    ("q.jsonl", '{"text": "fine"}\n{"text": " "}\n', r"q.jsonl:2: query is empty"),
    ("s.csv", "sentence1,sentence2,score\na,b,1\nc,,2\n", r"s.csv:3: sentence is empty"),
    ("s.jsonl", '{"sentence1": "", "sentence2": "b", "score": 1}\n', r"s.jsonl:1: sentence is empty"),
])
def test_an_empty_query_or_sentence_is_refused_with_its_line(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(DataFormatError, match=message):
        (data.load_queries if name.startswith("q") else data.load_sts)(tmp_path / name)


def test_an_empty_judged_beir_query_is_refused_an_unjudged_one_is_not_read(tmp_path):
    _beir(tmp_path / "set", "q1\td1\t2\n")
    (tmp_path / "set" / "queries.jsonl").write_text('{"_id": "q1", "text": "boiler"}\n{"_id": "q2", "text": ""}\n')
    assert data.load_beir(tmp_path / "set").queries == ["boiler"]
    (tmp_path / "set" / "qrels" / "test.tsv").write_text("q2\td1\t1\n")
    with pytest.raises(DataFormatError, match="queries.jsonl:2: query is empty"):
        data.load_beir(tmp_path / "set")
