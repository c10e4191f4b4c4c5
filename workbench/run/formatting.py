"""Numbers as a person reads them: the unit in a column's name decides the format.

"size (GB)" and "p50 latency (ms)" get three significant figures, "retention (%)" a percentage of a
ratio, anything named cosine as many nines as it has plus two digits, counts thousands separators.
Tables for a terminal are laid out here too, so every command lines its columns up the same way.
"""

from __future__ import annotations

import math
import numbers
import re

NOT_MEASURED = "-"
_UNIT = re.compile(r"\(([^()]*)\)\s*$")
SIGNIFICANT = 3  # sizes, times and memory: three significant figures
GENERIC_DIGITS = 4  # a number with no unit in its name


# Column names as the studies build them -> as a reader reads them; the first matching rule applies.
_COLUMN_RULES = (
    (re.compile(r"^(p\d+) ms b(\d+)$"), r"\1 latency, batch \2 (ms)"),
    (re.compile(r"^(p\d+) ms at max n$"), r"\1 latency at the largest N (ms)"),
    (re.compile(r"^(p\d+|mean)_ms$"), r"\1 latency (ms)"),
    (re.compile(r"^(.+) bytes/item$"), r"\1 per item (bytes)"),
    (re.compile(r"^(.+?) (MB|GB|KB|ms|s|B|%)$"), r"\1 (\2)"),
    (re.compile(r"^params$"), "parameters"),
    (re.compile(r"^sts_spearman$"), "STS Spearman"),
    (re.compile(r"^ndcg10$"), "nDCG@10"),
    (re.compile(r"^recall10$"), "recall@10"),
    (re.compile(r"^auc$"), "paraphrase AUC"),
)


def column_label(name) -> str:
    """A table column's name in words with its unit in parentheses: "p50 ms b1" -> "p50 latency, batch 1 (ms)"."""
    text = str(name)
    for pattern, replacement in _COLUMN_RULES:
        if pattern.search(text):
            return pattern.sub(replacement, text)
    return text


def unit_of(label: str) -> str:
    """The unit a label ends with in parentheses: "size (GB)" -> "GB"; "" when none."""
    found = _UNIT.search(str(label))
    return found.group(1).strip() if found else ""


MAX_DECIMALS = 9  # float32 vectors: a cosine closer to 1 than 1e-9 is summation noise


def nines(value: float, extra: int = 2) -> str:
    """A value near 1 with as many nines as it has plus `extra` digits: 0.99999873 -> "0.9999987"."""
    if not 0 < value < 1:
        return f"{value:.{extra + 1}g}" if value != 1 else "1"
    count = max(0, math.floor(-math.log10(1 - value)))  # 0.99999873: 1 - x = 1.27e-6 -> 5 nines
    return f"{value:.{min(count + extra, MAX_DECIMALS)}f}"


def significant(value: float, digits: int = SIGNIFICANT) -> str:
    """`digits` significant figures, thousands separated; scientific only below 1e-4 or from a billion up."""
    if value == 0:
        return "0"
    if abs(value) >= 1e9 or abs(value) < 1e-4:
        return f"{value:.{digits}g}"
    rounded = float(f"{value:.{digits}g}")  # 9.996 -> 10.0: the magnitude is the rounded value's
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(rounded))))
    return f"{rounded:,.{decimals}f}"


def number(value, label: str = "") -> str:
    """`value` formatted for the column or row called `label` (its unit, or "cosine" in its name)."""
    if value is None or isinstance(value, bool) or not isinstance(value, numbers.Real):
        return "" if value is None else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return NOT_MEASURED if value != value else str(value)
    unit, name = unit_of(label), str(label).lower()
    if unit == "%":
        return f"{significant(float(value))} %"
    if "cosine" in name and isinstance(value, float) and 0.9 <= value <= 1:
        return nines(value)
    if isinstance(value, numbers.Integral):
        return f"{value:,}"
    if unit:
        return significant(float(value))
    return significant(float(value), GENERIC_DIGITS)


def text_table(header: tuple, rows: list[tuple], rule: bool = True) -> str:
    """Left-aligned columns as wide as their widest cell, trailing spaces dropped; `rule` puts dashes under the header."""
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]

    def line(row) -> str:
        return "  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip()

    return "\n".join([line(header), *([line(tuple("-" * w for w in widths))] if rule else []), *map(line, rows)])
