"""Files as records: lines split where JSON-lines and CSV split them, and writes readers never see half-done.

Writes go to a temp file beside the target, then rename.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def json_safe(value):
    """numpy scalars/arrays to Python, NaN/inf to None (JSON has no NaN)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def record_lines(text: str) -> list[str]:
    """`text` split into lines at \\n only (a trailing \\r dropped), as JSON-lines and TSV readers split records.

    `str.splitlines()` also breaks at U+0085, U+2028, U+2029, \\x0b, \\x0c and \\x1c-\\x1e, which JSON strings and
    TSV fields may hold as they are: a real corpus with a NEL inside a passage would be cut in two.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


@contextmanager
def atomic_path(path: Path):
    """Yield a temp path beside `path`; it replaces `path` only if the block finishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; reports and results are for every reader of the folder
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write JSON so that readers see the old file or the new one, never half of one."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(json_safe(payload), indent=2) + "\n", encoding="utf-8")


class NotUtf8Error(ValueError):
    """A text file in another encoding: named, with its line and the fix."""


def read_utf8(path: Path) -> str:
    """A UTF-8 file's text with any byte-order mark removed; a file in another encoding is named with its line."""
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise NotUtf8Error(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8 "
                           "(for example: iconv -f latin1 -t utf-8)") from None


@contextmanager
def temporary_files_in(folder: Path) -> Iterator[None]:
    """Temporary files made inside the block go to `folder`, which the caller deletes: coremltools writes a
    temporary package (gigabytes at 4B) for each MLModel it makes, and leaves some in /tmp until the process exits.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    previous, tempfile.tempdir = tempfile.tempdir, str(folder)
    try:
        yield
    finally:
        tempfile.tempdir = previous
