"""Response bodies of the read API (queries, reports, audit, operations), for /openapi.json.

Views answer already-serialised values (`jsonable`): times and money are strings by then, so
these fields document their format and pass the values through; dumping also keeps a view
from answering a field the contract does not list.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from api.fields import DECIMAL_PATTERN

Text = fields.String
Int = fields.Integer


class Time(fields.String):
    """A time as the service writes it: RFC 3339, UTC, microseconds, `Z`."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"format": "date-time", "example": "2026-11-22T13:45:01.123456Z"}
        super().__init__(
            required=True, metadata={**metadata, **kwargs.pop("metadata", {})}, **kwargs
        )


class Money(fields.String):
    """A decimal string with at most the currency's minor digits."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"format": "decimal", "pattern": DECIMAL_PATTERN, "example": "12.50"}
        super().__init__(
            required=True, metadata={**metadata, **kwargs.pop("metadata", {})}, **kwargs
        )


class Day(fields.String):
    def __init__(self, **kwargs: Any) -> None:
        metadata = {"format": "date", "example": "2026-01-01"}
        super().__init__(
            required=True, metadata={**metadata, **kwargs.pop("metadata", {})}, **kwargs
        )


class Listed(fields.List):
    def __init__(self, schema: type[Schema], **kwargs: Any) -> None:
        super().__init__(fields.Nested(schema), required=True, **kwargs)


class Facts(fields.Dict):
    def __init__(self, description: str) -> None:
        super().__init__(keys=Text(), required=True, metadata={"description": description})


NextCursor = Text(
    required=True,
    allow_none=True,
    metadata={"description": "pass as ?cursor= for the next page; null at the end"},
)


# --------------------------------------------------------------------------- members


class MemberViewSchema(Schema):
    member_id = Text(required=True)
    status = Text(required=True, metadata={"enum": ["active", "suspended", "closed"]})
    enrolled_at = Time()
    tier = Text(required=True)


class BalanceViewSchema(Schema):
    member_id = Text(required=True)
    available = Int(required=True, metadata={"description": "negative = debt"})
    pending = Int(required=True)
    lifetime_earned = Int(required=True)
    lifetime_adjusted = Int(required=True)
    lifetime_redeemed = Int(required=True)
    lifetime_expired = Int(required=True)
    lifetime_reversed = Int(required=True)
    tier = Text(required=True)
    as_of = Time(metadata={"description": "the instant the balance stands at"})
    position = Int(
        required=True,
        allow_none=True,
        metadata={"description": "the member's last event applied (or replayed)"},
    )


class StatementLineSchema(Schema):
    position = Int(required=True)
    recorded_at = Time()
    occurred_at = Time(allow_none=True)
    type = Text(required=True)
    partner_id = Text(required=True, allow_none=True)
    transaction_id = Text(required=True, allow_none=True)
    points = Int(required=True, metadata={"description": "signed: + credit, - debit"})
    available_after = Int(required=True)
    pending_after = Int(required=True)
    detail = Facts("the event's particulars")


class StatementSchema(Schema):
    lines = Listed(StatementLineSchema, metadata={"description": "ascending position"})
    next_cursor = NextCursor


class TierViewSchema(Schema):
    tier = Text(required=True)
    since = Time(metadata={"description": "last tier change, else enrollment"})
    guaranteed_until = Time(allow_none=True)
    qualifying_spend = Money()
    next_tier = Text(required=True, allow_none=True)
    spend_to_next_tier = Money(allow_none=True)


class ExpiringLotSchema(Schema):
    expires_at = Time()
    points = Int(required=True)


class ExpiringSchema(Schema):
    lots = Listed(ExpiringLotSchema)


# --------------------------------------------------------------------------- finance


class SettlementTotalsSchema(Schema):
    points_issued = Int(required=True)
    amount_funded = Money()
    points_redeemed = Int(required=True)
    amount_reimbursed = Money()
    net = Money(metadata={"description": "amount_funded - amount_reimbursed"})


class SettlementPartnerSchema(SettlementTotalsSchema):
    partner_id = Text(required=True)


class SettlementSchema(Schema):
    start = Day(data_key="from", attribute="from")
    end = Day(data_key="to", attribute="to", metadata={"description": "exclusive"})
    currency = Text(required=True)
    partners = Listed(SettlementPartnerSchema)
    totals = fields.Nested(SettlementTotalsSchema, required=True)


class SourcePointsSchema(Schema):
    source = Text(required=True, metadata={"description": 'a partner_id or "operator"'})
    points = Int(required=True)


class LiabilitySchema(Schema):
    as_of = Time()
    outstanding_points = Int(required=True)
    pending_points = Int(required=True)
    debt_points = Int(required=True)
    value = Money(metadata={"description": "outstanding_points x point_value"})
    by_source = Listed(SourcePointsSchema)


class BreakageSourceSchema(SourcePointsSchema):
    points_expired = Int(required=True)
    points_forfeited = Int(required=True, metadata={"description": "at closing"})


class BreakageSchema(Schema):
    start = Day(data_key="from", attribute="from")
    end = Day(data_key="to", attribute="to", metadata={"description": "exclusive"})
    sources = Listed(BreakageSourceSchema)
    total_points = Int(required=True)


class AccountSchema(Schema):
    account = Text(required=True)
    debit = Int(required=True)
    credit = Int(required=True)


class TrialBalanceSchema(Schema):
    as_of = Time(allow_none=True)
    accounts = Listed(AccountSchema)
    total = Int(required=True, metadata={"description": "always 0"})


class TierCountSchema(Schema):
    code = Text(required=True)
    members = Int(required=True)


class TierReportSchema(Schema):
    tiers = Listed(TierCountSchema)


# ----------------------------------------------------------------------------- audit


class EventSchema(Schema):
    position = Int(required=True)
    event_id = Text(required=True)
    stream_id = Text(required=True)
    stream_version = Int(required=True)
    type = Text(required=True)
    recorded_at = Time()
    data = Facts("the event's own facts")
    hash = Text(required=True, metadata={"description": "sha256 chain hash, hex"})


class EventPageSchema(Schema):
    events = Listed(EventSchema, metadata={"description": "ascending position"})
    next_cursor = NextCursor


class MemberEventsSchema(Schema):
    events = Listed(EventSchema, metadata={"description": "ascending stream_version"})


class DigestSchema(Schema):
    position = Int(required=True)
    hash = Text(required=True, allow_none=True, metadata={"description": "null: no events"})


class ProjectionCheckSchema(Schema):
    name = Text(required=True)
    ok = fields.Boolean(required=True)
    detail = Text(required=True, allow_none=True)


class VerifySchema(Schema):
    ok = fields.Boolean(required=True)
    checked_events = Int(required=True)
    position = Int(required=True)
    chain_ok = fields.Boolean(required=True)
    first_broken_position = Int(required=True, allow_none=True)
    projections = Listed(ProjectionCheckSchema)


# ------------------------------------------------------------------------ operations


class StatusSchema(Schema):
    status = Text(required=True, metadata={"enum": ["ok", "ready"]})
