"""Accrual lots: expiry, pending and activation, the points formula, validation (§5)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from ledger.errors import CurrencyMismatch, InvalidCommand, OccurredAtOutOfRange
from ledger.program import ProgramRules, lot_expiry
from tests.unit.member_helpers import (
    RULES,
    SHOP,
    T0,
    accrue,
    days,
    event_names,
    new_member,
    redeem,
    reverse_accrual,
    reverse_redemption,
    utc,
)

SHOP_15 = replace(SHOP, earn_rate=Decimal("1.5"))


# ------------------------------------------------------------------ expires_at


@pytest.mark.parametrize(
    ("earned_at", "lifetime", "expires_at"),
    [
        (utc(2026, 1, 15), 24, utc(2028, 2, 1)),  # the example in ARCHITECTURE.md
        (utc(2026, 1, 1), 24, utc(2028, 2, 1)),
        (datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC), 24, utc(2028, 2, 1)),
        (utc(2026, 12, 31, 23, 59), 24, utc(2029, 1, 1)),  # year end rolls the year
        (utc(2026, 12, 1), 0, utc(2027, 1, 1)),
        (utc(2026, 11, 30), 1, utc(2027, 1, 1)),
        (utc(2026, 1, 15), 36, utc(2029, 2, 1)),
        (utc(2026, 6, 10), 12, utc(2027, 7, 1)),
    ],
)
def test_lot_expiry_is_start_of_next_month_plus_lifetime(
    earned_at: datetime, lifetime: int, expires_at: datetime
) -> None:
    assert lot_expiry(earned_at, lifetime) == expires_at


@pytest.mark.parametrize(
    ("earned_at", "expires_at"),
    [
        # 2026-01-31T23:30-02:00 is already February in UTC.
        (datetime(2026, 1, 31, 23, 30, tzinfo=timezone(timedelta(hours=-2))), utc(2028, 3, 1)),
        # 2026-02-01T00:30+01:00 is still January in UTC.
        (datetime(2026, 2, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))), utc(2028, 2, 1)),
    ],
)
def test_lot_expiry_month_arithmetic_is_in_utc(earned_at: datetime, expires_at: datetime) -> None:
    expiry = lot_expiry(earned_at, 24)
    assert expiry == expires_at
    assert expiry.utcoffset() == timedelta(0)


def test_accrual_lot_expires_from_occurred_at_not_recording_time() -> None:
    member = new_member()
    accrued = accrue(member, "10.00", occurred_at=utc(2025, 12, 20))
    assert accrued.lot["expires_at"] == utc(2028, 1, 1)
    assert accrued.lot["earned_at"] == utc(2025, 12, 20)
    assert member.lots["L1"].expires_at == utc(2028, 1, 1)


def test_accrual_lot_uses_program_lifetime() -> None:
    member = new_member()
    accrued = accrue(member, "10.00", rules=ProgramRules(points_lifetime_months=36))
    assert accrued.lot["expires_at"] == utc(2029, 2, 1)


# ------------------------------------------------------- available_at, pending


def test_lot_with_pending_days_is_pending_until_available_at() -> None:
    member = new_member()
    accrued = accrue(member, "100.00", pending_days=14)
    assert accrued.lot["available_at"] == utc(2026, 1, 29, 12)
    assert accrued.pending is True
    assert (member.available, member.pending) == (0, 100)


def test_partner_default_pending_days_apply_when_request_has_none() -> None:
    member = new_member()
    accrued = accrue(member, "100.00", partner=replace(SHOP, pending_days=30))
    assert accrued.pending_days == 30
    assert accrued.lot["available_at"] == utc(2026, 2, 14, 12)
    assert member.pending == 100


def test_request_pending_days_override_partner_default() -> None:
    member = new_member()
    accrued = accrue(member, "100.00", pending_days=0, partner=replace(SHOP, pending_days=30))
    assert accrued.pending is False
    assert (member.available, member.pending) == (100, 0)


def test_backdated_lot_whose_available_at_has_passed_is_available_at_once() -> None:
    member = new_member()
    # occurred 14 days before T0: available_at == T0, which is not after the recording time.
    at_once = accrue(member, "100.00", occurred_at=T0 - days(14), pending_days=14)
    still_pending = accrue(member, "50.00", occurred_at=T0 - days(14), pending_days=15)
    assert at_once.pending is False
    assert still_pending.pending is True
    assert (member.available, member.pending) == (100, 50)


def test_activation_is_due_exactly_at_available_at() -> None:
    member = new_member()
    accrue(member, "100.00", pending_days=14)
    assert event_names(member) == ["PointsAccrued"]

    member.run_due(utc(2026, 1, 29, 11, 59), RULES)
    assert event_names(member) == []
    member.run_due(utc(2026, 1, 29, 12), RULES)
    activated = member.collect_events()
    assert [type(e).__name__ for e in activated] == ["PointsActivated"]
    assert activated[0].lots == [{"lot_id": "L1", "source": "shop", "points": 100, "debt_paid": 0}]
    assert (member.available, member.pending) == (100, 0)


# -------------------------------------------------------------- points formula


def test_points_are_floored_amount_times_earn_rate() -> None:
    member = new_member()
    accrued = accrue(member, "123.45", partner=SHOP_15)  # 185.175
    assert (accrued.base_points, accrued.points) == (185, 185)
    assert accrued.tier_multiplier == Decimal("1.0")
    assert accrue(member, "9.99").points == 9


def test_points_apply_the_tier_multiplier_and_add_bonus_points_to_the_lot() -> None:
    member = new_member(tier="silver")
    accrued = accrue(member, "123.45", partner=SHOP_15, bonus=10)
    # floor(123.45 * 1.5 * 1.25) = floor(231.46875) = 231, plus the bonus.
    assert accrued.base_points == 185
    assert accrued.tier_multiplier == Decimal("1.25")
    assert accrued.bonus_points == 10
    assert accrued.points == 241
    assert accrued.lot["points"] == 241
    assert member.lots["L1"].remaining == 241
    assert member.lifetime_earned == 241


def test_multiplier_is_that_of_the_tier_held_before_the_accrual() -> None:
    member = new_member()
    upgrading = accrue(member, "3600.00")
    assert upgrading.tier == "basic"
    assert upgrading.points == 3600
    assert member.tier == "silver"
    assert accrue(member, "100.00").points == 125


@pytest.mark.parametrize(
    ("amount", "bonus", "field"),
    [
        ("0.00", 0, "amount"),
        ("-5.00", 0, "amount"),
        ("10.00", -1, "bonus_points"),
        ("1.005", 0, "amount"),
    ],
)
def test_invalid_accruals_are_refused(amount: str, bonus: int, field: str) -> None:
    member = new_member()
    with pytest.raises(InvalidCommand) as refused:
        accrue(member, amount, bonus=bonus)
    assert refused.value.field == field
    assert member.pending_events == []


def test_currency_must_be_the_partners() -> None:
    member = new_member()
    with pytest.raises(CurrencyMismatch):
        accrue(member, "10.00", currency="USD")
    assert member.pending_events == []
    assert member.lots == {}


# ----------------------------------------------------------- occurred_at range


@pytest.mark.parametrize(
    "occurred_at",
    [T0 + timedelta(minutes=5), T0 - days(90), T0],
)
def test_occurred_at_within_range_is_accepted(occurred_at: datetime) -> None:
    member = new_member()
    accrue(member, "10.00", occurred_at=occurred_at)
    assert member.lifetime_earned == 10


@pytest.mark.parametrize(
    "occurred_at",
    [T0 + timedelta(minutes=5, microseconds=1), T0 - days(90) - timedelta(microseconds=1)],
)
def test_occurred_at_out_of_range_is_refused(occurred_at: datetime) -> None:
    member = new_member()
    with pytest.raises(OccurredAtOutOfRange):
        accrue(member, "10.00", occurred_at=occurred_at)
    assert member.pending_events == []


def test_max_backdate_days_is_a_program_setting() -> None:
    member = new_member()
    rules = ProgramRules(max_backdate_days=30)
    accrue(member, "10.00", occurred_at=T0 - days(30), rules=rules)
    with pytest.raises(OccurredAtOutOfRange):
        accrue(member, "10.00", occurred_at=T0 - days(31), rules=rules)


def test_redemptions_and_reversals_check_occurred_at() -> None:
    member = new_member()
    accrue(member, "100.00", tx="a1")
    redeem(member, 10, tx="r1")
    late = T0 + timedelta(minutes=6)
    with pytest.raises(OccurredAtOutOfRange):
        member.redeem(T0, RULES, SHOP, "red", "r2", 10, late, None)
    with pytest.raises(OccurredAtOutOfRange):
        member.reverse_accrual(T0, RULES, "shop", "rev", "x1", "a1", None, late, None)
    with pytest.raises(OccurredAtOutOfRange):
        member.reverse_redemption(T0, RULES, "shop", "rev", "x2", "r1", late, None)
    # Both originals are untouched and can still be reversed.
    reverse_redemption(member, "r1")
    reverse_accrual(member, "a1")
    assert member.available == 0
