"""The orjson transcoder writes exactly the library's bytes, and both decoders read them."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import IntEnum
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)

from ledger.infrastructure.transcoder import DateAsISO, OrjsonTranscoder
from projections.decoding import StateDecoder

NOW = datetime(2026, 11, 22, 22, 5, 1, 123456, tzinfo=UTC)


def _registered(transcoder: JSONTranscoder) -> JSONTranscoder:
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(transcoding)
    return transcoder


@pytest.fixture
def library() -> JSONTranscoder:
    return _registered(JSONTranscoder())


@pytest.fixture
def fast() -> JSONTranscoder:
    return _registered(OrjsonTranscoder())


ACCRUAL_STATE: dict[str, Any] = {
    "timestamp": NOW,
    "accrual_id": "6f1c1c2e-8e4b-4f7a-9a57-3a1b3c7d2e10",
    "partner_id": "shop",
    "transaction_id": "t-1",
    "amount": Decimal("12.34"),
    "currency": "EUR",
    "occurred_at": NOW - timedelta(days=3),
    "earn_rate": Decimal("1"),
    "tier_multiplier": Decimal("1.25"),
    "points": 15,
    "pending_days": None,
    "funding_amount": Decimal("0.15"),
    "lot": {"lot_id": "L1", "points": 15, "expires_at": NOW, "source": "shop"},
    "lots": [{"lot_id": "L1", "points": 3}, {"lot_id": "L2", "points": 7}],
    "pending": False,
    "result": {"balance": {"available": 15, "pending": 0, "tier": "basic"}, "ok": True},
}

STATES: list[Any] = [
    ACCRUAL_STATE,
    {},
    {"birth_date": date(1990, 2, 28), "key": UUID("6f1c1c2e-8e4b-4f7a-9a57-3a1b3c7d2e10")},
    {"nested": [[1, [2, {"d": Decimal("-0.00")}]], (3, "x")], "empty": [], "none": None},
    {"other_zone": datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))},
    {"naive": datetime(2026, 1, 1, 12, 0), "big": 2**63 - 1, "small": -(2**63)},
    {"decimals": [Decimal("1E+3"), Decimal("NaN"), Decimal("-Infinity"), Decimal("0.1000")]},
    {"text": 'quote " backslash \\ newline \n tab \t nul \x00 del \x7f é € 😀 \u2028'},
]


@pytest.mark.parametrize("state", STATES)
def test_writes_the_library_bytes(
    library: JSONTranscoder, fast: JSONTranscoder, state: Any
) -> None:
    assert fast.encode(state) == library.encode(state)


def test_writes_every_character_as_the_library_does(
    library: JSONTranscoder, fast: JSONTranscoder
) -> None:
    # Every Unicode scalar value (surrogates cannot be encoded as UTF-8 by either).
    text = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    assert fast.encode({"text": text, "key " + text[:300]: 1}) == library.encode(
        {"text": text, "key " + text[:300]: 1}
    )


class Level(IntEnum):
    LOW = 1


class Code(str):
    pass


@pytest.mark.parametrize(
    "state",
    [
        {"ratio": 0.1},
        {"ratios": [1.5, 1e16, -0.0]},
        {"huge": 2**64},
        {"huge_negative": -(2**70)},
        {1: "int key"},
        {"level": Level.LOW},
        {"code": Code("x")},
        ("top", "level", "tuple"),
    ],
)
def test_hands_what_it_cannot_write_exactly_to_the_library(
    library: JSONTranscoder, fast: JSONTranscoder, state: Any
) -> None:
    assert fast.encode(state) == library.encode(state)


def test_writes_non_finite_floats_as_the_library_does(
    library: JSONTranscoder, fast: JSONTranscoder
) -> None:
    state = {"nan": math.nan, "inf": math.inf}
    assert fast.encode(state) == library.encode(state) == b'{"nan":NaN,"inf":Infinity}'


def test_refuses_an_unregistered_type_like_the_library(fast: JSONTranscoder) -> None:
    with pytest.raises(TranscodingNotRegisteredError):
        fast.encode({"when": NOW.time()})


def test_refuses_unencodable_text_like_the_library(
    library: JSONTranscoder, fast: JSONTranscoder
) -> None:
    with pytest.raises(UnicodeEncodeError):
        library.encode({"text": "\ud800"})
    with pytest.raises(UnicodeEncodeError):
        fast.encode({"text": "\ud800"})


def test_refuses_a_circular_structure_like_the_library(fast: JSONTranscoder) -> None:
    circular: dict[str, Any] = {}
    circular["self"] = circular
    with pytest.raises(ValueError, match="Circular reference"):
        fast.encode(circular)


@pytest.mark.parametrize("state", STATES)
def test_both_decoders_read_what_it_writes(
    library: JSONTranscoder, fast: JSONTranscoder, state: Any
) -> None:
    stored = fast.encode(state)
    decoded = library.decode(stored)
    # Compared as repr: Decimal("NaN") is not equal to itself, and repr keeps exponents.
    assert repr(decoded) == repr(_as_library_reads(state))
    projections: Callable[[str, bytes], dict[str, Any]] = StateDecoder(
        Mapper(transcoder=fast)
    ).decode
    assert repr(projections("tests.unit.test_transcoder:StoredState", stored)) == repr(decoded)


class StoredState:
    """The topic the projections decoder resolves for its class version."""

    class_version = 1


def _as_library_reads(value: Any) -> Any:
    """What the library's decode returns for `value`: tuples come back as lists, NaN as NaN."""
    if isinstance(value, dict):
        return {key: _as_library_reads(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_as_library_reads(item) for item in value]
    return value


def test_remembered_times_are_written_as_each_time_itself(
    library: JSONTranscoder, fast: JSONTranscoder
) -> None:
    # The same instant in another zone, with fold set, or without microseconds is its own text.
    moments = [
        NOW,
        NOW.replace(fold=1),
        NOW.astimezone(timezone(timedelta(hours=1))),
        NOW.replace(microsecond=0),
        NOW.replace(tzinfo=None),
        datetime(1, 1, 1, tzinfo=UTC),
    ]
    for _ in range(2):
        for moment in moments:
            state = {"at": moment, "again": moment, "copy": moment + timedelta(0)}
            assert fast.encode(state) == library.encode(state)
