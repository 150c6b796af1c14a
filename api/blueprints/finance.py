"""HTTP endpoints: finance reports (finance, auditor, admin), all read from the projections.

Settlement and breakage periods are `[from, to)` on recorded time, cut at any instants
(RFC 3339 with an offset: a Shanghai business day is `16:00Z` to `16:00Z`); a bare date
(`2026-01-01`) means midnight UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from marshmallow import ValidationError, validates_schema

from api import read_schemas as rs
from api.auth import require_roles
from api.blueprint import Blueprint
from api.blueprints.queries import Consistency, consistent, jsonable
from api.fields import Timestamp
from api.writes import current_ledger
from projections import reads

blp = Blueprint(
    "finance",
    __name__,
    url_prefix="/v1/reports",
    description="Finance reports: settlement, liability, breakage, trial balance.",
)
ROLES = ("finance", "auditor", "admin")


class Instant(Timestamp):
    """An RFC 3339 time with an offset, or a date (`YYYY-MM-DD`: its midnight UTC)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if isinstance(value, str) and len(value) == 10:
            try:
                return datetime.combine(date.fromisoformat(value), time(0), UTC)
            except ValueError:
                pass
        return super()._deserialize(value, attr, data, **kwargs)


class PeriodArgs(Consistency):
    start = Instant(
        data_key="from",
        required=True,
        metadata={
            "description": "Start of the period (inclusive), on recorded time: any RFC 3339 "
            "instant with an offset, or a date (its midnight UTC)."
        },
    )
    end = Instant(
        data_key="to",
        required=True,
        metadata={
            "description": "End of the period (exclusive), on recorded time; not before from."
        },
    )

    @validates_schema
    def _ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["end"] < data["start"]:
            raise ValidationError("Must not be before from.", "to")


class AsOfArgs(Consistency):
    as_of = Timestamp(
        metadata={
            "description": "RFC 3339 instant with an offset: the figures as recorded at it "
            "(replayed); default now."
        }
    )


@blp.route("/settlement", methods=["GET"])
@blp.doc(operationId="getSettlementReport")
@require_roles(*ROLES)
@blp.arguments(PeriodArgs, location="query")
@blp.response(200, rs.SettlementSchema)
def settlement(args: dict[str, Any]) -> Any:
    """Per partner: points issued and funded, redeemed and reimbursed, net of reversals."""
    target = consistent(args.get("min_position"))
    currency = current_ledger().program().currency
    return jsonable(reads.settlement(target, args["start"], args["end"], currency))


@blp.route("/liability", methods=["GET"])
@blp.doc(operationId="getLiabilityReport")
@require_roles(*ROLES)
@blp.arguments(AsOfArgs, location="query")
@blp.response(200, rs.LiabilitySchema)
def liability(args: dict[str, Any]) -> Any:
    """Outstanding points by issuing source and their value (as of an instant: replayed)."""
    target = consistent(args.get("min_position"))
    return jsonable(reads.liability_report(current_ledger(), target, args.get("as_of")))


@blp.route("/breakage", methods=["GET"])
@blp.doc(operationId="getBreakageReport")
@require_roles(*ROLES)
@blp.arguments(PeriodArgs, location="query")
@blp.response(200, rs.BreakageSchema)
def breakage(args: dict[str, Any]) -> Any:
    """Points expired (and forfeited at closing) per issuing source."""
    return jsonable(
        reads.breakage(consistent(args.get("min_position")), args["start"], args["end"])
    )


@blp.route("/trial-balance", methods=["GET"])
@blp.doc(operationId="getTrialBalance")
@require_roles(*ROLES)
@blp.arguments(AsOfArgs, location="query")
@blp.response(200, rs.TrialBalanceSchema)
def trial_balance(args: dict[str, Any]) -> Any:
    """Debits and credits (points) per account; the total is zero."""
    return jsonable(reads.trial_balance(consistent(args.get("min_position")), args.get("as_of")))


@blp.route("/tiers", methods=["GET"])
@blp.doc(operationId="getTierReport")
@require_roles(*ROLES)
@blp.arguments(Consistency, location="query")
@blp.response(200, rs.TierReportSchema)
def tiers(args: dict[str, Any]) -> Any:
    """Members per tier (closed members left out)."""
    return jsonable(reads.tier_report(consistent(args.get("min_position"))))
