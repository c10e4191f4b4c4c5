"""Coercion of notebook parameters: `papermill -p name value` passes lists as strings."""

from __future__ import annotations

import json


def as_list(value, name: str, allow_empty: bool = False) -> list:
    """A list from a list, a JSON list string ('["fp16","bf16"]') or a comma-separated string ('fp16,bf16')."""
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, str) and value.strip().startswith("["):
        try:
            items = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"{name}: {value!r} looks like a list but is not valid JSON; write it as "
                             '\'["a", "b"]\' with double quotes') from None
    elif isinstance(value, str):
        items = [part.strip() for part in value.split(",") if part.strip()]
    else:
        raise TypeError(f"{name} must be a list; got {type(value).__name__} {value!r}")
    if not items and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    return items


def as_mapping(value, name: str) -> dict:
    """A dict from a dict or a JSON object string ('{"onnx": ["fp32"]}')."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"{name}: {value!r} is not a valid JSON object; write it as "
                             '\'{"onnx": ["fp32", "int8"]}\' with double quotes') from None
    if not isinstance(value, dict) or not value:
        raise TypeError(f"{name} must be a non-empty mapping; got {type(value).__name__} {value!r}")
    return value


TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def as_bool(value, name: str) -> bool:
    """A bool from a bool or a string papermill passed ('false' is False, not a truthy string)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE + FALSE:
        return value.strip().lower() in TRUE
    raise TypeError(f"{name} must be true or false; got {type(value).__name__} {value!r}")


def as_number(value, name: str, kind: type):
    """An int or float from a number or a numeric string; a bool or a fractional int is refused."""
    if isinstance(value, str):
        try:
            value = float(value.strip()) if kind is float else int(value.strip())
        except ValueError:
            raise TypeError(f"{name} must be {'a number' if kind is float else 'an integer'}; got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
        raise TypeError(f"{name} must be {'a number' if kind is float else 'an integer'}; got "
                        f"{type(value).__name__} {value!r}")
    return kind(value)


def coerce(value, name: str, declared: type):
    """`value` as the type a notebook's parameters cell declares for `name`, or an error that says why not."""
    if declared is bool:
        return as_bool(value, name)
    if declared in (int, float):
        return as_number(value, name, declared)
    if declared is list:
        return as_list(value, name, allow_empty=True)
    if declared is dict:
        return as_mapping(value, name)
    if declared is str and not isinstance(value, str):
        raise TypeError(f"{name} must be a string; got {type(value).__name__} {value!r}")
    return value
