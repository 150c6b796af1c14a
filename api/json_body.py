"""Strict JSON for request bodies and import lines: what the json module would read, minus
what a ledger must refuse.

- Nested deeper than `MAX_DEPTH` → 422 (the json module recursed until RecursionError).
- A key given twice in one object → 422 naming it (the json module keeps the last silently:
  `"amount": "10.00", "amount": "99999.00"` recorded 99,999.00).
- `NaN`, `Infinity`, a number of more than 4,300 digits, text that is not UTF-8 or not JSON
  → 400 `malformed-request`.

orjson reads the body (a tenth of the json module's cost); two counts on the text outside its
strings tell whether that is safe: how deep its brackets nest, and how many members its
objects have (one `:` each), against the members orjson kept — fewer means a key was given
twice. Anything orjson refuses or reads otherwise than the json module (a float) goes through
the json module, with a hook on every object that names the repeated keys.
"""

from __future__ import annotations

import json
import re
from functools import partial
from typing import Any

import orjson

from api.problems import Problem

MAX_DEPTH = 32
# A string literal (escapes included), so that brackets and colons inside text do not count.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_INNERMOST = re.compile(rb"\[\]|\{\}")


class _Repeated(dict[str, Any]):
    """An object in which a key was given more than once (those keys are `repeated`)."""

    repeated: list[str]


def loads(data: bytes) -> Any:
    """The JSON value in `data`; raises Problem (malformed-request or validation-error)."""
    outside = _outside_strings(data)
    if _nested_deeper(outside, MAX_DEPTH):
        raise Problem(
            "validation-error",
            f"Nested more than {MAX_DEPTH} levels deep.",
            {"_schema": [f"Nested more than {MAX_DEPTH} levels deep."]},
        )
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return _strict(data)  # the json module's own value, or its own error
    kind = type(parsed)
    if kind is float or (kind in (dict, list) and _members(parsed) != outside.count(b":")):
        return _strict(data)
    return parsed


def _outside_strings(data: bytes) -> bytes:
    if b'\\"' not in data:  # every quote delimits a string: split, keep what lies between
        return b"".join(data.split(b'"')[::2])
    return _STRING.sub(b"", data)


def _nested_deeper(outside: bytes, limit: int) -> bool:
    """Whether brackets nest deeper than `limit`: each pass removes the innermost pairs."""
    brackets = outside.translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        brackets, removed = _INNERMOST.subn(b"", brackets)
        if not brackets or not removed:  # done, or not JSON (the parser says so)
            return False
    return _INNERMOST.search(brackets) is not None


def _members(value: dict[str, Any] | list[Any]) -> int:
    """The members of every object inside `value`; -1 if it holds a float (orjson may read a
    number otherwise than the json module)."""
    count = 0
    pending: list[Any] = [value]
    while pending:
        item = pending.pop()
        if type(item) is dict:
            count += len(item)
            item = item.values()
        for inner in item:
            kind = type(inner)
            if kind is dict or kind is list:
                pending.append(inner)
            elif kind is float:
                return -1
    return count


def _strict(data: bytes) -> Any:
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
