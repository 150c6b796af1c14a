"""Tiers, due events, member status and the enrollment bonus (§5)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from ledger.errors import MemberNotActive
from ledger.program import ProgramRules
from tests.unit.member_helpers import (
    RULES,
    T0,
    accrue,
    adjust,
    assert_balanced,
    days,
    event_names,
    new_events,
    new_member,
    portions,
    redeem,
    reverse_accrual,
    reverse_redemption,
    utc,
)

GUARANTEE_END = utc(2027, 1, 15, 12)  # T0 + 365 days


# ----------------------------------------------------------------------- tiers


def test_upgrade_is_recorded_with_the_accrual_that_earns_it() -> None:
    member = new_member()
    accrue(member, "3599.99")
    assert event_names(member) == ["PointsAccrued"]
    accrue(member, "0.01")
    events = new_events(member)
    assert [type(e).__name__ for e in events] == ["PointsAccrued", "TierChanged"]
    change = events[1]
    assert (change.from_tier, change.to_tier, change.reason) == ("basic", "silver", "upgrade")
    assert change.qualifying_spend == Decimal("3600.00")
    assert change.guaranteed_until == GUARANTEE_END
    assert (member.tier, member.tier_since, member.tier_guaranteed_until) == (
        "silver",
        T0,
        GUARANTEE_END,
    )


def test_upgrade_may_skip_tiers() -> None:
    member = new_member()
    accrue(member, "12000.00")
    changes = [e for e in new_events(member) if type(e).__name__ == "TierChanged"]
    assert [(c.from_tier, c.to_tier) for c in changes] == [("basic", "diamond")]


def test_backdated_spend_within_365_days_counts() -> None:
    member = new_member()
    accrue(member, "3000.00", occurred_at=T0 - days(90))
    accrue(member, "600.00")
    assert member.qualifying_spend(T0) == Decimal("3600.00")
    assert member.tier == "silver"


def test_spend_dated_a_few_minutes_ahead_counts_towards_the_upgrade() -> None:
    member = new_member()
    accrue(member, "3600.00", occurred_at=T0 + timedelta(minutes=2))
    assert member.tier == "silver"


def test_reversal_never_downgrades_inside_the_guarantee() -> None:
    member = new_member()
    accrue(member, "3600.00", tx="big")
    new_events(member)
    reverse_accrual(member, "big", at=T0 + days(10))
    assert member.qualifying_spend(T0 + days(10)) == Decimal("0.00")
    member.run_due(GUARANTEE_END - timedelta(microseconds=1), RULES)
    assert event_names(member) == ["AccrualReversed"]
    assert member.tier == "silver"

    member.run_due(GUARANTEE_END, RULES)
    change = new_events(member)[-1]
    assert (change.from_tier, change.to_tier, change.reason) == ("silver", "basic", "downgrade")
    assert change.guaranteed_until is None


def test_downgrade_after_guarantee_may_drop_several_tiers_and_carries_no_guarantee() -> None:
    member = new_member()
    accrue(member, "12000.00")
    june = utc(2026, 6, 1)
    # Diamond's multiplier 2.0 applies to the June accrual; it keeps silver's spend in the window.
    assert accrue(member, "3600.00", at=june, occurred_at=june).points == 7200
    new_events(member)

    member.run_due(GUARANTEE_END - timedelta(seconds=1), RULES)
    assert event_names(member) == []
    # At GUARANTEE_END the T0 accrual is exactly 365 days old: out of the window.
    member.run_due(GUARANTEE_END, RULES)
    change = new_events(member)
    assert [(c.from_tier, c.to_tier) for c in change] == [("diamond", "silver")]
    assert member.tier_guaranteed_until is None

    member.run_due(utc(2027, 5, 31, 23, 59), RULES)
    assert event_names(member) == []
    member.run_due(utc(2027, 6, 1), RULES)  # the June accrual has left the window
    change = new_events(member)
    assert [(c.from_tier, c.to_tier) for c in change] == [("silver", "basic")]
    member.run_due(utc(2027, 12, 1), RULES)  # basic is the floor
    assert event_names(member) == []


def test_due_events_run_activations_then_expiries_then_downgrade() -> None:
    rules = ProgramRules(points_lifetime_months=12)
    member = new_member()
    accrue(member, "12000.00", rules=rules)  # L1 expires 2027-02-01
    january = utc(2027, 1, 10, 12)
    member.run_due(january, rules)
    pending = accrue(member, "100.00", at=january, pending_days=30, rules=rules)
    assert pending.points == 200
    assert pending.lot["available_at"] == utc(2027, 2, 9, 12)
    new_events(member)

    member.run_due(utc(2027, 2, 10), rules)
    events = new_events(member)
    assert [type(e).__name__ for e in events] == ["PointsActivated", "PointsExpired", "TierChanged"]
    assert portions(events[0]) == [("L2", 200)]
    assert portions(events[1]) == [("L1", 12000)]
    assert events[1].lots[0]["expires_at"] == utc(2027, 2, 1)
    assert (events[2].from_tier, events[2].to_tier) == ("diamond", "basic")
    assert events[2].qualifying_spend == Decimal("100.00")
    assert (member.available, member.pending, member.lifetime_expired) == (200, 0, 12000)
    assert_balanced(member)


def test_expiry_is_due_at_expires_at() -> None:
    member = new_member()
    accrue(member, "100.00")
    redeem(member, 30)
    new_events(member)
    member.run_due(utc(2028, 1, 31, 23, 59), RULES)
    assert event_names(member) == []
    member.run_due(utc(2028, 2, 1), RULES)
    expired = new_events(member)
    assert [portions(e) for e in expired] == [[("L1", 70)]]
    assert (member.available, member.lifetime_expired) == (0, 70)
    member.run_due(utc(2028, 2, 1), RULES)
    assert event_names(member) == []


# ---------------------------------------------------------------------- status


def test_suspended_member_cannot_earn_or_burn_but_reversals_and_adjustments_apply() -> None:
    member = new_member()
    accrue(member, "100.00", tx="a1")
    redeem(member, 30, tx="r1")
    member.suspend(T0)
    assert member.status == "suspended"
    new_events(member)

    with pytest.raises(MemberNotActive):
        accrue(member, "10.00")
    with pytest.raises(MemberNotActive):
        redeem(member, 10)
    assert event_names(member) == []

    reverse_redemption(member, "r1")
    assert member.available == 100
    assert reverse_accrual(member, "a1", "50.00").points_reversed == 50
    adjust(member, 20)
    adjust(member, -10)
    assert member.available == 60
    assert_balanced(member)

    member.reactivate(T0)
    accrue(member, "10.00")
    assert (member.status, member.available) == ("active", 70)


def test_closing_forfeits_every_remaining_point_as_expired() -> None:
    member = new_member()
    accrue(member, "100.00")
    accrue(member, "40.00", pending_days=14)
    redeem(member, 30)
    new_events(member)

    member.close(T0)
    closed = new_events(member)
    assert [type(e).__name__ for e in closed] == ["MemberClosed"]
    assert portions(closed[0]) == [("L1", 70), ("L2", 40)]
    assert (member.status, member.available, member.pending) == ("closed", 0, 0)
    assert member.lifetime_expired == 110
    assert_balanced(member)


def test_closed_member_refuses_everything_and_has_nothing_due() -> None:
    member = new_member()
    accrue(member, "100.00", tx="a1")
    redeem(member, 10, tx="r1")
    member.close(T0)
    new_events(member)
    for refused in (
        lambda: accrue(member, "10.00"),
        lambda: redeem(member, 1),
        lambda: adjust(member, 5),
        lambda: reverse_accrual(member, "a1"),
        lambda: reverse_redemption(member, "r1"),
        lambda: member.suspend(T0),
        lambda: member.reactivate(T0),
    ):
        with pytest.raises(MemberNotActive):
            refused()
    member.run_due(utc(2030, 1, 1), RULES)
    member.close(T0)
    assert event_names(member) == []


# ------------------------------------------------------------ enrollment bonus


def test_enrollment_bonus_is_an_operator_lot() -> None:
    member = new_member()
    member.grant_enrollment_bonus(T0, ProgramRules(enrollment_bonus_points=500))
    bonus = new_events(member)
    assert [type(e).__name__ for e in bonus] == ["BonusGranted"]
    assert bonus[0].lot == {
        "lot_id": "L1",
        "source": "operator",
        "points": 500,
        "earned_at": T0,
        "available_at": T0,
        "expires_at": utc(2028, 2, 1),
    }
    assert (member.available, member.lifetime_earned) == (500, 500)
    assert_balanced(member)


def test_no_enrollment_bonus_event_when_the_program_has_none() -> None:
    member = new_member()
    member.grant_enrollment_bonus(T0, RULES)
    assert event_names(member) == []
