"""The typed-table contract: what a study records reads back as it was, and anything else is refused by name."""

import json
from dataclasses import dataclass
from enum import Enum
from typing import Literal

import pytest

from workbench.core.files import json_safe
from workbench.core.records import Table, TableSchemaError
from workbench.run.results import Run


class Colour(str, Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Part:
    batch: int
    seconds: float


@dataclass(frozen=True)
class Thing:
    name: str
    kind: Literal["a", "b"]
    colour: Colour
    count: int
    share: float | None = None
    ok: bool = False
    parts: tuple[Part, ...] = ()
    inner: Part | None = None
    tags: tuple[str, ...] = ()


THINGS = Table("things", "thing/2", Thing, readable=("thing/1",))
ROW = Thing("x", "b", Colour.BLUE, 3, 0.5, True, (Part(1, 0.25), Part(32, 2.0)), Part(4, 1.0), ("t",))


def test_a_row_survives_the_file_unchanged_with_enums_as_their_values():
    payload = json.loads(json.dumps({"tables": {"things": json_safe(THINGS.payload([ROW]))}}))
    assert payload["tables"]["things"]["rows"][0]["colour"] == "blue"
    assert THINGS.read(payload) == [ROW] and THINGS.read({}) is None


def test_an_older_schema_reads_with_defaults_and_an_unknown_one_is_refused():
    old = {"name": "x", "kind": "a", "colour": "red", "count": 1}
    assert THINGS.read({"tables": {"things": {"schema": "thing/1", "rows": [old]}}}) == [
        Thing("x", "a", Colour.RED, 1)]
    with pytest.raises(TableSchemaError, match="tables.things has schema 'thing/0'; this workbench reads 'thing/2' "
                                               "or 'thing/1'"):
        THINGS.read({"tables": {"things": {"schema": "thing/0", "rows": []}}})


@pytest.mark.parametrize("change, message", [
    ({"kind": "c"}, "row 0 field 'kind' must be one of a, b; got 'c'"),
    ({"colour": "green"}, "field 'colour' must be one of red, blue; got 'green'"),
    ({"count": 2.5}, "field 'count' must be a whole number; got 2.5"),
    ({"count": True}, "field 'count' must be a whole number; got True"),
    ({"share": "half"}, "field 'share' must be a finite number or null; got 'half'"),
    ({"ok": 1}, "field 'ok' must be true or false; got 1"),
    ({"parts": [{"batch": 1}]}, "field 'parts'[0] lacks field 'seconds'"),
    ({"inner": 4}, "field 'inner' must be an object or null; got 4"),
    ({"tags": "t"}, "field 'tags' must be a list; got 't'"),
    ({"extra": 1}, "row 0 has unknown field(s) extra"),
])
def test_a_malformed_row_names_its_table_row_and_field(change, message):
    raw = {**THINGS.payload([ROW])["rows"][0], **change}
    with pytest.raises(TableSchemaError) as caught:
        THINGS.read({"tables": {"things": {"schema": "thing/2", "rows": [raw]}}})
    assert message in str(caught.value) and str(caught.value).startswith("tables.things row 0")


def test_a_whole_float_reads_as_an_int_as_older_writers_stored_byte_counts():
    raw = {**THINGS.payload([ROW])["rows"][0], "count": 1.8e9}
    (row,) = THINGS.read({"tables": {"things": {"schema": "thing/2", "rows": [raw]}}})
    assert row.count == 1_800_000_000 and isinstance(row.count, int)


def test_the_run_checks_rows_on_write_and_keeps_what_it_held(tmp_path):
    run = Run(tmp_path, "test", {})
    run.record_rows(THINGS, [ROW])
    assert run.rows(THINGS) == [ROW]
    with pytest.raises(TypeError, match="table 'things' holds Thing rows; got Part"):
        run.record_rows(THINGS, [Part(1, 0.1)])
    with pytest.raises(TableSchemaError, match="field 'share' must be a finite number or null; got 'x'"):
        run.record_rows(THINGS, [Thing("y", "a", Colour.RED, 1, share="x")])  # type: ignore[arg-type]
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert THINGS.read(on_disk) == [ROW], "a refused table leaves the recorded one in place"
