"""What each partner command does to a member, and the facts its response reports (amounts
with the currency's minor digits: "12.50" for a request's "12.5")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger.commands import Accrue, Command, Redeem, ReverseAccrual, ReverseRedemption
from ledger.member import (
    AccrualReversed,
    Member,
    PointsAccrued,
    PointsRedeemed,
    RedemptionReversed,
)
from ledger.money import round_money
from ledger.partner import Partner
from ledger.program import ProgramRules


def apply_partner_command(
    member: Member,
    partner: Partner,
    rules: ProgramRules,
    now: datetime,
    operation_id: str,
    command: Command,
) -> dict[str, Any]:
    """Apply a partner command to the member; return the facts the response reports."""
    if isinstance(command, Accrue):
        member.accrue(
            now,
            rules,
            partner.terms,
            operation_id,
            command.transaction_id,
            command.amount,
            command.currency,
            command.occurred_at,
            command.pending_days,
            command.bonus_points,
        )
        accrual = _last_event(member, PointsAccrued)
        return {
            "accrual_id": operation_id,
            "transaction_id": command.transaction_id,
            "partner_id": partner.partner_id,
            "member_id": member.member_id,
            "amount": round_money(command.amount, command.currency),
            "currency": command.currency,
            "points": accrual.points,
            "base_points": accrual.base_points,
            "tier_multiplier": accrual.tier_multiplier,
            "bonus_points": accrual.bonus_points,
            "status": "pending" if accrual.pending else "available",
            "available_at": accrual.lot["available_at"],
            "expires_at": accrual.lot["expires_at"],
        }
    if isinstance(command, Redeem):
        member.redeem(
            now,
            rules,
            partner.terms,
            operation_id,
            command.transaction_id,
            command.points,
            command.occurred_at,
            command.description,
        )
        redemption = _last_event(member, PointsRedeemed)
        return {
            "redemption_id": operation_id,
            "transaction_id": command.transaction_id,
            "partner_id": partner.partner_id,
            "member_id": member.member_id,
            "points": command.points,
            "lots": [{"lot_id": p["lot_id"], "points": p["points"]} for p in redemption.lots],
            "reimbursement_amount": redemption.reimbursement_amount,
        }
    if isinstance(command, ReverseAccrual):
        member.reverse_accrual(
            now,
            rules,
            partner.partner_id,
            operation_id,
            command.transaction_id,
            command.original_transaction_id,
            command.refund_amount,
            command.occurred_at,
            command.reason,
        )
        reversal = _last_event(member, AccrualReversed)
        return {
            "reversal_id": operation_id,
            "transaction_id": command.transaction_id,
            "accrual_transaction_id": command.original_transaction_id,
            "partner_id": partner.partner_id,
            "member_id": member.member_id,
            "points_reversed": reversal.points_reversed,
            "refund_amount": round_money(reversal.refund_amount, reversal.currency),
            "debt_created": reversal.debt_created,
        }
    assert isinstance(command, ReverseRedemption)
    member.reverse_redemption(
        now,
        rules,
        partner.partner_id,
        operation_id,
        command.transaction_id,
        command.original_transaction_id,
        command.occurred_at,
        command.reason,
    )
    restored = _last_event(member, RedemptionReversed)
    return {
        "reversal_id": operation_id,
        "transaction_id": command.transaction_id,
        "redemption_transaction_id": command.original_transaction_id,
        "partner_id": partner.partner_id,
        "member_id": member.member_id,
        "points_restored": restored.points_restored,
    }


def _last_event(member: Member, event_class: type[Any]) -> Any:
    for pending in reversed(member.pending_events):
        if type(pending) is event_class:
            return pending
    raise AssertionError(f"{event_class.__name__} was not triggered")
