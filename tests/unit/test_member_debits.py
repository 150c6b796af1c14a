"""Redemptions, reversals, adjustments and debt (§5)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.errors import (
    AlreadyReversed,
    InsufficientPoints,
    InvalidCommand,
    NotFound,
    RefundExceedsOriginal,
)
from ledger.member import Member
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
    remaining,
    reverse_accrual,
    reverse_redemption,
    utc,
)

# ------------------------------------------------------------------ redemption


def test_redemption_consumes_soonest_expiry_then_earliest_earned() -> None:
    member = new_member()
    accrue(member, "100.00", occurred_at=utc(2026, 1, 10))  # L1 expires 2028-02-01
    accrue(member, "50.00", occurred_at=utc(2025, 12, 20))  # L2 expires 2028-01-01
    accrue(member, "30.00", occurred_at=utc(2026, 1, 5))  # L3 expires 2028-02-01
    adjust(member, 20)  # L4 expires 2028-02-01, earned at T0

    redeemed = redeem(member, 190)
    assert portions(redeemed) == [("L2", 50), ("L3", 30), ("L1", 100), ("L4", 10)]
    assert [p["source"] for p in redeemed.lots] == ["shop", "shop", "shop", "operator"]
    assert redeemed.reimbursement_rate == Decimal("0.008")
    assert redeemed.reimbursement_amount == Decimal("1.52")
    assert remaining(member) == {"L1": 0, "L2": 0, "L3": 0, "L4": 10}
    assert (member.available, member.lifetime_redeemed) == (10, 190)
    assert_balanced(member)


def test_redemption_ties_on_expiry_and_earned_at_go_by_lot_id() -> None:
    member = new_member()
    accrue(member, "20.00")
    accrue(member, "20.00")
    assert portions(redeem(member, 30)) == [("L1", 20), ("L2", 10)]


def test_redemption_needs_available_points_pending_ones_do_not_count() -> None:
    member = new_member()
    accrue(member, "50.00")
    accrue(member, "100.00", pending_days=14)
    new_events(member)
    with pytest.raises(InsufficientPoints):
        redeem(member, 51)
    assert event_names(member) == []
    assert portions(redeem(member, 50)) == [("L1", 50)]
    assert (member.available, member.pending) == (0, 100)


@pytest.mark.parametrize("points", [0, -5])
def test_redemption_of_no_points_is_refused(points: int) -> None:
    member = new_member()
    accrue(member, "50.00")
    with pytest.raises(InvalidCommand):
        redeem(member, points)


# ----------------------------------------------------------- accrual reversal


def test_partial_reversals_are_floored_and_the_full_one_takes_the_rest() -> None:
    member = new_member()
    accrue(member, "99.99", tx="a1")  # 99 points
    # floor(99 * 10.00 / 99.99) = floor(9.90...) = 9, twice; the last refund takes the 81 left
    # (its own proportion would only be floor(99 * 79.99 / 99.99) = 79).
    first = reverse_accrual(member, "a1", "10.00")
    second = reverse_accrual(member, "a1", "10.00")
    last = reverse_accrual(member, "a1", "79.99")
    assert [first.points_reversed, second.points_reversed, last.points_reversed] == [9, 9, 81]
    assert [first.debt_created, second.debt_created, last.debt_created] == [0, 0, 0]
    assert (member.available, member.lifetime_reversed) == (0, 99)
    assert member.accrual("shop", "a1").refunded == Decimal("99.99")

    with pytest.raises(AlreadyReversed):
        reverse_accrual(member, "a1")
    with pytest.raises(AlreadyReversed):
        reverse_accrual(member, "a1", "0.01")
    assert_balanced(member)


def test_reversal_without_refund_amount_takes_everything_not_yet_reversed() -> None:
    member = new_member()
    accrue(member, "80.00", tx="a1")
    assert reverse_accrual(member, "a1", "20.00").points_reversed == 20
    rest = reverse_accrual(member, "a1")
    assert rest.points_reversed == 60
    assert rest.refund_amount == Decimal("60.00")


def test_proportional_reversal_counts_the_bonus_points() -> None:
    member = new_member()
    accrue(member, "100.00", tx="a1", bonus=20)  # 120 points
    assert reverse_accrual(member, "a1", "25.00").points_reversed == 30


def test_refund_larger_than_what_is_left_is_refused() -> None:
    member = new_member()
    accrue(member, "50.00", tx="a1")
    new_events(member)
    with pytest.raises(RefundExceedsOriginal):
        reverse_accrual(member, "a1", "50.01")
    assert reverse_accrual(member, "a1", "20.00").points_reversed == 20
    with pytest.raises(RefundExceedsOriginal):
        reverse_accrual(member, "a1", "30.01")
    assert reverse_accrual(member, "a1", "30.00").points_reversed == 30
    assert event_names(member) == ["AccrualReversed", "AccrualReversed"]


def test_only_the_accruing_partner_can_reverse() -> None:
    member = new_member()
    accrue(member, "50.00", tx="a1")
    with pytest.raises(NotFound):
        reverse_accrual(member, "a1", partner_id="elsewhere")


def setup_partly_redeemed_accrual() -> Member:
    """a1's lot L1 has 40 of its 100 points left; L4 (25) and L5 (15) are other lots."""
    member = new_member()
    accrue(member, "100.00", tx="a1", occurred_at=utc(2026, 1, 10))  # L1, expires 2028-02
    accrue(member, "40.00", occurred_at=utc(2025, 12, 20))  # L2, expires 2028-01
    accrue(member, "30.00", occurred_at=utc(2026, 1, 5))  # L3, expires 2028-02
    assert portions(redeem(member, 130)) == [("L2", 40), ("L3", 30), ("L1", 60)]
    adjust(member, 25)  # L4, expires 2028-02
    accrue(member, "15.00", occurred_at=utc(2025, 12, 31))  # L5, expires 2028-01
    assert member.available == 80
    return member


def test_accrual_reversal_takes_own_lot_then_soonest_expiring_lots_then_debt() -> None:
    member = setup_partly_redeemed_accrual()
    assert member.qualifying_spend(T0) == Decimal("185.00")

    reversed_ = reverse_accrual(member, "a1")
    assert reversed_.points_reversed == 100
    assert portions(reversed_) == [("L1", 40), ("L5", 15), ("L4", 25)]
    assert reversed_.debt_created == 20
    assert (member.available, member.debt, member.lifetime_reversed) == (-20, 20, 100)
    assert member.qualifying_spend(T0) == Decimal("85.00")
    assert_balanced(member)


def test_points_becoming_available_pay_debt_first() -> None:
    member = setup_partly_redeemed_accrual()
    reverse_accrual(member, "a1")
    paying = accrue(member, "50.00")
    assert paying.debt_paid == 20
    assert member.lots["L6"].remaining == 30
    assert (member.available, member.debt) == (30, 0)
    assert_balanced(member)


def test_accrual_reversal_takes_from_its_own_pending_lot_first() -> None:
    member = new_member()
    accrue(member, "100.00", tx="a1", pending_days=14)
    accrue(member, "50.00")
    assert portions(reverse_accrual(member, "a1", "50.00")) == [("L1", 50)]
    assert (member.available, member.pending) == (50, 50)
    assert_balanced(member)


# -------------------------------------------------------- redemption reversal


def test_redemption_reversal_restores_the_lots_it_took() -> None:
    member = new_member()
    accrue(member, "60.00", occurred_at=utc(2025, 12, 20))  # L1, expires first
    accrue(member, "100.00")
    assert portions(redeem(member, 100, tx="r1")) == [("L1", 60), ("L2", 40)]
    restored = reverse_redemption(member, "r1")
    assert portions(restored) == [("L1", 60), ("L2", 40)]
    assert (restored.points_restored, restored.debt_paid) == (100, 0)
    assert remaining(member) == {"L1": 60, "L2": 100}
    assert (member.available, member.lifetime_redeemed) == (160, 0)


def test_redemption_reversal_pays_debt_first_then_lots_in_listed_order() -> None:
    member = new_member()
    accrue(member, "60.00", occurred_at=utc(2025, 12, 20))  # L1
    accrue(member, "100.00", tx="a1")  # L2
    redeem(member, 100, tx="r1")  # L1 60, L2 40
    assert reverse_accrual(member, "a1").debt_created == 40  # L2's 60, then debt
    assert member.available == -40

    restored = reverse_redemption(member, "r1")
    assert restored.debt_paid == 40
    assert portions(restored) == [("L1", 60)]
    assert remaining(member) == {"L1": 60, "L2": 0}
    assert (member.available, member.debt, member.lifetime_redeemed) == (60, 0, 0)
    assert_balanced(member)


def test_redemption_can_be_reversed_once_and_only_by_its_partner() -> None:
    member = new_member()
    accrue(member, "50.00")
    redeem(member, 20, tx="r1")
    with pytest.raises(NotFound):
        reverse_redemption(member, "r1", partner_id="elsewhere")
    reverse_redemption(member, "r1")
    with pytest.raises(AlreadyReversed):
        reverse_redemption(member, "r1")
    assert member.available == 50


def test_points_restored_to_an_expired_lot_expire_on_the_next_due_run() -> None:
    member = new_member()
    accrue(member, "100.00")  # L1 expires 2028-02-01
    late_january, february = utc(2028, 1, 20), utc(2028, 2, 5)
    member.run_due(late_january, RULES)
    redeem(member, 100, tx="r1", at=late_january)
    member.run_due(february, RULES)
    new_events(member)

    reverse_redemption(member, "r1", at=february)
    assert member.lots["L1"].remaining == 100
    member.run_due(february, RULES)
    expired = new_events(member)[-1]
    assert type(expired).__name__ == "PointsExpired"
    assert expired.lots == [
        {"lot_id": "L1", "source": "shop", "points": 100, "expires_at": utc(2028, 2, 1)}
    ]
    assert (member.available, member.lifetime_expired, member.lifetime_redeemed) == (0, 100, 0)
    assert_balanced(member)


# ------------------------------------------------------------------ adjustments


def test_positive_adjustment_is_an_operator_lot_with_standard_expiry_from_now() -> None:
    member = new_member()
    march = utc(2026, 3, 10, 9)
    adjusted = adjust(member, 50, at=march)
    assert adjusted.lot == {
        "lot_id": "L1",
        "source": "operator",
        "points": 50,
        "earned_at": march,
        "available_at": march,
        "expires_at": utc(2028, 4, 1),
    }
    assert (member.available, member.lifetime_adjusted, member.lifetime_earned) == (50, 50, 0)


def test_negative_adjustment_consumes_like_a_redemption_and_needs_allow_debt_beyond() -> None:
    member = new_member()
    accrue(member, "100.00", occurred_at=utc(2025, 12, 20))  # L1, expires first
    adjust(member, 50)  # L2
    assert portions(adjust(member, -120)) == [("L1", 100), ("L2", 20)]
    new_events(member)

    with pytest.raises(InsufficientPoints):
        adjust(member, -31)
    assert event_names(member) == []

    into_debt = adjust(member, -31, allow_debt=True)
    assert portions(into_debt) == [("L2", 30)]
    assert into_debt.debt_created == 1
    assert (member.available, member.lifetime_adjusted) == (-1, -101)

    paying = adjust(member, 10)
    assert paying.debt_paid == 1
    assert (member.available, member.debt, member.lots["L3"].remaining) == (9, 0, 9)
    assert_balanced(member)


def test_zero_adjustment_is_refused() -> None:
    with pytest.raises(InvalidCommand):
        adjust(new_member(), 0)


def test_activation_pays_debt_first() -> None:
    member = new_member()
    accrue(member, "100.00", pending_days=14)  # L1 pending
    accrue(member, "30.00")  # L2
    adjust(member, -70, allow_debt=True)
    assert (member.available, member.pending, member.debt) == (-40, 100, 40)
    new_events(member)

    member.run_due(T0 + days(14), RULES)
    activated = new_events(member)[0]
    assert activated.lots == [{"lot_id": "L1", "source": "shop", "points": 100, "debt_paid": 40}]
    assert (member.available, member.pending, member.debt) == (60, 0, 0)
    assert member.lots["L1"].remaining == 60
    assert_balanced(member)


def test_pending_accrual_does_not_pay_debt_until_it_activates() -> None:
    member = new_member()
    adjust(member, -10, allow_debt=True)
    assert accrue(member, "100.00", pending_days=3).debt_paid == 0
    assert (member.available, member.pending) == (-10, 100)


def test_redemption_lot_id_ties_go_in_numeric_order_l9_before_l10() -> None:
    member = new_member()
    for _ in range(10):
        accrue(member, "1")  # L1..L10, one point each, same earned_at and expiry
    event = redeem(member, 9)
    assert [p["lot_id"] for p in event.lots] == [f"L{n}" for n in range(1, 10)]
