"""HTTP endpoints: audit (auditor, admin): the ordered event log with its hash chain, and a
verification of the chain and every projection against a fresh replay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from api import read_schemas as rs
from api.auth import require_roles
from api.blueprint import Blueprint
from api.blueprints.queries import Consistency, consistent, jsonable, not_found
from api.problems import Problem
from api.writes import current_ledger
from projections import audit, reads
from projections.store import Target

blp = Blueprint(
    "audit",
    __name__,
    url_prefix="/v1",
    description="Audit: event log, hash chain digest, verification.",
)
ROLES = ("auditor", "admin")


class EventsArgs(Consistency):
    after = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0),
        metadata={"description": "List the events after this log position (0: from the start)."},
    )
    limit = fields.Integer(
        load_default=100,
        validate=validate.Range(min=1, max=reads.MAX_LIMIT),
        metadata={"description": "Events per page (1 to 1000)."},
    )
    cursor = fields.String(
        metadata={
            "description": "The next_cursor of the previous page: continues that listing "
            "(after is then ignored)."
        }
    )


class MemberEventsArgs(Consistency):
    limit = fields.Integer(
        load_default=100,
        validate=validate.Range(min=1, max=reads.MAX_LIMIT),
        metadata={"description": "Events per page (1 to 1000)."},
    )
    cursor = fields.String(
        metadata={"description": "The next_cursor of the previous page: continues that listing."}
    )


def hashed(
    read: Callable[[Target], dict[str, Any] | None], min_position: int | None
) -> dict[str, Any] | None:
    """A listing whose every event carries its chain hash: if the hash projection has not
    reached the page yet, it catches up to the page's last event first (or 503 lagging)."""
    page = read(consistent(min_position))
    listed = page["events"] if page else []
    if any(event["hash"] is None for event in listed):
        page = read(consistent(max(event["position"] for event in listed)))
    return page


@blp.route("/events", methods=["GET"])
@blp.doc(operationId="listEvents")
@require_roles(*ROLES)
@blp.arguments(EventsArgs, location="query")
@blp.response(200, rs.EventPageSchema)
def events(args: dict[str, Any]) -> Any:
    """Every stored event in position order, with its chain hash."""
    after = args["after"]
    if args.get("cursor"):
        try:
            after = int(reads.decode_cursor(args["cursor"])["after"])
        except (ValueError, KeyError) as error:
            raise Problem(
                "validation-error",
                "Unknown cursor.",
                {"cursor": ["Not a cursor from this listing."]},
            ) from error
    return jsonable(
        hashed(
            lambda target: reads.events(current_ledger(), target, after, args["limit"]),
            args.get("min_position"),
        )
    )


@blp.route("/members/<member_id>/events", methods=["GET"])
@blp.doc(operationId="listMemberEvents")
@require_roles(*ROLES)
@blp.arguments(MemberEventsArgs, location="query")
@blp.response(200, rs.MemberEventsSchema)
def member_events(args: dict[str, Any], member_id: str) -> Any:
    """One member's events in stream order, a page at a time."""
    try:
        found = hashed(
            lambda target: reads.member_events(
                current_ledger(), target, member_id, args["limit"], args.get("cursor")
            ),
            args.get("min_position"),
        )
    except ValueError as error:
        raise Problem(
            "validation-error", "Unknown cursor.", {"cursor": ["Not a cursor from this listing."]}
        ) from error
    if found is None:
        raise not_found(f"member {member_id}")
    return jsonable(found)


@blp.route("/audit/digest", methods=["GET"])
@blp.doc(operationId="getAuditDigest")
@require_roles(*ROLES)
@blp.arguments(Consistency, location="query")
@blp.response(200, rs.DigestSchema)
def digest(args: dict[str, Any]) -> Any:
    """The hash chain's head: keep it to prove later that history was not rewritten."""
    return jsonable(reads.digest(consistent(args.get("min_position"))))


class VerifyArgs(Consistency):
    position = fields.Integer(
        validate=validate.Range(min=1),
        metadata={"description": "With `hash`: the position of a digest kept earlier."},
    )
    hash = fields.String(
        validate=validate.Regexp(r"\A[0-9a-f]{64}\Z"),
        metadata={"description": "With `position`: the digest's hash, 64 lower-case hex digits."},
    )

    @validates_schema
    def both_or_neither(self, data: dict[str, Any], **_: Any) -> None:
        for given, missing in (("position", "hash"), ("hash", "position")):
            if given in data and missing not in data:
                raise ValidationError(f"Required with {given}.", missing)


@blp.route("/audit/verify", methods=["GET"])
@blp.doc(operationId="verifyAudit")
@require_roles(*ROLES)
@blp.arguments(VerifyArgs, location="query")
@blp.response(200, rs.VerifySchema)
def verify(args: dict[str, Any]) -> Any:
    """Recompute the chain over the whole log and every projection from the events; report
    the first broken position, and whether a digest kept earlier is still on the chain."""
    digest = (args["position"], args["hash"]) if "position" in args else None
    return jsonable(audit.verify(current_ledger(), consistent(args.get("min_position")), digest))
