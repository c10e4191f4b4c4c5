"""Coercion of notebook parameters: `papermill -p name value` passes lists as strings."""

from __future__ import annotations

import json


def as_list(value, name: str) -> list:
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
    if not items:
        raise ValueError(f"{name} must not be empty")
    return items
