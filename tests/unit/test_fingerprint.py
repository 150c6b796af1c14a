"""A request's fingerprint never changes: stored keys are compared with new requests for good."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal

from ledger.commands import Accrue, Enroll
from ledger.transaction_key import fingerprint


def _as_first_stored(operation: str, request: dict[str, object]) -> str:
    """How fingerprints were computed when the first keys were stored."""
    canonical = json.dumps({"op": operation, "request": request}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def test_an_accrual_fingerprint_is_what_it_always_was() -> None:
    command = Accrue(
        partner_id="shop",
        transaction_id="t-1é",
        member_id="m1",
        amount=Decimal("12.30"),
        currency="EUR",
        occurred_at=datetime(2026, 1, 15, 12, 0, tzinfo=UTC),
        bonus_points=5,
    )
    data = command.fingerprint_data()

    assert data == {
        "transaction_id": "t-1é",
        "member_id": "m1",
        "amount": Decimal("12.30"),
        "currency": "EUR",
        "occurred_at": "2026-01-15T12:00:00+00:00",
        "pending_days": None,
        "bonus_points": 5,
    }
    assert fingerprint("accrue", data) == _as_first_stored("accrue", data)
    assert fingerprint("accrue", data) == (  # computed by the code before this test existed
        "c922982a848d55626dd170be54e1d53c7e07c8b1a1f6494b3874320f2974372a"
    )


def test_an_enrollment_fingerprint_is_what_it_always_was() -> None:
    enroll = Enroll(member_id="m1", birth_date=date(1990, 2, 28), partner_id="shop")
    data = enroll.fingerprint_data()

    assert data == {"member_id": "m1", "enrolled_at": None, "birth_date": "1990-02-28"}
    assert fingerprint("enroll", data) == _as_first_stored("enroll", data)


class _Text(str):
    pass


def test_every_kind_of_request_keeps_its_fingerprint() -> None:
    every_character = "".join(chr(c) for c in range(0x3000) if not 0xD800 <= c <= 0xDFFF)
    values: list[object] = [
        "",
        "plain",
        'quote " backslash \\ nul \x00 del \x7f é € 😀 \u2028',
        every_character,
        0,
        -1,
        2**80,
        True,
        False,
        None,
        Decimal("12.30"),
        Decimal("-0.00"),
        Decimal("1E+3"),
        Decimal("NaN"),
        1.5,
        1e16,
        float("nan"),
        [1, "a"],
        {"b": 1},
        _Text("sub"),
        datetime(2026, 1, 1, tzinfo=UTC),
        date(2026, 1, 2),
    ]
    for index, value in enumerate(values):
        request = {"z": value, "a": values[index - 1], "é": "x", "member_id": "m1"}
        assert fingerprint("accrue", request) == _as_first_stored("accrue", request), value
        assert fingerprint(f"op{index}", {}) == _as_first_stored(f"op{index}", {})
    assert fingerprint("accrue", {1: "int key"}) == _as_first_stored("accrue", {1: "int key"})
