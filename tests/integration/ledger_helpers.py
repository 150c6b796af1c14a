"""Builders for driving a real `Ledger` application in integration tests."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from ledger.application import Ledger
from ledger.commands import Accrue, Enroll, Redeem
from tests.unit.member_helpers import SHOP


def open_shop(ledger: Ledger, *member_ids: str) -> None:
    """Register the partner and enroll the members."""
    ledger.register_partner(SHOP)
    for member_id in member_ids:
        ledger.execute(Enroll(member_id=member_id, partner_id=SHOP.partner_id))


def accrual(
    tx: str,
    amount: str,
    at: datetime,
    member_id: str = "m1",
    pending_days: int | None = None,
    bonus: int = 0,
) -> Accrue:
    return Accrue(
        partner_id=SHOP.partner_id,
        transaction_id=tx,
        member_id=member_id,
        amount=Decimal(amount),
        currency="EUR",
        occurred_at=at,
        pending_days=pending_days,
        bonus_points=bonus,
    )


def redemption(tx: str, points: int, at: datetime, member_id: str = "m1") -> Redeem:
    return Redeem(
        partner_id=SHOP.partner_id,
        transaction_id=tx,
        member_id=member_id,
        points=points,
        occurred_at=at,
    )


def stored_events(ledger: Ledger) -> int:
    """How many events the store holds (its last notification id)."""
    return ledger.recorder.max_notification_id() or 0


def event_types_after(ledger: Ledger, position: int) -> list[str]:
    notifications = ledger.recorder.select_notifications(start=position + 1, limit=100)
    return [n.topic.split(":", 1)[-1] for n in notifications]
