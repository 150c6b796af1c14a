"""Response bodies of the read API (queries, reports, audit, operations), for /openapi.json.

Views answer already-serialised values (`jsonable`): times and money are strings by then, so
these fields document their format and pass the values through; dumping also keeps a view
from answering a field the contract does not list.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from api.fields import DECIMAL_PATTERN, member_status

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


class Listed(fields.List):
    def __init__(self, schema: type[Schema], **kwargs: Any) -> None:
        super().__init__(fields.Nested(schema), required=True, **kwargs)


class Facts(fields.Dict):
    def __init__(self, description: str, allow_none: bool = False) -> None:
        super().__init__(
            keys=Text(), required=True, allow_none=allow_none, metadata={"description": description}
        )


NextCursor = Text(
    required=True,
    allow_none=True,
    metadata={"description": "pass as ?cursor= for the next page; null at the end"},
)


# --------------------------------------------------------------------------- members


class MemberViewSchema(Schema):
    member_id = Text(required=True, metadata={"description": "The member's id, as enrolled."})
    status = member_status()
    enrolled_at = Time(metadata={"description": "When the member joined (UTC)."})
    tier = Text(required=True, metadata={"description": "Code of the tier the member holds now."})


class BalanceViewSchema(Schema):
    member_id = Text(required=True, metadata={"description": "The member's id."})
    available = Int(
        required=True,
        metadata={
            "description": "Points the member may redeem now. Negative = debt (a return "
            "reversed more points than were left)."
        },
    )
    pending = Int(
        required=True,
        metadata={"description": "Points earned but not yet available (inside pending days)."},
    )
    lifetime_earned = Int(
        required=True,
        metadata={"description": "All points ever credited: accruals, bonuses (points)."},
    )
    lifetime_adjusted = Int(
        required=True,
        metadata={"description": "Net of all manual adjustments, signed (points)."},
    )
    lifetime_redeemed = Int(
        required=True,
        metadata={"description": "Points redeemed, net of cancelled redemptions (points)."},
    )
    lifetime_expired = Int(
        required=True,
        metadata={"description": "Points expired, and forfeited at closing (points)."},
    )
    lifetime_reversed = Int(
        required=True, metadata={"description": "Points taken back by accrual reversals."}
    )
    tier = Text(required=True, metadata={"description": "Code of the tier held at as_of."})
    as_of = Time(
        metadata={
            "description": "The instant the balance stands at: the query's as_of, else the "
            "recorded time of the member's last event applied."
        }
    )
    position = Int(
        required=True,
        allow_none=True,
        metadata={
            "description": "Log position of the member's last event applied (or replayed); "
            "null if not known."
        },
    )


class StatementLineSchema(Schema):
    position = Int(required=True, metadata={"description": "The event's log position."})
    recorded_at = Time(metadata={"description": "When the ledger recorded the event (UTC)."})
    occurred_at = Time(
        allow_none=True,
        metadata={
            "description": "When the partner says it happened (accruals, redemptions, "
            "reversals); null for events of the ledger's own."
        },
    )
    type = Text(
        required=True,
        metadata={
            "description": "The event type: MemberEnrolled, PointsAccrued, PointsRedeemed, "
            "AccrualReversed, RedemptionReversed, PointsAdjusted, BonusGranted, "
            "PointsActivated, PointsExpired, TierChanged, MemberSuspended, MemberReactivated, "
            "MemberClosed."
        },
    )
    partner_id = Text(
        required=True,
        allow_none=True,
        metadata={"description": "The partner that caused the event; null for the operator."},
    )
    transaction_id = Text(
        required=True,
        allow_none=True,
        metadata={"description": "The partner's transaction id, if the event has one."},
    )
    points = Int(
        required=True,
        metadata={"description": "Signed change: + credit, - debit, 0 for none (points)."},
    )
    available_after = Int(
        required=True, metadata={"description": "available right after this event (points)."}
    )
    pending_after = Int(
        required=True, metadata={"description": "pending right after this event (points)."}
    )
    detail = Facts("The event's particulars (amount, lots, rates, reason ...).")


class StatementSchema(Schema):
    lines = Listed(
        StatementLineSchema, metadata={"description": "One per event, ascending position."}
    )
    next_cursor = NextCursor


class TierViewSchema(Schema):
    tier = Text(required=True, metadata={"description": "Code of the tier held now."})
    since = Time(metadata={"description": "The last tier change, else enrollment (UTC)."})
    guaranteed_until = Time(
        allow_none=True,
        metadata={
            "description": "An upgrade keeps the tier for 365 days: no downgrade before this "
            "instant. null: no guarantee in force."
        },
    )
    qualifying_spend = Money(
        metadata={
            "description": "Net accrual amounts (amount - refunds) occurred in the trailing "
            "365 days, in the program currency."
        }
    )
    next_tier = Text(
        required=True,
        allow_none=True,
        metadata={"description": "Code of the next tier up; null at the top."},
    )
    spend_to_next_tier = Money(
        allow_none=True,
        metadata={"description": "The next tier's threshold - qualifying_spend; null at the top."},
    )


class ExpiringLotSchema(Schema):
    expires_at = Time(metadata={"description": "When these points expire (UTC)."})
    points = Int(required=True, metadata={"description": "Remaining points expiring then (> 0)."})


class ExpiringSchema(Schema):
    lots = Listed(
        ExpiringLotSchema,
        metadata={"description": "Remaining points per expiry instant, soonest first."},
    )


# --------------------------------------------------------------------------- finance


class SettlementTotalsSchema(Schema):
    points_issued = Int(
        required=True,
        metadata={"description": "Points accrued in the period, net of reversals (points)."},
    )
    amount_funded = Money(
        metadata={
            "description": "Owed by the partner for points issued: points x funding_rate, "
            "rounded half-up per event, net of reversals."
        }
    )
    points_redeemed = Int(
        required=True,
        metadata={"description": "Points redeemed in the period, net of cancellations."},
    )
    amount_reimbursed = Money(
        metadata={
            "description": "Owed to the partner for points redeemed: points x "
            "reimbursement_rate, rounded half-up per event, net of cancellations."
        }
    )
    net = Money(
        metadata={
            "description": "amount_funded - amount_reimbursed; positive: the partner owes "
            "the operator (may be negative: a leading minus)."
        }
    )


class SettlementPartnerSchema(SettlementTotalsSchema):
    partner_id = Text(required=True, metadata={"description": "The partner these figures are of."})


class SettlementSchema(Schema):
    start = Time(
        data_key="from",
        attribute="from",
        metadata={"description": "Start of the period (inclusive), on recorded time."},
    )
    end = Time(
        data_key="to",
        attribute="to",
        metadata={"description": "End of the period (exclusive), on recorded time."},
    )
    currency = Text(
        required=True, metadata={"description": "The program currency of every amount."}
    )
    partners = Listed(
        SettlementPartnerSchema,
        metadata={"description": "One per partner with activity in the period."},
    )
    totals = fields.Nested(
        SettlementTotalsSchema,
        required=True,
        metadata={"description": "The sums over every partner."},
    )


class SourcePointsSchema(Schema):
    source = Text(
        required=True,
        metadata={
            "description": 'Who issued (funds) the points: a partner_id, or "operator" '
            "(enrollment bonuses, adjustments)."
        },
    )
    points = Int(required=True, metadata={"description": "The source's points in this figure."})


class LiabilitySchema(Schema):
    as_of = Time(metadata={"description": "The instant the figures stand at (UTC)."})
    outstanding_points = Int(
        required=True,
        metadata={
            "description": "Remaining points of every lot (available + pending); debt is not "
            "netted."
        },
    )
    pending_points = Int(
        required=True, metadata={"description": "The part of outstanding_points still pending."}
    )
    debt_points = Int(
        required=True, metadata={"description": "Sum of members' debts (points owed back)."}
    )
    value = Money(
        metadata={
            "description": "outstanding_points x point_value, rounded half-up to the "
            "currency's minor unit."
        }
    )
    by_source = Listed(
        SourcePointsSchema, metadata={"description": "outstanding_points per issuing source."}
    )


class BreakageSourceSchema(SourcePointsSchema):
    points_expired = Int(required=True, metadata={"description": "Points expired in the period."})
    points_forfeited = Int(
        required=True,
        metadata={"description": "Points forfeited by members closed in the period."},
    )


class BreakageSchema(Schema):
    start = Time(
        data_key="from",
        attribute="from",
        metadata={"description": "Start of the period (inclusive), on recorded time."},
    )
    end = Time(
        data_key="to",
        attribute="to",
        metadata={"description": "End of the period (exclusive), on recorded time."},
    )
    sources = Listed(
        BreakageSourceSchema,
        metadata={"description": "Per issuing source; points = points_expired + points_forfeited."},
    )
    total_points = Int(required=True, metadata={"description": "Sum of points over every source."})


class AccountSchema(Schema):
    account = Text(
        required=True,
        metadata={
            "description": "member:<member_id>, partner:<partner_id>:issued, "
            "partner:<partner_id>:redeemed, operator:bonus or operator:breakage."
        },
    )
    debit = Int(required=True, metadata={"description": "Sum of debits (points, >= 0)."})
    credit = Int(required=True, metadata={"description": "Sum of credits (points, >= 0)."})


class TrialBalanceSchema(Schema):
    as_of = Time(
        allow_none=True,
        metadata={"description": "The query's as_of (recorded time); null: everything so far."},
    )
    accounts = Listed(AccountSchema, metadata={"description": "Every account with postings."})
    total = Int(
        required=True,
        metadata={"description": "Sum of debits - credits over every account: always 0."},
    )


class TierCountSchema(Schema):
    code = Text(required=True, metadata={"description": "The tier's code."})
    members = Int(required=True, metadata={"description": "Members holding it (not closed)."})


class TierReportSchema(Schema):
    tiers = Listed(TierCountSchema, metadata={"description": "One per tier of the program."})


# ----------------------------------------------------------------------------- audit


class EventSchema(Schema):
    position = Int(
        required=True,
        metadata={"description": "Position in the whole log (ascending; may have gaps)."},
    )
    event_id = Text(required=True, metadata={"description": "The event's unique id (UUID)."})
    stream_id = Text(
        required=True,
        metadata={"description": "The aggregate (member, partner, key ...) it belongs to (UUID)."},
    )
    stream_version = Int(
        required=True, metadata={"description": "The event's number within its stream, from 1."}
    )
    type = Text(required=True, metadata={"description": "The event type, e.g. PointsAccrued."})
    recorded_at = Time(
        allow_none=True,
        metadata={
            "description": "When the ledger recorded it (UTC); null with `data` null where the "
            "stored row does not decode."
        },
    )
    data = Facts(
        "The event's own facts, as stored. null: the stored row does not decode into an event "
        "(damaged or tampered with; `type`, the ids, the position and the hash are listed as "
        "stored, and `GET /v1/audit/verify` names its position).",
        allow_none=True,
    )
    hash = Text(
        required=True,
        metadata={
            "description": "Chain hash after this event: sha256 over the previous hash and "
            "this event, 64 hex digits."
        },
    )


class EventPageSchema(Schema):
    events = Listed(EventSchema, metadata={"description": "Ascending position."})
    next_cursor = NextCursor


class MemberEventsSchema(Schema):
    events = Listed(EventSchema, metadata={"description": "Ascending stream_version."})
    next_cursor = NextCursor


class DigestSchema(Schema):
    position = Int(
        required=True, metadata={"description": "Position of the chain head (0: no events)."}
    )
    hash = Text(
        required=True,
        allow_none=True,
        metadata={"description": "Chain hash at that position, 64 hex digits; null: no events."},
    )


class ProjectionCheckSchema(Schema):
    name = Text(required=True, metadata={"description": "The projection, e.g. members."})
    ok = fields.Boolean(
        required=True, metadata={"description": "Whether it equals a fresh replay."}
    )
    detail = Text(
        required=True,
        allow_none=True,
        metadata={"description": "The first difference found; null when ok."},
    )


class ReplayErrorSchema(Schema):
    position = Int(required=True, metadata={"description": "The event that cannot be applied."})
    error = Text(required=True, metadata={"description": "What applying it raised."})


class VerifySchema(Schema):
    ok = fields.Boolean(
        required=True,
        metadata={
            "description": "chain_ok, the digest (if given) on the chain, every event applies, "
            "and every projection ok."
        },
    )
    checked_events = Int(
        required=True,
        metadata={
            "description": "Events in the whole log (up to its head); positions may have gaps."
        },
    )
    position = Int(
        required=True,
        metadata={"description": "The position the projections had applied (compared up to it)."},
    )
    chain_ok = fields.Boolean(
        required=True,
        metadata={
            "description": "Whether every stored event is well-formed and its hash, recomputed "
            "over the whole record from the log alone, equals the one stored."
        },
    )
    first_broken_position = Int(
        required=True,
        allow_none=True,
        metadata={
            "description": "The first position that breaks the chain (or cannot be applied): "
            "edited, moved, renumbered, inserted, deleted or malformed; null if none."
        },
    )
    digest_ok = fields.Boolean(
        required=True,
        allow_none=True,
        metadata={
            "description": "Whether the digest given as ?position=&hash= is on the chain; "
            "null when none was given."
        },
    )
    replay_error = fields.Nested(
        ReplayErrorSchema,
        required=True,
        allow_none=True,
        metadata={"description": "The first event a replay cannot apply; null if none."},
    )
    projections = Listed(
        ProjectionCheckSchema, metadata={"description": "One check per projection."}
    )


# ------------------------------------------------------------------------ operations


class StatusSchema(Schema):
    status = Text(
        required=True,
        metadata={"enum": ["ok", "ready"], "description": "ok (/healthz) or ready (/readyz)."},
    )
