"""Bodies and query parameters of the admin listings and changes of v1.1: partner and key
lists, a partner's changed terms, a member's closing reason."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from api.fields import MAX_DAYS as MAX_PENDING_DAYS
from api.fields import DecimalString, Points, Timestamp
from api.schemas import PartnerSchema, WireSchema
from ledger import bounds
from ledger.partner import CHANGEABLE_TERMS
from projections.reads import MAX_LIMIT


class PageArgs(Schema):
    limit = fields.Integer(
        load_default=100,
        validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": "Entries per page (1 to 1000)."},
    )
    cursor = fields.String(
        metadata={"description": "The next_cursor of the previous page: continues that listing."}
    )


NextCursor = fields.String(
    required=True,
    allow_none=True,
    metadata={"description": "Pass as ?cursor= for the next page; null at the end."},
)


class PartnerListSchema(Schema):
    partners = fields.List(
        fields.Nested(PartnerSchema),
        required=True,
        metadata={"description": "In the order they were registered."},
    )
    next_cursor = NextCursor


class PartnerChangeSchema(WireSchema):
    """The terms to change (at least one); the others stay. The partner's id and currency
    cannot change."""

    name = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Display name, 1 to 200 characters."},
    )
    earn_rate = DecimalString(
        maximum=bounds.MAX_EARN_RATE,
        metadata={"description": "Points per currency unit spent."},
    )
    funding_rate = DecimalString(
        maximum=bounds.MAX_MONEY_PER_POINT,
        metadata={"description": "What the partner owes per point it issues from now on."},
    )
    reimbursement_rate = DecimalString(
        maximum=bounds.MAX_MONEY_PER_POINT,
        metadata={"description": "What the operator pays per point redeemed from now on."},
    )
    pending_days = Points(
        maximum=MAX_PENDING_DAYS,
        metadata={"description": "Default days an accrual's points stay pending."},
    )

    @validates_schema
    def _not_empty(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            names = ", ".join(sorted(CHANGEABLE_TERMS))
            raise ValidationError(f"Send at least one of: {names}.", "_schema")


class KeyViewSchema(Schema):
    key_id = fields.String(required=True, metadata={"description": "The key's id."})
    role = fields.String(required=True, metadata={"description": "The key's role."})
    partner_id = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The partner of a partner key; null for other roles."},
    )
    name = fields.String(required=True, metadata={"description": "What the key is for."})
    revoked = fields.Boolean(required=True, metadata={"description": "Refused from then on."})
    created_at = Timestamp(required=True, metadata={"description": "When it was issued."})


class KeyListSchema(Schema):
    keys = fields.List(
        fields.Nested(KeyViewSchema),
        required=True,
        metadata={"description": "In the order they were issued; never the secret."},
    )
    next_cursor = NextCursor


class CloseRequestSchema(WireSchema):
    reason = fields.String(
        validate=validate.Length(min=1, max=500),
        metadata={
            "description": "Why the member is closed (kept in the event, shown in the "
            "statement's detail)."
        },
    )
