"""Write outcomes as HTTP answers, for single endpoints, batches and `loyalty-ledger import`.

One path from a ledger `Outcome` (or error) to (status, body): a batch's result for an
operation is exactly what that operation's own endpoint would have answered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import count
from typing import Any, TypeVar, cast

from flask import Response, current_app, g, jsonify, url_for
from marshmallow import Schema, ValidationError

from api import schemas
from api.auth import acting_partner, check_partner, enrolling_partner
from api.blueprint import Blueprint
from api.problems import Problem, documented_problems, problem_body, problem_parts
from ledger.application import Ledger, Outcome
from ledger.commands import (
    Accrue,
    Command,
    Enroll,
    Redeem,
    ReverseAccrual,
    ReverseRedemption,
)
from ledger.errors import LedgerError
from ledger.infrastructure.command_log import log_command

REPLAYED_HEADER = "Idempotent-Replayed"
Result = tuple[int, dict[str, Any]]
V = TypeVar("V", bound=Callable[..., Any])


@dataclass(frozen=True)
class WriteOperation:
    """A partner write: its batch form, its response and the command it becomes."""

    request: Schema
    response: Schema
    command: Callable[..., Command]


OPERATIONS: dict[str, WriteOperation] = {
    "enroll": WriteOperation(schemas.EnrollRequestSchema(), schemas.MemberSchema(), Enroll),
    "accrue": WriteOperation(schemas.AccrualRequestSchema(), schemas.AccrualSchema(), Accrue),
    "redeem": WriteOperation(schemas.RedemptionRequestSchema(), schemas.RedemptionSchema(), Redeem),
    "reverse_accrual": WriteOperation(
        schemas.ReverseAccrualOperationSchema(), schemas.AccrualReversalSchema(), ReverseAccrual
    ),
    "reverse_redemption": WriteOperation(
        schemas.ReverseRedemptionOperationSchema(),
        schemas.RedemptionReversalSchema(),
        ReverseRedemption,
    ),
}


def current_ledger() -> Ledger:
    return cast(Ledger, current_app.extensions["ledger"])


# ------------------------------------------------------------------ outcome → answer


def write_result(outcome: Outcome, schema: Schema, created: bool = True) -> Result:
    """201 for a new write (200 if it changes a thing that exists, or is a replay)."""
    body = schema.dump({**outcome.body, "position": outcome.position})
    return (201 if created and not outcome.replayed else 200), body


def error_result(error: Problem | LedgerError | ValidationError) -> Result:
    body = problem_body(*problem_parts(error))
    return body["status"], body


def write_response(
    outcome: Outcome, schema: Schema, created: bool = True, location: str | None = None
) -> Response:
    """The answer; a 201 carries `Location`, the URL of what it created."""
    status, body = write_result(outcome, schema, created)
    response = jsonify(body)
    response.status_code = status
    if outcome.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    if status == 201 and location is not None:
        response.headers["Location"] = location
    return response


LOCATION_HEADER = {
    "Location": {
        "description": "The URL of the new resource.",
        "schema": {"type": "string", "format": "uri-reference"},
    }
}


def transaction_location(partner_id: str, transaction_id: str) -> str:
    """`/v1/transactions/{transaction_id}`, naming the partner for a key that acts for any."""
    if g.principal.role == "partner":
        return url_for("partners.transaction", transaction_id=transaction_id)
    return url_for("partners.transaction", transaction_id=transaction_id, partner_id=partner_id)


def documented_write(blp: Blueprint, schema: type[Schema], *problems: str) -> Callable[[V], V]:
    """Document a write: 201 with the new resource, 200 when it is an idempotent replay, 409
    when the same id came with another body, and the problems its rules may answer."""

    def decorate(view: V) -> V:
        replay = blp.alt_response(
            200,
            schema=schema,
            description="A replay of an earlier identical request: the original body.",
            headers={
                REPLAYED_HEADER: {
                    "description": "true: this answers an earlier identical request again.",
                    "schema": {"type": "string", "enum": ["true"]},
                }
            },
        )
        documented = blp.response(201, schema, headers=LOCATION_HEADER)(replay(view))
        documented_problems(documented, "idempotency-conflict", *problems)
        return cast(V, documented)

    return decorate


def execute_write(name: str, data: dict[str, Any], **path: str) -> Response:
    """A single partner endpoint: the acting partner, one ledger call, the answer."""
    operation = OPERATIONS[name]
    choose_partner = enrolling_partner if name == "enroll" else acting_partner
    partner_id = choose_partner(data.pop("partner_id", None))
    command = operation.command(partner_id=partner_id, **data, **path)
    outcome = current_ledger().execute(command)
    if name == "enroll":
        location = url_for("queries.member", member_id=outcome.body["member_id"])
    else:
        location = transaction_location(partner_id or "", outcome.body["transaction_id"])
    return write_response(outcome, operation.response, location=location)


# --------------------------------------------------------------------------- batches


def parse_operation(raw: Any, partner_id: str) -> tuple[Command, WriteOperation]:
    """One batch line as a command; raises ValidationError (422) or Problem (403).

    A line that could not even be read arrives as its Problem.
    """
    if isinstance(raw, Problem):
        raise raw
    if not isinstance(raw, dict):
        raise ValidationError({"_schema": ["Each operation must be a JSON object."]})
    data = dict(raw)
    name = data.pop("op", None)
    operation = OPERATIONS.get(name) if isinstance(name, str) else None
    if operation is None:
        raise ValidationError({"op": [f"Must be one of: {', '.join(OPERATIONS)}."]})
    loaded = operation.request.load(data)
    check_partner(loaded.pop("partner_id", None), partner_id)
    return operation.command(partner_id=partner_id, **loaded), operation


def run_batch(
    ledger: Ledger, raw_operations: Iterable[Any], partner_id: str, log_level: int = logging.INFO
) -> list[Result]:
    """Each operation's (status, body), in order; each applied atomically on its own.

    Each applied or refused command gets its log line at `log_level`.
    """
    results: list[Result | None] = []
    commands: list[Command] = []
    pending: list[tuple[int, WriteOperation]] = []
    for index, raw in enumerate(raw_operations):
        try:
            command, operation = parse_operation(raw, partner_id)
        except (ValidationError, Problem) as error:
            results.append(error_result(error))
            continue
        results.append(None)
        commands.append(command)
        pending.append((index, operation))
    outcomes = ledger.execute_batch(commands, log_commands=False)
    for (index, operation), command, outcome in zip(pending, commands, outcomes, strict=True):
        log_command(command, outcome, log_level)
        results[index] = (
            error_result(outcome)
            if isinstance(outcome, LedgerError)
            else write_result(outcome, operation.response)
        )
    return cast(list[Result], results)


def numbered(
    results: Iterable[Result],
    indexes: Iterable[int] | None = None,
) -> Iterator[dict[str, Any]]:
    """Results as `{index, status, body}`: by position, or by the given indexes (file lines)."""
    for index, (status, body) in zip(indexes or count(), results, strict=indexes is not None):
        yield {"index": index, "status": status, "body": body}
