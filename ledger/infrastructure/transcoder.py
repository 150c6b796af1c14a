"""The library's JSON transcoder, encoding the same bytes with orjson.

Every stored event passes through `encode`; the library's version runs the json module with a
Python `default` hook for each Decimal and datetime, about 20 µs per event on the benchmark
machine. Here one pass over the state replaces each value of a registered type by the
library's marker `{"_type_": name, "_data_": encoded}` and orjson writes the result.

The output is byte-for-byte what `JSONTranscoder.encode` writes (orjson and json with
`ensure_ascii=False` and compact separators escape strings identically), so the stored format
does not change and `decode` is the library's. Anything the pass does not know how to write
exactly as the library would — a float, an unregistered type, a subclass of a plain type,
an integer beyond 64 bits, a non-string key — goes to the library's encoder instead, which
writes it or raises as it always did.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoding,
)

# Written by orjson exactly as json writes them (checked by the tests for every code point).
_PLAIN = frozenset({str, int, bool, type(None)})


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


_ISO_TEXTS: dict[datetime, str] = {}


def _utc_iso(moment: datetime) -> str:
    """`moment.isoformat()`, remembered for UTC times: an accrual writes each of its few
    times two or three times (in its event, its key and the key's result), and isoformat
    formats through printf. Two equal UTC times have the same fields, hence the same text."""
    if moment.tzinfo is not UTC:
        return moment.isoformat()
    text = _ISO_TEXTS.get(moment)
    if text is None:
        if len(_ISO_TEXTS) >= 4096:
            _ISO_TEXTS.clear()
        text = _ISO_TEXTS[moment] = moment.isoformat()
    return text


# Transcodings whose encode is one C call, called directly to skip a Python frame per value.
_DIRECT: dict[type[Transcoding], Callable[[Any], Any]] = {
    DatetimeAsISO: _utc_iso,
    DecimalAsStr: Decimal.__str__,
    DateAsISO: date.isoformat,
}


class _NotPlain(Exception):
    """The pass met a value it cannot write exactly as the library would."""


class OrjsonTranscoder(JSONTranscoder):
    def __init__(self) -> None:
        super().__init__()
        self._markers: dict[type, tuple[str, Callable[[Any], Any]]] = {}

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        self._markers[transcoding.type] = (
            transcoding.name,
            _DIRECT.get(type(transcoding), transcoding.encode),
        )

    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(self._marked(obj))
        except (_NotPlain, TypeError, RecursionError):
            return super().encode(obj)

    def _marked(self, value: Any) -> Any:
        """`value` with every registered type replaced by its marker."""
        kind = type(value)
        if kind is dict:
            # Plain items and registered values (an event's state is mostly strings, numbers,
            # times and amounts) are handled inline: a call per value cost more than the rest.
            markers = self._markers
            marked: dict[Any, Any] = {}
            for key, item in value.items():
                kind = type(item)
                if kind in _PLAIN:
                    marked[key] = item
                elif kind in markers:
                    name, encode = markers[kind]
                    data = encode(item)
                    if type(data) not in _PLAIN:
                        data = self._marked(data)
                    marked[key] = {"_type_": name, "_data_": data}
                else:
                    marked[key] = self._marked(item)
            return marked
        if kind in _PLAIN:
            return value
        if kind is list or kind is tuple:
            return [item if type(item) in _PLAIN else self._marked(item) for item in value]
        try:
            name, encode = self._markers[kind]
        except KeyError:
            raise _NotPlain from None
        data = encode(value)
        return {"_type_": name, "_data_": data if type(data) in _PLAIN else self._marked(data)}
