"""Typed tables in results.json: what a study records, declared as a frozen dataclass and checked both ways.

A study declares each table it records as a `Table` (its results.json name, a schema name bumped when a field
changes meaning, and the row type). `Run.record_rows` checks the rows on write by reading back what it is about
to store, and readers get the rows typed from `Table.read`, so no study parses another's result keys or labels.
A field may be str, int, float, bool, a Literal of strings, an Enum, a nested dataclass, a tuple of any of these,
or any of them or None; anything else in the file is refused with the table, row and field it was found in.
"""

from __future__ import annotations

import math
import typing
from dataclasses import MISSING, dataclass, fields, is_dataclass
from enum import Enum
from types import NoneType, UnionType
from typing import Any, Generic, Literal, TypeVar, get_args, get_origin, get_type_hints

Row = TypeVar("Row")


class TableSchemaError(ValueError):
    """A results.json table that is not what its schema says: named, with what was wrong."""


@dataclass(frozen=True)
class Table(Generic[Row]):
    """One typed table a study records: where it sits in results.json, its schema and its row type."""

    name: str  # the key under results.json "tables"
    schema: str  # "<row>/<version>"; bumped when a field changes meaning
    kind: type[Row]
    readable: tuple[str, ...] = ()  # older schemas still read (their missing fields take the defaults)

    def payload(self, rows: list[Row]) -> dict:
        """The results.json form: the schema name and each row's fields (enums as their values)."""
        stray = [type(row).__name__ for row in rows if not isinstance(row, self.kind)]
        if stray:
            raise TypeError(f"table {self.name!r} holds {self.kind.__name__} rows; got {', '.join(stray)}")
        return {"schema": self.schema, "rows": [to_dict(row) for row in rows]}

    def read(self, payload: dict) -> list[Row] | None:
        """The rows a results.json payload holds, typed; None for a run written before this table existed."""
        table = (payload.get("tables") or {}).get(self.name)
        if table is None:
            return None
        known = (self.schema, *self.readable)
        if not isinstance(table, dict) or table.get("schema") not in known:
            found = table.get("schema") if isinstance(table, dict) else type(table).__name__
            raise TableSchemaError(f"tables.{self.name} has schema {found!r}; this workbench reads "
                                   f"{' or '.join(map(repr, known))}: re-run the study with this version")
        rows = table.get("rows")
        if not isinstance(rows, list):
            raise TableSchemaError(f"tables.{self.name} needs a list of rows; got {type(rows).__name__}")
        return [from_dict(self.kind, row, f"tables.{self.name} row {i}") for i, row in enumerate(rows)]


def to_dict(row) -> dict:
    """A dataclass row as JSON values: enums as their values, tuples as lists, nested rows as objects."""
    return {f.name: _plain(getattr(row, f.name)) for f in fields(row)}


def _plain(value):
    if is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def from_dict(kind: type[Row], raw, where: str) -> Row:
    """A `kind` record from its results.json form; a missing, unknown or mistyped field raises TableSchemaError
    naming it."""
    if not isinstance(raw, dict):
        raise TableSchemaError(f"{where} must be an object; got {type(raw).__name__}")
    own = [f for f in fields(kind) if f.name != "_"]  # type: ignore[arg-type]  # a dataclass; "_" marks KW_ONLY
    stray = sorted(set(raw) - {f.name for f in own})
    if stray:
        raise TableSchemaError(f"{where} has unknown field(s) {', '.join(stray)}")
    hints: dict[str, Any] = get_type_hints(kind)
    values = {}
    for f in own:
        if f.name in raw:
            values[f.name] = _checked(raw[f.name], hints[f.name], f"{where} field {f.name!r}")
        elif f.default is MISSING and f.default_factory is MISSING:
            raise TableSchemaError(f"{where} lacks field {f.name!r}")
    return kind(**values)


def _checked(value, hint, where: str, optional: bool = False):
    """`value` as the annotation `hint` declares it, or TableSchemaError saying what was wanted."""
    args = get_args(hint)
    if isinstance(hint, UnionType) or get_origin(hint) is typing.Union:  # only `X | None` is declared
        (base,) = [t for t in args if t is not NoneType]
        return None if value is None and NoneType in args else _checked(value, base, where, NoneType in args)
    if get_origin(hint) is Literal:
        if value in args:
            return value
        raise TableSchemaError(f"{where} must be one of {', '.join(map(str, args))}; got {value!r}")
    if get_origin(hint) is tuple and isinstance(value, list):
        return tuple(_checked(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:
            raise TableSchemaError(f"{where} must be one of {', '.join(str(e.value) for e in hint)}; "
                                   f"got {value!r}") from None
    if is_dataclass(hint) and isinstance(value, dict):
        return from_dict(hint, value, where)  # type: ignore[arg-type]  # a dataclass type, not an instance
    if hint is bool and isinstance(value, bool) or hint is str and isinstance(value, str):
        return value
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is int and number and float(value).is_integer() or hint is float and number:
        return hint(value)  # a whole float (1.8e9 bytes, as an older writer stored it) reads as an int
    wanted = {str: "a string", int: "a whole number", float: "a finite number", bool: "true or false"}.get(
        hint, "a list" if get_origin(hint) is tuple else "an object")
    raise TableSchemaError(f"{where} must be {wanted}{' or null' if optional else ''}; got {value!r}")
