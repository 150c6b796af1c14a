"""Strict JSON for request bodies and import lines: what the json module would read, minus
what a ledger must refuse.

- Nested deeper than `MAX_DEPTH` → 422 (the json module recursed until RecursionError).
- A key given twice in one object → 422 naming it (the json module keeps the last silently:
  `"amount": "10.00", "amount": "99999.00"` recorded 99,999.00).
- `NaN`, `Infinity`, a number of more than 4,300 digits, text that is not UTF-8 or not JSON
  → 400 `malformed-request`.

A flat object (values text, integers, booleans, nulls) is read by orjson, at a tenth of the
json module's cost; whether it repeats a key is then told by counting quotes (below).
Anything else goes through the json module with a hook on every object.
"""

from __future__ import annotations

import json
import re
from functools import partial
from typing import Any

import orjson

from api.problems import Problem

MAX_DEPTH = 32
_FLAT = frozenset({str, int, bool, type(None)})
# A string literal (escapes included), so that brackets inside text do not count as nesting.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_OPENING = frozenset(b"[{")


class _Repeated(dict[str, Any]):
    """An object in which a key was given more than once (those keys are `repeated`)."""

    repeated: list[str]


def loads(data: bytes) -> Any:
    """The JSON value in `data`; raises Problem (malformed-request or validation-error)."""
    flat = _flat_object(data)
    if flat is not None:
        return flat
    if _depth_exceeds(data, MAX_DEPTH):
        raise Problem(
            "validation-error",
            f"Nested more than {MAX_DEPTH} levels deep.",
            {"_schema": [f"Nested more than {MAX_DEPTH} levels deep."]},
        )
    repeats: list[_Repeated] = []
    try:
        value = json.loads(
            data.decode("utf-8-sig"),  # as the json module reads bytes: a BOM may lead
            object_pairs_hook=partial(_object, repeats),
            parse_constant=_no_constant,
        )
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError too
        raise Problem("malformed-request", f"Not valid JSON: {error}") from None
    if repeats:
        raise Problem(
            "validation-error", "A key is given more than once.", dict(_repeated_keys(value, ""))
        )
    return value


def _flat_object(data: bytes) -> dict[str, Any] | None:
    """The object orjson reads, when it is flat and certainly repeats no key; else None.

    Without backslashes every quote in valid JSON delimits a string, and in a flat object the
    strings are its keys and its text values: a key given twice leaves fewer keys in the
    dict than the text has, hence fewer quotes than the text has.
    """
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if type(parsed) is not dict or b"\\" in data:
        return None
    texts = 0
    for value in parsed.values():
        kind = type(value)
        if kind not in _FLAT:
            return None
        texts += kind is str
    if data.count(b'"') != 2 * (len(parsed) + texts):
        return None
    return parsed


def _depth_exceeds(data: bytes, limit: int) -> bool:
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    if len(brackets) <= limit:
        return False
    depth = 0
    for byte in brackets:
        if byte in _OPENING:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _object(repeats: list[_Repeated], pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    seen: set[str] = set()
    repeated = _Repeated(result)
    repeated.repeated = []
    for key, _ in pairs:
        if key in seen and key not in repeated.repeated:
            repeated.repeated.append(key)
        seen.add(key)
    repeats.append(repeated)
    return repeated


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _repeated_keys(value: Any, path: str) -> list[tuple[str, list[str]]]:
    """(dotted path of the key, message) of every repeated key, like marshmallow's names."""
    found: list[tuple[str, list[str]]] = []
    if isinstance(value, dict):
        if isinstance(value, _Repeated):
            for key in value.repeated:
                found.append((f"{path}{key}", ["Given more than once."]))
        for key, item in value.items():
            if isinstance(item, dict | list):
                found.extend(_repeated_keys(item, f"{path}{key}."))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict | list):
                found.extend(_repeated_keys(item, f"{path}{index}."))
    return found
