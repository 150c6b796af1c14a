"""Stored event state straight to plain dicts, without building domain event objects.

The state is the library's JSONTranscoder output: JSON in which a value the transcoder knows
is written `{"_type_": name, "_data_": encoded}`. `StateDecoder` parses it with orjson and
replaces each such marker by the transcoding's decoded value (Decimal, datetime, UUID, date),
then upcasts with the event classes' own `upcast_v*` methods, as the library's mapper does,
so `decode(state)` equals the `__dict__` of `mapper.to_domain_event(...)` without the
originator id and version: every projection sees an event of an older version exactly as the
domain replays it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    MapperDeserialisationError,
)
from eventsourcing.utils import resolve_topic

from projections.model import NOT_IN_DETAIL, to_json

# The library's own transcodings, decoded by the C constructors they call anyway.
_FAST: dict[type, Callable[[Any], Any]] = {
    DatetimeAsISO: datetime.fromisoformat,
    DecimalAsStr: Decimal,
}


class StateDecoder:
    def __init__(self, mapper: Mapper[Any]) -> None:
        transcoder = mapper.transcoder
        assert isinstance(transcoder, JSONTranscoder), "the ledger stores JSON"
        self._mapper = mapper
        self._plain = mapper.cipher is None and mapper.compressor is None
        self._decoders: dict[str, Callable[[Any], Any]] = {
            name: _FAST.get(type(t), t.decode) for name, t in transcoder.names.items()
        }
        self._class_versions: dict[str, int] = {}
        # Transcodings whose stored text is what `str`/`isoformat` of the decoded value gives
        # back (the transcoder stored exactly that text, and it round-trips).
        self._verbatim = frozenset(name for name, t in transcoder.names.items() if type(t) in _FAST)

    def decode(self, topic: str, state: bytes) -> dict[str, Any]:
        if not self._plain:
            state = self._unwrap(state)
        try:
            data = orjson.loads(state)
        except orjson.JSONDecodeError:  # what orjson refuses (NaN, huge ints), json may read
            data = self._mapper.transcoder.decode(state)
        else:
            self._convert(data)
        self._upcast(topic, data)
        return data  # type: ignore[no-any-return]

    def decode_with_text(self, topic: str, state: bytes) -> tuple[dict[str, Any], str | None]:
        """`decode`, and `to_json(detail_of(decoded))` made from the stored texts of its
        times and amounts instead of formatting the decoded values again (None where that
        is not certain to give the same text: upcast events, other transcodings)."""
        if not self._plain:
            return self.decode(topic, state), None
        try:
            data = orjson.loads(state)
        except orjson.JSONDecodeError:
            return self.decode(topic, state), None
        plain = dict(data)
        verbatim = self._split(data, plain)
        upcast = data.get("class_version", 1) < self._class_version(topic)
        self._upcast(topic, data)
        if not verbatim or upcast:
            return data, None
        plain.pop("class_version", None)
        for name in NOT_IN_DETAIL:
            plain.pop(name, None)
        return data, to_json(plain)

    def _split(self, container: Any, plain: Any) -> bool:
        """`_convert` of `container`, writing into `plain` (a copy of it) each marker's stored
        text instead; False if a marker's text is not its value's JSON text."""
        verbatim = True
        decoders, verbatims = self._decoders, self._verbatim
        items = container.items() if type(container) is dict else enumerate(container)
        for name, value in items:
            kind = type(value)
            if kind is dict:
                if len(value) == 2 and "_type_" in value and "_data_" in value:
                    text, name_of_type = value["_data_"], value["_type_"]
                    if type(text) is str and name_of_type in verbatims:
                        plain[name] = text
                        # `_marker` inlined: a verbatim transcoding is a known one.
                        container[name] = decoders[name_of_type](text)
                    else:
                        verbatim = False
                        container[name] = self._marker(value)
                else:
                    plain[name] = copied = dict(value)
                    verbatim = self._split(value, copied) and verbatim
            elif kind is list:
                plain[name] = listed = list(value)
                verbatim = self._split(value, listed) and verbatim
        return verbatim

    def _unwrap(self, state: bytes) -> bytes:
        try:
            if self._mapper.cipher:
                state = self._mapper.cipher.decrypt(state)
            if self._mapper.compressor:
                state = self._mapper.compressor.decompress(state)
        except Exception as error:
            raise MapperDeserialisationError(f"cannot read stored state: {error}") from error
        return state

    def _convert(self, container: dict[str, Any] | list[Any]) -> Any:
        """Decode the markers inside `container` in place (bottom-up, as json's object_hook)."""
        decoders = self._decoders
        items = container.items() if type(container) is dict else enumerate(container)
        for name, value in items:
            kind = type(value)
            if kind is dict:
                if len(value) == 2 and "_type_" in value and "_data_" in value:
                    # `_marker` inlined for a known marker holding a text (nearly all).
                    text, name_of_type = value["_data_"], value["_type_"]
                    decoder = (
                        decoders.get(name_of_type)
                        if type(text) is str and type(name_of_type) is str
                        else None
                    )
                    container[name] = (  # type: ignore[index]
                        decoder(text) if decoder is not None else self._marker(value)
                    )
                else:
                    self._convert(value)
            elif kind is list:
                self._convert(value)

    def _marker(self, value: dict[str, Any]) -> Any:
        data = value["_data_"]
        if type(data) in (dict, list):
            self._convert(data)
            if type(data) is dict and len(data) == 2 and "_type_" in data and "_data_" in data:
                data = self._marker(data)
        try:
            decoder = self._decoders[value["_type_"]]
        except (KeyError, TypeError):
            # Same refusal as the library's transcoder for a name it does not know.
            return self._mapper.transcoder.decode(orjson.dumps(value))
        return decoder(data)

    def _class_version(self, topic: str) -> int:
        version = self._class_versions.get(topic)
        if version is None:
            version = self._class_versions[topic] = getattr(
                resolve_topic(topic), "class_version", 1
            )
        return version

    def _upcast(self, topic: str, data: dict[str, Any]) -> None:
        version = self._class_version(topic)
        current = data.pop("class_version", 1)
        while current < version:
            getattr(resolve_topic(topic), f"upcast_v{current}_v{current + 1}")(data)
            current += 1
