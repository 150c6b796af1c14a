"""HTTP endpoints: partner writes (role partner; an admin acts for any partner by naming it)."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify

from api import schemas
from api.auth import acting_partner, require_roles
from api.blueprint import Blueprint
from api.fields import ascii_json
from api.writes import (
    OPERATIONS,
    current_ledger,
    documented_write,
    execute_write,
    numbered,
    run_batch,
    write_result,
)

blp = Blueprint(
    "partners",
    __name__,
    url_prefix="/v1",
    description="Partner writes: enrollment, accruals, redemptions, reversals, batches. "
    "Role partner; an admin acts for any partner by adding partner_id.",
)
WRITERS = ("partner", "admin")
# What every partner operation's rules may refuse: an unknown member or partner, a member
# no longer active, a suspended partner, occurred_at out of range.
PARTNER_RULES = ("not-found", "member-not-active", "partner-not-active", "occurred-at-out-of-range")


@blp.route("/members", methods=["POST"])
@blp.doc(operationId="enrollMember")
@require_roles(*WRITERS)
@blp.arguments(schemas.EnrollRequestSchema)
@documented_write(blp, schemas.MemberSchema, "not-found", "partner-not-active")
def enroll(data: dict[str, Any]) -> Response:
    """Enroll a member (idempotent on member_id, coalition-wide).

    The member starts in the lowest tier with the program's enrollment_bonus_points. The
    same member_id with the same body again is a replay (200), with another body 409.
    """
    return execute_write("enroll", data)


@blp.route("/accruals", methods=["POST"])
@blp.doc(operationId="createAccrual")
@require_roles(*WRITERS)
@blp.arguments(schemas.AccrualRequestSchema)
@documented_write(blp, schemas.AccrualSchema, *PARTNER_RULES, "currency-mismatch")
def accrue(data: dict[str, Any]) -> Response:
    """Post an accrual (points earned on a purchase).

    `points = floor(amount * earn_rate * tier_multiplier) + bonus_points`, with the multiplier
    of the tier held before this accrual; `base_points = floor(amount * earn_rate)`. The points
    are pending until `occurred_at` + pending days, and expire at the start of the month after
    `occurred_at`'s month plus the program's points_lifetime_months. The same transaction_id
    with the same body again is a replay (200, `Idempotent-Replayed: true`), with another body
    409; a refused request (422) consumes nothing.
    """
    return execute_write("accrue", data)


@blp.route("/redemptions", methods=["POST"])
@blp.doc(operationId="createRedemption")
@require_roles(*WRITERS)
@blp.arguments(schemas.RedemptionRequestSchema)
@documented_write(blp, schemas.RedemptionSchema, *PARTNER_RULES, "insufficient-points")
def redeem(data: dict[str, Any]) -> Response:
    """Redeem available points.

    Consumes the member's available lots soonest expiry first; the partner is reimbursed
    `points * reimbursement_rate`, rounded half-up to the minor unit. More than `available`
    is 422 insufficient-points.
    """
    return execute_write("redeem", data)


@blp.route("/accruals/<transaction_id>/reversals", methods=["POST"])
@blp.doc(operationId="reverseAccrual")
@require_roles(*WRITERS)
@blp.arguments(schemas.AccrualReversalRequestSchema)
@documented_write(
    blp,
    schemas.AccrualReversalSchema,
    *PARTNER_RULES,
    "already-reversed",
    "refund-exceeds-original",
)
def reverse_accrual(data: dict[str, Any], transaction_id: str) -> Response:
    """Reverse an accrual, wholly or in part (a return).

    Points reversed = `floor(points * refund_amount / amount)`; without refund_amount (or
    when the refunds reach the amount) all the points not yet reversed. They come from the
    accrual's own lot first, then other available lots; what is missing becomes debt
    (`debt_created`). Only the partner that made the accrual may reverse it.
    """
    return execute_write("reverse_accrual", data, original_transaction_id=transaction_id)


@blp.route("/redemptions/<transaction_id>/reversals", methods=["POST"])
@blp.doc(operationId="reverseRedemption")
@require_roles(*WRITERS)
@blp.arguments(schemas.RedemptionReversalRequestSchema)
@documented_write(blp, schemas.RedemptionReversalSchema, *PARTNER_RULES, "already-reversed")
def reverse_redemption(data: dict[str, Any], transaction_id: str) -> Response:
    """Cancel a redemption: its points come back (once).

    The points pay down debt first, then return to the lots consumed with their original
    expiry. A second cancellation with another transaction_id is 409 already-reversed.
    """
    return execute_write("reverse_redemption", data, original_transaction_id=transaction_id)


@blp.route("/batches", methods=["POST"])
@blp.doc(operationId="submitBatch")
@require_roles(*WRITERS)
@blp.arguments(schemas.BatchRequestSchema)
@blp.response(200, schemas.BatchSchema)
def batch(data: dict[str, Any]) -> Response:
    """Apply up to 10,000 operations in order, each atomic on its own.

    Each result carries the status and body (or problem) its single endpoint would give.
    """
    partner_id = acting_partner(data.get("partner_id"))
    results = run_batch(current_ledger(), data["operations"], partner_id)
    # Written by orjson (`ascii_json`), byte for byte what jsonify writes (sorted keys,
    # ASCII): through BatchSchema's copy and the json module it cost about 25 µs a line.
    body = ascii_json({"results": list(numbered(results))}, sort_keys=True)
    return current_app.response_class(body + b"\n", mimetype="application/json")


@blp.route("/transactions/<transaction_id>", methods=["GET"])
@blp.doc(operationId="getTransaction")
@require_roles(*WRITERS)
@blp.arguments(schemas.PartnerQuerySchema, location="query")
@blp.response(200, schemas.TransactionSchema)
def transaction(query: dict[str, Any], transaction_id: str) -> Response:
    """The partner's own operation with this transaction id, as it was answered."""
    outcome = current_ledger().transaction(acting_partner(query.get("partner_id")), transaction_id)
    operation = outcome.body["operation"]
    _, body = write_result(outcome, OPERATIONS[operation].response, created=False)
    return jsonify({**body, "operation": operation})
