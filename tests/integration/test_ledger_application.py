"""The Ledger application on a real store, both backends: saves, idempotency, sweeps."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.clock import ManualClock
from ledger.commands import Adjust, Enroll, ReverseAccrual, ReverseRedemption
from ledger.errors import IdempotencyConflict, InsufficientPoints, InvalidCommand
from ledger.program import ProgramRules
from tests.integration.ledger_helpers import (
    SHOP,
    accrual,
    event_types_after,
    open_shop,
    redemption,
    stored_events,
)
from tests.unit.member_helpers import T0, utc

# --------------------------------------------------------------- one save each


def test_rejected_command_saves_nothing_not_even_due_events(
    ledger: Ledger, clock: ManualClock
) -> None:
    open_shop(ledger, "m1")
    ledger.execute(accrual("a1", "100.00", T0, pending_days=14))
    ledger.execute(accrual("a2", "30.00", T0))
    clock.advance(timedelta(days=15))
    before = stored_events(ledger)

    with pytest.raises(InsufficientPoints):
        ledger.execute(redemption("r1", 131, clock.now()))  # 130 once a1 activates
    assert stored_events(ledger) == before
    member = ledger.member("m1")
    assert (member.available, member.pending) == (30, 100)

    outcome = ledger.execute(redemption("r1", 130, clock.now()))
    assert outcome.body["balance"] == {"available": 0, "pending": 0, "tier": "basic"}
    # The due activation goes first, in the same save as the redemption and its key.
    assert event_types_after(ledger, before) == [
        "Member.PointsActivated",
        "Member.PointsRedeemed",
        "TransactionKey.TransactionRecorded",
    ]
    assert outcome.position == stored_events(ledger)


def test_rejected_command_in_a_batch_leaves_the_others_intact(
    ledger: Ledger, clock: ManualClock
) -> None:
    open_shop(ledger, "m1")
    ledger.execute(accrual("a1", "100.00", T0, pending_days=1))
    clock.advance(timedelta(days=2))
    before = stored_events(ledger)

    results = ledger.execute_batch(
        [redemption("r1", 101, clock.now()), accrual("a2", "5.00", clock.now())]
    )
    assert isinstance(results[0], InsufficientPoints)
    assert not isinstance(results[1], Exception)
    assert results[1].body["balance"]["available"] == 105
    assert event_types_after(ledger, before) == [
        "Member.PointsActivated",
        "Member.PointsAccrued",
        "TransactionKey.TransactionRecorded",
    ]


# ---------------------------------------------------------------- idempotency


def test_retry_returns_the_original_result_and_position(ledger: Ledger, clock: ManualClock) -> None:
    open_shop(ledger, "m1")
    command = accrual("a1", "42.50", T0, bonus=3)
    first = ledger.execute(command)
    assert first.replayed is False
    assert first.body["points"] == 45
    assert first.position == stored_events(ledger)
    before = stored_events(ledger)

    clock.advance(timedelta(minutes=1))
    again = ledger.execute(command)
    assert again.replayed is True
    assert again.body == first.body
    assert again.position == first.position
    assert stored_events(ledger) == before
    assert ledger.member("m1").available == 45


def test_same_transaction_id_with_another_request_conflicts(ledger: Ledger) -> None:
    open_shop(ledger, "m1")
    ledger.execute(accrual("t1", "10.00", T0))
    before = stored_events(ledger)
    with pytest.raises(IdempotencyConflict):
        ledger.execute(accrual("t1", "11.00", T0))
    with pytest.raises(IdempotencyConflict):  # one id space for all of a partner's operations
        ledger.execute(redemption("t1", 5, T0))
    assert stored_events(ledger) == before


def test_rejected_command_does_not_consume_its_transaction_id(ledger: Ledger) -> None:
    open_shop(ledger, "m1")
    with pytest.raises(InsufficientPoints):
        ledger.execute(redemption("r1", 50, T0))
    ledger.execute(accrual("a1", "100.00", T0))
    outcome = ledger.execute(redemption("r1", 50, T0))
    assert outcome.replayed is False
    assert outcome.body["lots"] == [{"lot_id": "L1", "points": 50}]


def test_enrollment_and_adjustments_are_idempotent(ledger: Ledger) -> None:
    open_shop(ledger)
    enroll = Enroll(member_id="m1", enrolled_at=T0 - timedelta(days=1))
    first = ledger.execute(enroll)
    again = ledger.execute(enroll)
    assert (again.replayed, again.body, again.position) == (True, first.body, first.position)
    with pytest.raises(IdempotencyConflict):
        ledger.execute(replace(enroll, enrolled_at=T0))

    adjust = Adjust(adjustment_id="adj1", member_id="m1", points=7, reason="goodwill")
    first = ledger.execute(adjust)
    again = ledger.execute(adjust)
    assert (again.replayed, again.body, again.position) == (True, first.body, first.position)
    with pytest.raises(IdempotencyConflict):
        ledger.execute(replace(adjust, points=8))
    assert ledger.member("m1").available == 7


def test_enrollment_bonus_comes_from_the_program(ledger: Ledger) -> None:
    ledger.configure_program(ProgramRules(enrollment_bonus_points=250))
    open_shop(ledger, "m1")
    member = ledger.member("m1")
    assert (member.available, member.lifetime_earned) == (250, 250)
    assert member.lots["L1"].source == "operator"
    assert member.lots["L1"].expires_at == utc(2028, 2, 1)


# ---------------------------------------------------------------------- sweeps


def test_sweep_reports_what_it_emitted_and_is_idempotent(
    ledger: Ledger, clock: ManualClock
) -> None:
    open_shop(ledger, "a", "b", "c")
    ledger.execute(accrual("a1", "100.00", T0, member_id="a", pending_days=14))
    ledger.execute(accrual("b1", "50.00", T0, member_id="b"))
    ledger.execute(accrual("c1", "3600.00", T0, member_id="c"))  # silver until 2027-01-15

    clock.set(utc(2026, 2, 1))
    report = ledger.sweep()
    assert (report.as_of, report.activated_points, report.expired_points) == (
        utc(2026, 2, 1),
        100,
        0,
    )
    assert (report.members_touched, report.tier_changes) == (1, 0)
    assert report.position == stored_events(ledger)

    before = stored_events(ledger)
    repeat = ledger.sweep(utc(2026, 2, 1))
    assert (repeat.activated_points, repeat.expired_points, repeat.members_touched) == (0, 0, 0)
    assert (repeat.tier_changes, repeat.position) == (0, None)
    assert stored_events(ledger) == before

    clock.set(utc(2028, 2, 1))
    report = ledger.sweep()
    assert (report.activated_points, report.expired_points) == (0, 100 + 50 + 3600)
    assert (report.members_touched, report.tier_changes) == (3, 1)
    c = ledger.member("c")
    assert (c.tier, c.available, c.lifetime_expired) == ("basic", 0, 3600)
    assert ledger.sweep().members_touched == 0


def test_sweep_refuses_a_future_as_of(ledger: Ledger, clock: ManualClock) -> None:
    with pytest.raises(InvalidCommand):
        ledger.sweep(clock.now() + timedelta(seconds=1))


# ------------------------------------------------------------ event round trip

EVENT_TYPES = {
    "Program.ProgramCreated",
    "Program.ProgramConfigured",
    "Partner.PartnerRegistered",
    "Partner.PartnerSuspended",
    "ApiKey.KeyIssued",
    "ApiKey.KeyRevoked",
    "TransactionKey.TransactionRecorded",
    "Member.MemberEnrolled",
    "Member.BonusGranted",
    "Member.PointsAccrued",
    "Member.TierChanged",
    "Member.PointsActivated",
    "Member.PointsExpired",
    "Member.PointsRedeemed",
    "Member.RedemptionReversed",
    "Member.AccrualReversed",
    "Member.PointsAdjusted",
    "Member.MemberSuspended",
    "Member.MemberReactivated",
    "Member.MemberClosed",
}


def test_every_event_type_round_trips_through_the_store(ledger: Ledger, clock: ManualClock) -> None:
    saved: list[Any] = []
    ledger.save_observers.append(saved.extend)

    ledger.configure_program(ProgramRules(enrollment_bonus_points=10))
    ledger.register_partner(SHOP)
    _, key = ledger.issue_key("partner", "shop", "till 1")
    ledger.revoke_key(key.key_id)
    ledger.execute(Enroll(member_id="m1", birth_date=date(1990, 5, 17), partner_id="shop"))
    ledger.execute(accrual("a1", "3600.00", T0, bonus=5))
    ledger.execute(accrual("a2", "10.00", T0, pending_days=3))
    ledger.execute(redemption("r1", 100, T0))
    ledger.execute(ReverseRedemption("shop", "x1", "r1", T0, reason="cancelled"))
    ledger.execute(ReverseAccrual("shop", "x2", "a1", T0, Decimal("100.00")))
    ledger.execute(Adjust(adjustment_id="adj1", member_id="m1", points=-5, reason="fix"))
    ledger.change_member_status("m1", "suspend")
    ledger.change_member_status("m1", "reactivate")
    clock.advance(timedelta(days=4))
    ledger.sweep()
    clock.set(utc(2028, 2, 1))
    ledger.sweep()
    ledger.change_member_status("m1", "close")
    ledger.suspend_partner("shop")

    assert {type(e).__qualname__ for e in saved} == EVENT_TYPES
    for original in saved:
        (stored,) = ledger.events.get(
            original.originator_id,
            gt=original.originator_version - 1,
            lte=original.originator_version,
        )
        assert type(stored) is type(original)
        assert stored == original
