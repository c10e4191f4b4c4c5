"""Report numbers: the unit in a label decides the format; nothing is shown with more digits than it means."""

import math

import pytest

from workbench.run.formatting import column_label, nines, number, significant, text_table, unit_of


@pytest.mark.parametrize("value, label, shown", [
    (0.99999873, "mean cosine to FP32", "0.9999987"),  # five nines, then two digits
    (0.9512, "min cosine", "0.951"),
    (1.0, "cosine", "1"),
    (8.0412, "size (GB)", "8.04"),
    (12345.6, "size (MB)", "12,300"),
    (9.996, "p50 latency (ms)", "10.0"),  # rounding carries into the next magnitude
    (0.001234, "convert (s)", "0.00123"),
    (97.25, "retention (%)", "97.2 %"),
    (1234567, "items", "1,234,567"),
    (0.123456, "STS Spearman", "0.1235"),
    (float("nan"), "size (GB)", "-"),
    (None, "size (GB)", ""),
    ("palette4", "variant", "palette4"),
])
def test_the_label_decides_the_format(value, label, shown):
    assert number(value, label) == shown


def test_units_and_edges():
    assert unit_of("peak convert RSS (GB)") == "GB" and unit_of("variant") == "" and unit_of("a (b) c") == ""
    assert significant(-0.0456) == "-0.0456" and significant(0) == "0" and significant(2.5e-6) == "2.5e-06"
    assert nines(0.999) == "0.9990" and nines(1 - 1e-9) == "0.999999999"
    assert number(math.inf, "x (s)") == "inf"


@pytest.mark.parametrize("name, label", [
    ("p50 ms b1", "p50 latency, batch 1 (ms)"), ("p95 ms at max n", "p95 latency at the largest N (ms)"),
    ("size MB", "size (MB)"), ("peak convert RSS GB", "peak convert RSS (GB)"), ("disk bytes/item", "disk per item (bytes)"),
    ("truncated %", "truncated (%)"), ("p50_ms", "p50 latency (ms)"), ("sts_spearman", "STS Spearman"),
    ("params B", "params (B)"), ("mean cosine", "mean cosine"), ("variant", "variant"),
])
def test_column_names_read_as_words_with_units(name, label):
    assert column_label(name) == label


def test_a_cosine_stops_at_the_digits_float32_can_mean():
    assert number(1 - 1e-13, "mean cosine") == "1.000000000"


def test_text_table_lines_columns_up_and_rules_the_header_on_request():
    rows = [("a", 1234, ""), ("longer", 5, "x")]
    assert text_table(("name", "n", "note"), rows).splitlines() == [
        "name    n     note", "------  ----  ----", "a       1234", "longer  5     x"]
    assert text_table(("name", "n"), [], rule=False) == "name  n"
