"""Small builders for driving a `Member` aggregate directly, without any store."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger.member import Member
from ledger.partner import PartnerTerms
from ledger.program import ProgramRules

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
RULES = ProgramRules()
SHOP = PartnerTerms(
    partner_id="shop",
    name="Shop",
    currency="EUR",
    earn_rate=Decimal("1"),
    funding_rate=Decimal("0.01"),
    reimbursement_rate=Decimal("0.008"),
    pending_days=0,
)

_ids = itertools.count(1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def new_member(at: datetime = T0, tier: str = "basic") -> Member:
    member = Member(
        timestamp=at,
        member_id=f"m{next(_ids)}",
        enrolled_at=at,
        birth_date=None,
        enrolled_by="operator",
        tier=tier,
    )
    member.collect_events()
    return member


def new_events(member: Member) -> list[Any]:
    """The events triggered since the last call (and forget them, as a save would)."""
    return list(member.collect_events())


def event_names(member: Member) -> list[str]:
    return [type(e).__name__ for e in new_events(member)]


def accrue(
    member: Member,
    amount: str,
    *,
    tx: str | None = None,
    at: datetime = T0,
    occurred_at: datetime | None = None,
    pending_days: int | None = None,
    bonus: int = 0,
    partner: PartnerTerms = SHOP,
    rules: ProgramRules = RULES,
    currency: str = "EUR",
) -> Any:
    """Accrue at `at` (the recording time) and return the PointsAccrued event."""
    member.accrue(
        at,
        rules,
        partner,
        f"acc-{next(_ids)}",
        tx or f"t{next(_ids)}",
        Decimal(amount),
        currency,
        occurred_at or at,
        pending_days,
        bonus,
    )
    return last(member, "PointsAccrued")


def redeem(
    member: Member,
    points: int,
    *,
    tx: str | None = None,
    at: datetime = T0,
    partner: PartnerTerms = SHOP,
    rules: ProgramRules = RULES,
) -> Any:
    member.redeem(at, rules, partner, f"red-{next(_ids)}", tx or f"r{next(_ids)}", points, at, None)
    return last(member, "PointsRedeemed")


def reverse_accrual(
    member: Member,
    accrual_tx: str,
    refund: str | None = None,
    *,
    at: datetime = T0,
    partner_id: str = "shop",
    rules: ProgramRules = RULES,
) -> Any:
    member.reverse_accrual(
        at,
        rules,
        partner_id,
        f"rev-{next(_ids)}",
        f"x{next(_ids)}",
        accrual_tx,
        None if refund is None else Decimal(refund),
        at,
        None,
    )
    return last(member, "AccrualReversed")


def reverse_redemption(
    member: Member,
    redemption_tx: str,
    *,
    at: datetime = T0,
    partner_id: str = "shop",
    rules: ProgramRules = RULES,
) -> Any:
    member.reverse_redemption(
        at, rules, partner_id, f"rev-{next(_ids)}", f"x{next(_ids)}", redemption_tx, at, None
    )
    return last(member, "RedemptionReversed")


def adjust(
    member: Member,
    points: int,
    *,
    at: datetime = T0,
    allow_debt: bool = False,
    rules: ProgramRules = RULES,
) -> Any:
    member.adjust(at, rules, f"adj-{next(_ids)}", points, "goodwill", allow_debt)
    return last(member, "PointsAdjusted")


def last(member: Member, name: str) -> Any:
    for pending in reversed(member.pending_events):
        if type(pending).__name__ == name:
            return pending
    raise AssertionError(f"no {name} pending")


def remaining(member: Member) -> dict[str, int]:
    return {lot_id: lot.remaining for lot_id, lot in member.lots.items()}


def portions(event: Any) -> list[tuple[str, int]]:
    return [(p["lot_id"], p["points"]) for p in event.lots]


def assert_balanced(member: Member) -> None:
    """The §5 invariants that hold after every event."""
    lots_total = sum(lot.remaining for lot in member.lots.values())
    lifetime = (
        member.lifetime_earned
        + member.lifetime_adjusted
        - member.lifetime_redeemed
        - member.lifetime_expired
        - member.lifetime_reversed
    )
    assert member.available + member.pending == lots_total - member.debt == lifetime
    if member.debt > 0:
        assert all(lot.remaining == 0 for lot in member.lots.values() if not lot.pending)
