"""HTTP endpoints: member queries (partner: member, balance, tier, expiring, what a till
shows; auditor, finance, admin: all, statements too).

Views read the projection tables (balance `as_of` replays the member's events instead). They
never run the projection runner in the background: `serve` / `loyalty-ledger project` do.
A query with `?min_position=N` makes sure N is applied first: if no runner is active it
catches up itself within the request, else it waits for the active one, both for at most
`read_wait_seconds` (then 503 `projection-lagging` with Retry-After). In-process tests
therefore need no thread: `min_position`, or `ProjectionRunner.catch_up()`, brings the read
side up to date deterministically.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import current_app
from marshmallow import Schema, fields, validate

from api import read_schemas as rs
from api.auth import require_roles
from api.blueprint import Blueprint
from api.fields import Timestamp, utc_text
from api.problems import Problem
from api.writes import current_ledger
from projections import reads
from projections.runner import ensure_applied
from projections.store import Target, open_target

READERS = ("auditor", "finance", "admin")
# What a partner's till shows a member: not the statement (the member's whole history).
TILL_READERS = ("partner", *READERS)

blp = Blueprint(
    "queries", __name__, url_prefix="/v1", description="Member queries, read from the projections."
)


# ------------------------------------------------------- shared read-side plumbing


def read_target() -> Target:
    """The projection tables of this app's database, opened on first use."""
    target = current_app.extensions.get("projections")
    if target is None:
        target = open_target(current_app.extensions["settings"])
        target.ensure_schema()
        current_app.extensions["projections"] = target
    return target


def consistent(min_position: int | None) -> Target:
    """The read target, once it has applied `min_position` (else 503 projection-lagging)."""
    target = read_target()
    if min_position:
        head = int(current_ledger().recorder.max_notification_id() or 0)
        if min_position > head:
            # No write can have answered a position beyond the head: a wait would be in vain.
            detail = f"min_position {min_position} is beyond the log's head ({head})."
            raise Problem("validation-error", detail, {"min_position": [detail]})
        wait = current_app.extensions["settings"].read_wait_seconds
        if not ensure_applied(current_ledger(), target, min_position, wait):
            raise Problem(
                "projection-lagging",
                f"The projections have not applied position {min_position} yet.",
                headers={"Retry-After": "1"},
            )
    return target


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def not_found(what: str) -> Problem:
    return Problem("not-found", f"{what} not found")


class Consistency(Schema):
    min_position = fields.Integer(
        validate=validate.Range(min=0),
        metadata={
            "description": "A write's `position`: wait (up to 5 s) until the projections have "
            "applied this log position, else 503 projection-lagging with Retry-After."
        },
    )


class BalanceArgs(Consistency):
    as_of = Timestamp(
        metadata={
            "description": "RFC 3339 instant with an offset: replay the member's events "
            "recorded at or before it (recorded time, not occurred_at)."
        }
    )


class StatementArgs(Consistency):
    start = Timestamp(
        data_key="from",
        metadata={"description": "Only lines recorded at or after this instant (RFC 3339)."},
    )
    end = Timestamp(
        data_key="to",
        metadata={"description": "Only lines recorded before this instant (RFC 3339)."},
    )
    limit = fields.Integer(
        load_default=100,
        validate=validate.Range(min=1, max=reads.MAX_LIMIT),
        metadata={"description": "Lines per page (1 to 1000)."},
    )
    cursor = fields.String(
        metadata={
            "description": "The next_cursor of the previous page: continues that listing "
            "(the other filters are then ignored)."
        }
    )


class ExpiringArgs(Consistency):
    within_days = fields.Integer(
        load_default=90,
        validate=validate.Range(min=0, max=36_500),
        metadata={"description": "List the points expiring within this many days from now."},
    )


# --------------------------------------------------------------------- endpoints


@blp.route("/members/<member_id>", methods=["GET"])
@blp.doc(operationId="getMember")
@require_roles(*TILL_READERS)
@blp.arguments(Consistency, location="query")
@blp.response(200, rs.MemberViewSchema)
def member(args: dict[str, Any], member_id: str) -> Any:
    """The member's status, enrollment and tier."""
    found = reads.member(consistent(args.get("min_position")), member_id)
    if found is None:
        raise not_found(f"member {member_id}")
    return jsonable({k: found[k] for k in ("member_id", "status", "enrolled_at", "tier")})


@blp.route("/members/<member_id>/balance", methods=["GET"])
@blp.doc(operationId="getMemberBalance")
@require_roles(*TILL_READERS)
@blp.arguments(BalanceArgs, location="query")
@blp.response(200, rs.BalanceViewSchema)
def balance(args: dict[str, Any], member_id: str) -> Any:
    """Balance from the projection, or `as_of` an instant (replayed from the events)."""
    as_of = args.get("as_of")
    if as_of is not None:
        ledger = current_ledger()
        state = ledger.member_as_of(member_id, as_of)
        if state is None:
            raise not_found(f"member {member_id} as of {utc_text(as_of)}")
        position = ledger.store_reads.position_of(state.id, state.version)
        return jsonable({**state.full_balance(), "as_of": as_of, "position": position})
    found = reads.balance(consistent(args.get("min_position")), member_id)
    if found is None:
        raise not_found(f"member {member_id}")
    as_of = found.pop("updated_at")
    return jsonable({**found, "as_of": as_of})


@blp.route("/members/<member_id>/statement", methods=["GET"])
@blp.doc(operationId="getMemberStatement")
@require_roles(*READERS)
@blp.arguments(StatementArgs, location="query")
@blp.response(200, rs.StatementSchema)
def statement(args: dict[str, Any], member_id: str) -> Any:
    """One line per event on the member, with the balance after it (the audit trail)."""
    target = consistent(args.get("min_position"))
    if reads.member(target, member_id) is None:
        raise not_found(f"member {member_id}")
    try:
        page = reads.statement(
            target, member_id, args.get("start"), args.get("end"), args["limit"], args.get("cursor")
        )
    except ValueError as error:
        raise Problem("validation-error", str(error), {"cursor": [str(error)]}) from error
    return jsonable(page)


@blp.route("/members/<member_id>/tier", methods=["GET"])
@blp.doc(operationId="getMemberTier")
@require_roles(*TILL_READERS)
@blp.arguments(Consistency, location="query")
@blp.response(200, rs.TierViewSchema)
def tier(args: dict[str, Any], member_id: str) -> Any:
    """Tier, since when, guarantee, trailing qualifying spend and the way to the next tier."""
    ledger = current_ledger()
    found = reads.tier(consistent(args.get("min_position")), ledger, member_id, ledger.clock.now())
    if found is None:
        raise not_found(f"member {member_id}")
    return jsonable(found)


@blp.route("/members/<member_id>/expiring", methods=["GET"])
@blp.doc(operationId="getMemberExpiringPoints")
@require_roles(*TILL_READERS)
@blp.arguments(ExpiringArgs, location="query")
@blp.response(200, rs.ExpiringSchema)
def expiring(args: dict[str, Any], member_id: str) -> Any:
    """Points that expire within the coming days, per expiry instant."""
    target = consistent(args.get("min_position"))
    if reads.member(target, member_id) is None:
        raise not_found(f"member {member_id}")
    now = current_ledger().clock.now()
    return jsonable({"lots": reads.expiring(target, member_id, now, args["within_days"])})
