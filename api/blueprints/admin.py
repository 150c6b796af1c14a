"""HTTP endpoints: administration (role admin; reading the program is open to every role)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, url_for

from api import admin_schemas, schemas
from api.auth import require_roles
from api.blueprint import Blueprint
from api.problems import Problem
from api.writes import (
    LOCATION_HEADER,
    current_ledger,
    documented_write,
    write_response,
    write_result,
)
from ledger.access import ROLES, ApiKey
from ledger.application import SweepReport
from ledger.commands import ADJUSTMENT_SCOPE, Adjust
from ledger.money import with_minor_digits
from ledger.partner import PartnerTerms
from ledger.program import ProgramRules
from projections import reads
from projections.sweeps import run_sweep

blp = Blueprint(
    "admin",
    __name__,
    url_prefix="/v1",
    description="Administration: program, partners, API keys, adjustments, member status, "
    "sweeps. Role admin.",
)


@blp.route("/program", methods=["GET"])
@blp.doc(operationId="getProgram")
@require_roles(*ROLES)
@blp.response(200, schemas.ProgramSchema)
def program() -> dict[str, Any]:
    """The program in force."""
    return _program_body(current_ledger().program())


@blp.route("/program", methods=["PUT"])
@blp.doc(operationId="replaceProgram")
@require_roles("admin")
@blp.arguments(schemas.ProgramSchema)
@blp.response(200, schemas.ProgramSchema)
def configure_program(rules: ProgramRules) -> dict[str, Any]:
    """Replace the program (it applies to lots created from then on)."""
    return _program_body(current_ledger().configure_program(rules))


def _program_body(rules: ProgramRules) -> dict[str, Any]:
    """The program with its tiers' spend thresholds written as money ("3600.00")."""
    body = rules.as_dict()
    for tier in body["tiers"]:
        tier["threshold"] = with_minor_digits(tier["threshold"], rules.currency)
    return body


@blp.route("/partners", methods=["POST"])
@blp.doc(operationId="registerPartner")
@require_roles("admin")
@blp.arguments(schemas.PartnerRequestSchema)
@documented_write(blp, schemas.PartnerSchema)
def register_partner(terms: PartnerTerms) -> Response:
    """Register a partner (the same body again: 200; different terms: 409)."""
    return write_response(
        current_ledger().register_partner(terms),
        schemas.PartnerSchema(),
        location=url_for("admin.partner", partner_id=terms.partner_id),
    )


@blp.route("/partners", methods=["GET"])
@blp.doc(operationId="listPartners")
@require_roles("admin")
@blp.arguments(admin_schemas.PageArgs, location="query")
@blp.response(200, admin_schemas.PartnerListSchema)
def list_partners(args: dict[str, Any]) -> dict[str, Any]:
    """Every partner with its terms and status, in the order they were registered."""
    after = _page_start(args.get("cursor"), "partners")
    found, more = current_ledger().partners(after, args["limit"])
    return {
        "partners": [partner.as_dict() for partner in found],
        "next_cursor": _next_cursor("partners", more),
    }


@blp.route("/partners/<partner_id>", methods=["PATCH"])
@blp.doc(operationId="changePartner")
@require_roles("admin")
@blp.arguments(admin_schemas.PartnerChangeSchema)
@blp.response(200, schemas.PartnerSchema)
def change_partner(changes: dict[str, Any], partner_id: str) -> Response:
    """Change a partner's name, rates or pending days (an event on the partner): operations
    from then on use the new terms; those already recorded keep theirs."""
    outcome = current_ledger().change_partner_terms(partner_id, changes)
    return write_response(outcome, schemas.PartnerSchema(), created=False)


@blp.route("/partners/<partner_id>/reactivate", methods=["POST"])
@blp.doc(operationId="reactivatePartner")
@require_roles("admin")
@blp.arguments(schemas.NoBodySchema, required=False)
@blp.response(200, schemas.PartnerSchema)
def reactivate_partner(_: dict[str, Any], partner_id: str) -> Response:
    """Reactivate a suspended partner: its writes are accepted again."""
    outcome = current_ledger().reactivate_partner(partner_id)
    return write_response(outcome, schemas.PartnerSchema(), created=False)


def _page_start(cursor: str | None, listing: str) -> int:
    """The log position a listing's page continues after (0 without a cursor)."""
    if cursor is None:
        return 0
    try:
        return int(reads.decode_cursor(cursor)[listing])
    except (ValueError, KeyError, TypeError) as error:
        raise Problem(
            "validation-error", "Unknown cursor.", {"cursor": ["Not a cursor from this listing."]}
        ) from error


def _next_cursor(listing: str, after: int | None) -> str | None:
    return None if after is None else reads.encode_cursor({listing: after})


@blp.route("/partners/<partner_id>", methods=["GET"])
@blp.doc(operationId="getPartner")
@require_roles("admin")
@blp.response(200, schemas.PartnerSchema)
def partner(partner_id: str) -> dict[str, Any]:
    """A partner's terms and status."""
    return current_ledger().partner(partner_id).as_dict()


@blp.route("/partners/<partner_id>/suspend", methods=["POST"])
@blp.doc(operationId="suspendPartner")
@require_roles("admin")
@blp.arguments(schemas.NoBodySchema, required=False)
@blp.response(200, schemas.PartnerSchema)
def suspend_partner(_: dict[str, Any], partner_id: str) -> Response:
    """Suspend a partner: all its writes are refused from now on."""
    outcome = current_ledger().suspend_partner(partner_id)
    return write_response(outcome, schemas.PartnerSchema(), created=False)


@blp.route("/keys", methods=["POST"])
@blp.doc(operationId="issueKey")
@blp.problems("not-found")
@require_roles("admin")
@blp.arguments(schemas.KeyRequestSchema)
@blp.response(201, schemas.KeySchema, headers=LOCATION_HEADER)
def issue_key(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Issue an API key; the response is the only time the key is shown."""
    token, key = current_ledger().issue_key(data["role"], data.get("partner_id"), data["name"])
    location = url_for("admin.revoke_key", key_id=key.key_id)
    return {**key.as_dict(), "key": token}, {"Location": location}


@blp.route("/keys", methods=["GET"])
@blp.doc(operationId="listKeys")
@require_roles("admin")
@blp.arguments(admin_schemas.PageArgs, location="query")
@blp.response(200, admin_schemas.KeyListSchema)
def list_keys(args: dict[str, Any]) -> dict[str, Any]:
    """Every API key ever issued (revoked ones too), without its secret."""
    after = _page_start(args.get("cursor"), "keys")
    found, more = current_ledger().api_keys_page(after, args["limit"])
    return {"keys": [key_view(key) for key in found], "next_cursor": _next_cursor("keys", more)}


@blp.route("/keys/<key_id>", methods=["GET"])
@blp.doc(operationId="getKey")
@require_roles("admin")
@blp.response(200, admin_schemas.KeyViewSchema)
def key(key_id: str) -> dict[str, Any]:
    """One API key, without its secret (the `Location` of its 201)."""
    return key_view(current_ledger().api_key(key_id))


def key_view(key: ApiKey) -> dict[str, Any]:
    """A key as GET /v1/keys lists it (and `loyalty-ledger keys list`): never its secret."""
    return {**key.as_dict(), "created_at": key.created_on}


@blp.route("/keys/<key_id>", methods=["DELETE"])
@blp.doc(operationId="revokeKey")
@require_roles("admin")
@blp.arguments(schemas.NoBodySchema, required=False)
@blp.response(204)
def revoke_key(_: dict[str, Any], key_id: str) -> None:
    """Revoke an API key."""
    current_ledger().revoke_key(key_id)


@blp.route("/members/<member_id>/adjustments", methods=["POST"])
@blp.doc(operationId="createAdjustment")
@require_roles("admin")
@blp.arguments(schemas.AdjustmentRequestSchema)
@documented_write(blp, schemas.AdjustmentSchema, "member-not-active", "insufficient-points")
def adjust(data: dict[str, Any], member_id: str) -> Response:
    """Credit or debit points by hand (idempotent on adjustment_id)."""
    outcome = current_ledger().execute(Adjust(member_id=member_id, **data))
    location = url_for(
        "admin.adjustment", member_id=member_id, adjustment_id=outcome.body["adjustment_id"]
    )
    return write_response(outcome, schemas.AdjustmentSchema(), location=location)


@blp.route("/members/<member_id>/adjustments/<adjustment_id>", methods=["GET"])
@blp.doc(operationId="getAdjustment")
@require_roles("admin", "auditor", "finance")
@blp.response(200, schemas.AdjustmentSchema)
def adjustment(member_id: str, adjustment_id: str) -> Response:
    """An adjustment as it was answered (the `Location` of its 201)."""
    outcome = current_ledger().transaction(ADJUSTMENT_SCOPE, adjustment_id)
    if outcome.body.get("member_id") != member_id:
        raise Problem("not-found", f"adjustment {adjustment_id} of member {member_id} not found")
    _, body = write_result(outcome, schemas.AdjustmentSchema(), created=False)
    return jsonify(body)


def _change_status(member_id: str, action: str) -> Response:
    outcome = current_ledger().change_member_status(member_id, action)
    return write_response(outcome, schemas.MemberSchema(), created=False)


@blp.route("/members/<member_id>/suspend", methods=["POST"])
@blp.doc(operationId="suspendMember")
@blp.problems("member-not-active")
@require_roles("admin")
@blp.arguments(schemas.NoBodySchema, required=False)
@blp.response(200, schemas.MemberSchema)
def suspend_member(_: dict[str, Any], member_id: str) -> Response:
    """Suspend a member: no accruals or redemptions until reactivated."""
    return _change_status(member_id, "suspend")


@blp.route("/members/<member_id>/reactivate", methods=["POST"])
@blp.doc(operationId="reactivateMember")
@blp.problems("member-not-active")
@require_roles("admin")
@blp.arguments(schemas.NoBodySchema, required=False)
@blp.response(200, schemas.MemberSchema)
def reactivate_member(_: dict[str, Any], member_id: str) -> Response:
    """Reactivate a suspended member."""
    return _change_status(member_id, "reactivate")


@blp.route("/members/<member_id>/close", methods=["POST"])
@blp.doc(operationId="closeMember")
@require_roles("admin")
@blp.arguments(admin_schemas.CloseRequestSchema, required=False)
@blp.response(200, schemas.MemberSchema)
def close_member(data: dict[str, Any], member_id: str) -> Response:
    """Close a member: the remaining points are forfeited (the reason, if given, is kept)."""
    outcome = current_ledger().change_member_status(member_id, "close", data.get("reason"))
    return write_response(outcome, schemas.MemberSchema(), created=False)


@blp.route("/sweeps", methods=["POST"])
@blp.doc(operationId="runSweep")
@require_roles("admin")
@blp.arguments(schemas.SweepRequestSchema)
@blp.response(200, schemas.SweepSchema)
def sweep(data: dict[str, Any]) -> SweepReport:
    """Emit the activations, expiries and tier downgrades due at as_of (default now)."""
    return run_sweep(current_ledger(), data.get("as_of"))
