"""The facts member events record for read models: the balance right after each event, and
the points taken from pending lots; and what events recorded before those facts (version 1)
replay with."""

from __future__ import annotations

from typing import Any

from ledger.member import Member
from ledger.program import ProgramRules
from tests.unit.member_helpers import (
    T0,
    accrue,
    adjust,
    days,
    redeem,
    reverse_accrual,
    reverse_redemption,
    utc,
)

ONE_MONTH = ProgramRules(points_lifetime_months=1)  # January lots expire on 2026-03-01


def enrolled() -> Member:
    """A member whose enrollment is still among its pending events."""
    return Member(
        timestamp=T0,
        member_id="m1",
        enrolled_at=T0,
        birth_date=None,
        enrolled_by="operator",
        tier="basic",
    )


def replayed(member: Member) -> list[tuple[str, Any, Any, Any]]:
    """Each event of `member` applied one at a time: (event, the facts it records, and the
    balance the aggregate holds right after it), with the event's from_pending if any."""
    seen = []
    aggregate = None
    for domain_event in member.collect_events():
        aggregate = domain_event.mutate(aggregate)
        assert aggregate is not None
        if isinstance(domain_event, Member.BalanceEvent):
            recorded = (domain_event.available_after, domain_event.pending_after)
            assert recorded == (aggregate.available, aggregate.pending), type(domain_event)
        seen.append(
            (
                type(domain_event).__name__,
                getattr(domain_event, "available_after", None),
                getattr(domain_event, "pending_after", None),
                getattr(domain_event, "from_pending", None),
            )
        )
    return seen


def test_every_event_records_the_balance_after_it_and_what_came_from_pending_lots() -> None:
    member = enrolled()
    accrue(member, "100.00", tx="t1", pending_days=60, rules=ONE_MONTH)  # L1 until Mar 16
    accrue(member, "50.00", tx="t2", rules=ONE_MONTH)  # L2
    reverse_accrual(member, "t1", "30.00", rules=ONE_MONTH)  # from the pending lot
    redeem(member, 40, tx="r1", rules=ONE_MONTH)
    reverse_accrual(member, "t2", rules=ONE_MONTH)  # 10 left in L2, 40 of debt
    adjust(member, 15, rules=ONE_MONTH)  # pays 15 of the debt
    reverse_redemption(member, "r1", rules=ONE_MONTH)  # pays the 25 left, 15 back to L2
    member.run_due(utc(2026, 3, 1), ONE_MONTH)  # L1 expires while still pending
    member.suspend(utc(2026, 3, 2))
    member.reactivate(utc(2026, 3, 3))
    member.run_due(utc(2026, 3, 17), ONE_MONTH)  # L1 activates, empty
    assert replayed(member) == [
        ("MemberEnrolled", None, None, None),
        ("PointsAccrued", 0, 100, None),
        ("PointsAccrued", 50, 100, None),
        ("AccrualReversed", 50, 70, 30),
        ("PointsRedeemed", 10, 70, None),
        ("AccrualReversed", -40, 70, 0),
        ("PointsAdjusted", -25, 70, None),
        ("RedemptionReversed", 15, 70, None),
        ("PointsExpired", 0, 0, 70),  # and L2's 15
        ("MemberSuspended", 0, 0, None),
        ("MemberReactivated", 0, 0, None),
        ("PointsActivated", 0, 0, None),
    ]


def test_activation_paying_debt_a_downgrade_and_a_close_with_both_kinds_of_lot() -> None:
    member = enrolled()
    accrue(member, "4000.00", tx="t1")  # silver
    adjust(member, -4100, allow_debt=True)  # 100 of debt
    accrue(member, "300.00", tx="t2", pending_days=5)  # pays 100 when it activates
    member.run_due(T0 + days(5), ProgramRules())
    accrue(member, "30.00", tx="t3", at=T0 + days(400), pending_days=3)
    member.run_due(T0 + days(400), ProgramRules())  # the guarantee and the spend are over
    member.close(T0 + days(400), "moved away")
    assert replayed(member) == [
        ("MemberEnrolled", None, None, None),
        ("PointsAccrued", 4000, 0, None),
        ("TierChanged", 4000, 0, None),
        ("PointsAdjusted", -100, 0, None),
        ("PointsAccrued", -100, 375, None),  # 300 x 1.25 at silver
        ("PointsActivated", 275, 0, None),
        ("PointsAccrued", 275, 37, None),  # still silver
        ("TierChanged", 275, 37, None),
        ("MemberClosed", 0, 0, 37),
    ]


def test_events_recorded_before_these_facts_replay_with_none_for_them() -> None:
    taking: dict[str, Any] = {"lots": [], "as_of": T0}
    Member.PointsExpired.upcast_v1_v2(taking)
    assert taking == {
        "lots": [],
        "as_of": T0,
        "available_after": None,
        "pending_after": None,
        "from_pending": None,
    }
    suspended: dict[str, Any] = {"timestamp": T0}
    Member.MemberSuspended.upcast_v1_v2(suspended)
    assert suspended == {"timestamp": T0, "available_after": None, "pending_after": None}
    assert Member.PointsExpired.class_version == Member.MemberSuspended.class_version == 2
