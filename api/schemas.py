"""Request and response bodies of the write API: one schema validates, dumps and documents.

Request schemas refuse unknown fields (marshmallow's default, RAISE), so a typo is a 422.
"""

from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, post_load, validate, validates

from api.fields import (
    MAX_DAYS,
    Currency,
    DecimalString,
    Id,
    Points,
    Timestamp,
)
from ledger.access import ROLES
from ledger.partner import PartnerTerms
from ledger.program import ProgramRules
from ledger.tiers import Tier

Text = fields.String
MAX_BATCH = 10_000


def _text(maximum: int, **kwargs: Any) -> fields.String:
    return Text(validate=validate.Length(min=1, max=maximum), **kwargs)


# ---------------------------------------------------------------------- shared parts


class ProblemSchema(Schema):
    """RFC 9457 problem details."""

    type = Text(required=True)
    title = Text(required=True)
    status = fields.Integer(required=True)
    detail = Text(required=True)
    errors = fields.Dict(keys=Text(), values=fields.List(Text()))


class BalanceSchema(Schema):
    available = fields.Integer(required=True, metadata={"description": "negative = debt"})
    pending = fields.Integer(required=True)
    tier = Text(required=True)


class MemberWriteSchema(Schema):
    """What every write on a member adds: the exact balance after it, and its log position."""

    balance = fields.Nested(BalanceSchema, required=True)
    position = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "log position of the operation's last event (null: none)"},
    )


class NoBodySchema(Schema):
    """An action that takes no parameters: any field in its body is a typo (422)."""


class PartnerField(Schema):
    partner_id = Id(
        metadata={"description": "admin: the partner to act for; a partner key: its own or absent"}
    )


# --------------------------------------------------------------------------- program


class TierSchema(Schema):
    code = Id(required=True)
    name = _text(100, required=True)
    threshold = DecimalString(required=True)
    multiplier = DecimalString(required=True, positive=True)


class ProgramSchema(Schema):
    currency = Currency(required=True)
    points_lifetime_months = Points(required=True, minimum=1, maximum=1200)
    max_backdate_days = Points(required=True, maximum=MAX_DAYS)
    point_value = DecimalString(required=True)
    tiers = fields.List(
        fields.Nested(TierSchema), required=True, validate=validate.Length(min=1, max=50)
    )
    enrollment_bonus_points = Points(required=True)

    @validates("tiers")
    def _distinct_codes(self, tiers: list[dict[str, Any]], **_: Any) -> None:
        codes = [tier["code"] for tier in tiers]
        if len(set(codes)) != len(codes):
            raise ValidationError("Tier codes must be distinct.")

    @post_load
    def _rules(self, data: dict[str, Any], **_: Any) -> ProgramRules:
        return ProgramRules(**{**data, "tiers": tuple(Tier(**t) for t in data["tiers"])})


# -------------------------------------------------------------------------- partners


class PartnerRequestSchema(Schema):
    partner_id = Id(required=True)
    name = _text(200, required=True)
    currency = Currency(required=True)
    earn_rate = DecimalString(required=True, metadata={"description": "points per unit spent"})
    funding_rate = DecimalString(required=True, metadata={"description": "owed per point issued"})
    reimbursement_rate = DecimalString(
        required=True, metadata={"description": "reimbursed per point redeemed"}
    )
    pending_days = Points(required=True, maximum=MAX_DAYS)

    @post_load
    def _terms(self, data: dict[str, Any], **_: Any) -> PartnerTerms:
        return PartnerTerms(**data)


class PartnerSchema(PartnerRequestSchema):
    status = Text(required=True, metadata={"enum": ["active", "suspended"]})


# ------------------------------------------------------------------------------ keys


class KeyRequestSchema(Schema):
    role = Text(required=True, validate=validate.OneOf(ROLES))
    partner_id = Id(
        allow_none=True, metadata={"description": "required for, and only for, role partner"}
    )
    name = _text(200, required=True)


class KeySchema(Schema):
    key_id = Text(required=True)
    key = Text(required=True, metadata={"description": "the bearer token; shown only once"})
    role = Text(required=True)
    partner_id = Text(required=True, allow_none=True)
    name = Text(required=True)


# --------------------------------------------------------------------------- members


class MemberSchema(MemberWriteSchema):
    member_id = Text(required=True)
    status = Text(required=True, metadata={"enum": ["active", "suspended", "closed"]})
    enrolled_at = Timestamp(required=True)
    tier = Text(required=True)


class EnrollRequestSchema(PartnerField):
    member_id = Id(required=True)
    enrolled_at = Timestamp()
    birth_date = fields.Date()


class AdjustmentRequestSchema(Schema):
    adjustment_id = Id(required=True)
    points = Points(required=True, minimum=-(10**12), nonzero=True)
    reason = _text(500, required=True)
    allow_debt = fields.Boolean(load_default=False)


class AdjustmentSchema(MemberWriteSchema):
    adjustment_id = Text(required=True)
    member_id = Text(required=True)
    points = fields.Integer(required=True)
    reason = Text(required=True)
    recorded_at = Timestamp(required=True)


class SweepRequestSchema(Schema):
    as_of = Timestamp(metadata={"description": "default now; must not be in the future"})


class SweepSchema(Schema):
    as_of = Timestamp(required=True)
    activated_points = fields.Integer(required=True)
    expired_points = fields.Integer(required=True)
    members_touched = fields.Integer(required=True)
    tier_changes = fields.Integer(required=True)
    position = fields.Integer(required=True, allow_none=True)


# -------------------------------------------------------------------- partner writes


class AccrualRequestSchema(PartnerField):
    transaction_id = Id(required=True)
    member_id = Id(required=True)
    amount = DecimalString(required=True, positive=True)
    currency = Currency(required=True)
    occurred_at = Timestamp(required=True)
    pending_days = Points(maximum=MAX_DAYS)
    bonus_points = Points(load_default=0)


class AccrualSchema(MemberWriteSchema):
    accrual_id = Text(required=True)
    transaction_id = Text(required=True)
    partner_id = Text(required=True)
    member_id = Text(required=True)
    amount = DecimalString(required=True)
    currency = Text(required=True)
    points = fields.Integer(required=True)
    base_points = fields.Integer(required=True)
    tier_multiplier = DecimalString(required=True)
    bonus_points = fields.Integer(required=True)
    status = Text(required=True, metadata={"enum": ["pending", "available"]})
    available_at = Timestamp(required=True)
    expires_at = Timestamp(required=True)
    recorded_at = Timestamp(required=True)


class RedemptionRequestSchema(PartnerField):
    transaction_id = Id(required=True)
    member_id = Id(required=True)
    points = Points(required=True, minimum=1)
    occurred_at = Timestamp(required=True)
    description = _text(500)


class LotPortionSchema(Schema):
    lot_id = Text(required=True)
    points = fields.Integer(required=True)


class RedemptionSchema(MemberWriteSchema):
    redemption_id = Text(required=True)
    transaction_id = Text(required=True)
    partner_id = Text(required=True)
    member_id = Text(required=True)
    points = fields.Integer(required=True)
    lots = fields.List(fields.Nested(LotPortionSchema), required=True)
    reimbursement_amount = DecimalString(required=True)
    recorded_at = Timestamp(required=True)


class AccrualReversalRequestSchema(PartnerField):
    transaction_id = Id(required=True, metadata={"description": "the return's own id"})
    refund_amount = DecimalString(
        positive=True, metadata={"description": "absent: all that is left"}
    )
    occurred_at = Timestamp(required=True)
    reason = _text(500)


class AccrualReversalSchema(MemberWriteSchema):
    reversal_id = Text(required=True)
    transaction_id = Text(required=True)
    accrual_transaction_id = Text(required=True)
    partner_id = Text(required=True)
    member_id = Text(required=True)
    points_reversed = fields.Integer(required=True)
    refund_amount = DecimalString(required=True)
    debt_created = fields.Integer(required=True)
    recorded_at = Timestamp(required=True)


class RedemptionReversalRequestSchema(PartnerField):
    transaction_id = Id(required=True, metadata={"description": "the cancellation's own id"})
    occurred_at = Timestamp(required=True)
    reason = _text(500)


class RedemptionReversalSchema(MemberWriteSchema):
    reversal_id = Text(required=True)
    transaction_id = Text(required=True)
    redemption_transaction_id = Text(required=True)
    partner_id = Text(required=True)
    member_id = Text(required=True)
    points_restored = fields.Integer(required=True)
    recorded_at = Timestamp(required=True)


class TransactionSchema(Schema):
    """The operation's original response body, plus which operation it was."""

    class Meta:
        unknown = INCLUDE

    operation = Text(
        required=True, metadata={"enum": ["accrue", "redeem", "reverse_accrual",
                                          "reverse_redemption"]}
    )


class PartnerQuerySchema(PartnerField):
    pass


# --------------------------------------------------------------------------- batches


class BatchRequestSchema(PartnerField):
    operations = fields.List(
        fields.Raw(metadata={"type": "object"}),
        required=True,
        validate=validate.Length(max=MAX_BATCH),
        metadata={
            "description": 'each {"op": "enroll"|"accrue"|"redeem"|"reverse_accrual"|'
            '"reverse_redemption", ...the single endpoint\'s fields; reversals add '
            "original_transaction_id}"
        },
    )


class ReverseAccrualOperationSchema(AccrualReversalRequestSchema):
    original_transaction_id = Id(required=True)


class ReverseRedemptionOperationSchema(RedemptionReversalRequestSchema):
    original_transaction_id = Id(required=True)


class BatchResultSchema(Schema):
    index = fields.Integer(required=True)
    status = fields.Integer(required=True)
    body = fields.Dict(required=True, metadata={"description": "the body or problem"})


class BatchSchema(Schema):
    results = fields.List(fields.Nested(BatchResultSchema), required=True)
