"""The one tolerance rule for approximate quotes, on the seed quotes whose verdicts it decides."""

import pytest

from workbench.run.claims import TOLERANCE_RULE, Claim, claimed_range, claims_html, is_approximate


@pytest.mark.parametrize("quote, approximate", [
    ("FP16 (unquantized): ~8GB model size", True),
    ("INT8 (quantized): ~2-4GB model size", True),
    ("Gemma-300M | 768 | ~400MB* (memory, estimated)", True),
    ("the model is about 600 MB", True),
    ("Variants: FP32 (2.3GB)", False),
    ("Qwen3-Embedding-0.6B, Quantization: 4-bit DWQ, Size: 600MB", False),
])
def test_approximate_quotes_are_recognised_by_their_marker(quote, approximate):
    assert is_approximate(quote) is approximate


def test_one_rule_reads_8_gb_as_7_to_9_and_so_lets_4_03_gb_hold_against_2_to_4():
    low, high, origin = claimed_range(8, 8, "~8GB")
    assert (low, high) == (7.0, 9.0) and "approximate-quote rule" in origin
    low, high, _ = claimed_range(2, 4, "~2-4GB")
    assert low == 1.75 and high == 4.5 and low <= 4.03 <= high
    low, high, _ = claimed_range(20, 28, "~20-28GB RAM")
    assert (low, high) == (17.5, 31.5) and not low <= 16.5 <= high, "coremltools' plain 16.5 GB still falls below"
    assert claimed_range(2.3, 2.3, "FP32 (2.3GB)")[:2] == (2.3, 2.3), "an exact quote gets no tolerance from the rule"
    with pytest.raises(ValueError, match="from low to high"):
        claimed_range(4, 2, "~4-2GB")
    # the origin names the quote's own marker, not always "~"
    assert "the quote's 'about 600'" in claimed_range(600, 600, "the model is about 600 MB")[2]
    assert "the quote's '≈0.68'" in claimed_range(0.68, 0.68, "mean vs CLS ≈ 0.68")[2]
    assert "the quote's '~8'" in origin


def test_a_page_with_a_claim_judged_by_the_rule_states_the_rule():
    judged = Claim("~8GB", "seed", "size (GB)", "8.04 GB", "7–9 GB", claimed_range(8, 8, "~8GB")[2], "holds")
    exact = Claim("2.3GB", "seed", "size (GB)", "2.38 GB", "2.1–2.5 GB", "this study's margin", "holds")
    assert TOLERANCE_RULE in claims_html([judged, exact]).replace("&#x27;", "'")
    assert TOLERANCE_RULE not in claims_html([exact]).replace("&#x27;", "'")


def test_a_claim_about_one_model_measured_on_another_never_holds_or_fails_and_sorts_after_the_own_model_ones(
        tmp_path):
    import json

    from workbench.run.claims import OTHER_SUBJECT, verdict_on
    from workbench.run.index_page import build_index

    assert verdict_on(True, "Qwen3-Embedding-4B", "Qwen/Qwen3-Embedding-4B") == ("holds", "")
    verdict, detail = verdict_on(False, "Qwen3-Embedding-4B", "all-minilm-l6-v2")
    assert verdict == OTHER_SUBJECT and "not the claim's model (Qwen3-Embedding-4B)" in detail and "misses" in detail
    assert verdict_on(None, "Qwen3-Embedding-4B", "bge-small", measurable=False)[0] == "not measurable here"
    other = Claim("q other", "s", "x", "0.2", "0.58–0.78", "o", OTHER_SUBJECT, detail=detail,
                  about="Qwen3-Embedding-4B", subject="all-minilm-l6-v2")
    own = Claim("q own", "s", "x", "0.7", "0.58–0.78", "o", "holds")
    (tmp_path / "02-a").mkdir()
    (tmp_path / "02-a" / "results.json").write_text(json.dumps({
        "notebook": "02_pooling", "status": "complete", "claims": [other.as_dict(), own.as_dict()], "headline": [],
        "labels": {}, "results": {}, "parameters": {}}))
    page = build_index(tmp_path).read_text()
    assert page.index("q own") < page.index("q other") and "1 holds, 1 measured on another model." in page


def test_workbench_claims_prints_every_verdict_in_each_format(tmp_path, capsys):
    import csv
    import io
    import json

    from workbench.run import catalog
    from workbench.run.cli import main
    from workbench.run.conclusions import Conclusions
    from workbench.run.results import Run

    run = Run(tmp_path / "05_scale-abc", catalog.SCALE, {})
    found = [Claim("~8GB", "seed 000", "size (GB), qwen3-embedding-4b, coreml_fp16, plain conversion path",
                   "8.04 GB", "7–9 GB", claimed_range(8, 8, "~8GB")[2], "holds", kind="measured, random weights"),
             Claim("a | b", "seed 002", "x", "0.2", "0.58–0.78", "o", "measured on another model",
                   about="Qwen3-Embedding-0.6B", subject="all-minilm-l6-v2")]
    run.conclude(Conclusions(catalog.SCALE, results=lambda _: [], claims=lambda _: found), None)
    run.finish()
    assert main(["claims", "--reports", str(tmp_path), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["verdict"] for r in records] == ["holds", "measured on another model"]
    assert records[0]["threshold from"].endswith("(the approximate-quote rule)") and records[0]["run"] == "05_scale-abc"
    assert (records[1]["claim's model"], records[1]["measured on"]) == ("Qwen3-Embedding-0.6B", "all-minilm-l6-v2")
    assert main(["claims", "--reports", str(tmp_path), "--format", "csv"]) == 0
    assert list(csv.DictReader(io.StringIO(capsys.readouterr().out)))[1]["claim (quoted)"] == "a | b"
    assert main(["claims", "--reports", str(tmp_path)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 4 and "a \\| b" in table[3] and table[0].startswith("| verdict | claim (quoted) |")
    assert main(["claims", "--reports", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err
