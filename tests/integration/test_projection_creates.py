"""`Create` on both backends: a row whose key the event mints is written by the bulk insert,
with every later change of its batch in it; later batches update it like any stored row; and
a key that is already stored fails the whole batch instead of overwriting the row."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from ledger.application import Ledger
from projections.definitions import LOTS, SPEND
from projections.model import Change, Create, Upsert
from projections.runner import BatchRows, Carried
from projections.store import Target

AT = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
EXPIRES = AT.replace(year=2028)
TABLES = {t.name: t for t in (LOTS, SPEND)}
NAMES = ["create-test"]


def _lot(points: int) -> dict[str, object]:
    return {
        "source": "air",
        "points": points,
        "remaining": points,
        "earned_at": AT,
        "available_at": AT,
        "expires_at": EXPIRES,
        "is_pending": False,
    }


def _batch(target: Target, carried: Carried, *changes: Change) -> BatchRows:
    rows = BatchRows(target, TABLES, carried)
    for change in changes:
        rows.apply(change)
    return rows


def _commit(target: Target, rows: BatchRows, old: int) -> bool:
    return target.commit_batch(
        rows.upserts(), rows.insert_values(), NAMES, old, old + 1, rows.merges()
    )


def _rows(target: Target, table: str) -> list[dict[str, object]]:
    return sorted(target.iter_rows(TABLES[table]), key=lambda row: str(row[TABLES[table].key[-1]]))


def test_created_rows_carry_their_batch_changes_and_take_later_ones(
    ledger: Ledger, target: Target
) -> None:
    first = _batch(
        target,
        {},
        Create("member_lots", ("m1", "L1"), _lot(100)),
        Upsert("member_lots", ("m1", "L1"), add={"remaining": -30}),
        Create("member_lots", ("m1", "L2"), _lot(5)),
        Create(
            "qualifying_spend",
            ("a1",),
            {"member_key": "m1", "occurred_at": AT, "amount": Decimal("151.20")},
        ),
        Upsert("qualifying_spend", ("a1",), add={"refunded": Decimal("1.5")}),
    )
    # Nothing is upserted or merged: the created rows go in whole, with the batch's changes.
    assert first.upserts() == {LOTS: []}
    assert first.merges() == {}
    assert first.insert_values() == {
        LOTS: [
            ("m1", "L1", "air", 100, 70, AT, AT, EXPIRES, False),
            ("m1", "L2", "air", 5, 5, AT, AT, EXPIRES, False),
        ],
        SPEND: [("a1", "m1", AT, Decimal("151.20"), Decimal("1.5"))],
    }
    # The next batch starts from the created rows while the first one is being written.
    second = _batch(
        target,
        first.carry(),
        Upsert("member_lots", ("m1", "L1"), add={"remaining": -20}),
        Upsert("qualifying_spend", ("a1",), add={"refunded": Decimal("0.25")}),
    )
    assert second.get("member_lots", ("m1", "L1"))["remaining"] == 50  # type: ignore[index]
    assert _commit(target, first, 0)
    assert _commit(target, second, 1)
    third = _batch(target, {}, Upsert("member_lots", ("m1", "L2"), add={"remaining": -5}))
    assert _commit(target, third, 2)

    assert _rows(target, "member_lots") == [
        {
            "member_key": "m1",
            "lot_id": "L1",
            "source": "air",
            "points": 100,
            "remaining": 50,
            "earned_at": AT,
            "available_at": AT,
            "expires_at": EXPIRES,
            "is_pending": False,
        },
        {
            "member_key": "m1",
            "lot_id": "L2",
            "source": "air",
            "points": 5,
            "remaining": 0,
            "earned_at": AT,
            "available_at": AT,
            "expires_at": EXPIRES,
            "is_pending": False,
        },
    ]
    assert _rows(target, "qualifying_spend") == [
        {
            "accrual_id": "a1",
            "member_key": "m1",
            "occurred_at": AT,
            "amount": Decimal("151.20"),
            "refunded": Decimal("1.75"),
        }
    ]
    assert target.positions() == {"create-test": 3}


@pytest.mark.parametrize(
    "table, key, values",
    [
        ("member_lots", ("m1", "L1"), _lot(7)),
        (
            "qualifying_spend",
            ("a1",),
            {"member_key": "m2", "occurred_at": AT, "amount": Decimal("9")},
        ),
    ],
)
def test_creating_a_stored_key_fails_the_whole_batch(
    ledger: Ledger,
    target: Target,
    table: str,
    key: tuple[str, ...],
    values: dict[str, object],
) -> None:
    first = _batch(
        target,
        {},
        Create("member_lots", ("m1", "L1"), _lot(100)),
        Create(
            "qualifying_spend",
            ("a1",),
            {"member_key": "m1", "occurred_at": AT, "amount": Decimal("151.20")},
        ),
    )
    assert _commit(target, first, 0)
    before = {name: _rows(target, name) for name in TABLES}

    again = _batch(
        target, {}, Create("member_lots", ("m1", "L9"), _lot(1)), Create(table, key, values)
    )
    with pytest.raises((psycopg.errors.UniqueViolation, sqlite3.IntegrityError)):
        _commit(target, again, 1)

    assert {name: _rows(target, name) for name in TABLES} == before  # L9 is not there either
    assert target.positions() == {"create-test": 1}
