"""Merged tables (`Table.merged`) on both backends: the runner writes a batch's changes of a
row into whatever row is stored, without loading it, and the result is exactly what loading,
changing and replacing the row gives."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from ledger.application import Ledger
from projections.definitions import BREAKAGE_DAYS, PARTNER_DAYS, SPEND, TIERS
from projections.model import Upsert
from projections.runner import BatchRows
from projections.store import Target

DAY = date(2026, 3, 1)
AT = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
TABLES = {t.name: t for t in (PARTNER_DAYS, BREAKAGE_DAYS, SPEND, TIERS)}


def _commit(target: Target, old: int, *changes: Upsert) -> None:
    rows = BatchRows(target, TABLES)
    for change in changes:
        rows.apply(change)
    assert rows.upserts() == {}  # merged tables are never written as whole rows
    assert target.commit_batch({}, {}, ["merge-test"], old, old + 1, rows.merges())


def _rows(target: Target, name: str) -> list[dict[str, object]]:
    return list(target.iter_rows(TABLES[name]))


def test_merges_add_numbers_keep_what_is_not_assigned_and_create_missing_rows(
    ledger: Ledger, target: Target
) -> None:
    air = ("air", DAY)
    _commit(
        target,
        0,
        Upsert(
            "partner_positions",
            air,
            set={"currency": "EUR"},
            add={"points_issued": 10, "amount_funded": Decimal("0.10")},
        ),
        Upsert(
            "partner_positions",
            air,
            set={"currency": "EUR"},
            add={"points_issued": 5, "amount_funded": Decimal("2.205")},
        ),
        Upsert(
            "qualifying_spend",
            ("a1",),
            set={"member_key": "m1", "occurred_at": AT, "amount": Decimal("151.20")},
        ),
        Upsert("member_tiers", ("m1",), set={"tier": "basic", "since": AT}),
    )
    _commit(
        target,
        1,
        Upsert(
            "partner_positions",
            air,
            add={"points_redeemed": 7, "amount_reimbursed": Decimal("0.056")},
        ),
        Upsert(
            "partner_positions",
            air,
            set={"currency": "EUR"},
            add={"points_issued": 1, "amount_funded": Decimal("0.01")},
        ),
        Upsert("breakage_daily", ("operator", DAY), add={"points_expired": 3}),
        Upsert("qualifying_spend", ("a1",), add={"refunded": Decimal("1.5")}),
        Upsert(
            "member_tiers",
            ("m1",),
            set={"tier": "silver", "since": AT, "guaranteed_until": AT.replace(year=2027)},
        ),
    )
    _commit(
        target,
        2,
        Upsert("qualifying_spend", ("a1",), add={"refunded": Decimal("0.25")}),
        Upsert("member_tiers", ("m1",), set={"tier": "gold", "since": AT}),
    )

    assert _rows(target, "partner_positions") == [
        {
            "partner_id": "air",
            "day": DAY,
            "currency": "EUR",
            "points_issued": 16,
            "amount_funded": Decimal("2.315"),
            "points_reversed": 0,
            "amount_reversed": Decimal("0"),
            "points_redeemed": 7,
            "amount_reimbursed": Decimal("0.056"),
            "points_restored": 0,
            "amount_restored": Decimal("0"),
        }
    ]
    assert _rows(target, "breakage_daily") == [
        {"source": "operator", "day": DAY, "points_expired": 3, "points_forfeited": 0}
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
    # The last change did not assign the guarantee, so the stored one stays.
    assert _rows(target, "member_tiers") == [
        {
            "member_key": "m1",
            "tier": "gold",
            "since": AT,
            "guaranteed_until": AT.replace(year=2027),
        }
    ]


def test_a_merged_table_cannot_be_read(ledger: Ledger, target: Target) -> None:
    rows = BatchRows(target, TABLES)
    with pytest.raises(RuntimeError, match="merged table"):
        rows.get("member_tiers", ("m1",))
