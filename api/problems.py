"""RFC 9457 problem+json: the one place where errors become HTTP responses."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from flask import Flask, Response, json
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from ledger import errors

PROBLEM_BASE = "https://loyalty-ledger.dev/problems/"
INVALID = "The request is not valid."
PROBLEM_JSON = "application/problem+json"
PROBLEM_SCHEMA = "#/components/schemas/Problem"
log = logging.getLogger("api.errors")
DATABASE_DOWN: tuple[type[Exception], ...] = (
    StoreOperationalError,
    StoreInterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)

# Each domain error's slug decides its status; the slug is the contract partners code against.
STATUS_BY_SLUG: dict[str, int] = {
    "validation-error": 422,
    "malformed-request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not-found": 404,
    "method-not-allowed": 405,
    "unsupported-media-type": 415,
    "idempotency-conflict": 409,
    "already-reversed": 409,
    "insufficient-points": 422,
    "member-not-active": 422,
    "partner-not-active": 422,
    "refund-exceeds-original": 422,
    "currency-mismatch": 422,
    "occurred-at-out-of-range": 422,
    "unavailable": 503,
    "projection-lagging": 503,
    "internal-error": 500,
}

TITLES: dict[str, str] = {
    "validation-error": "The request is not valid",
    "malformed-request": "The request body is not valid JSON",
    "unauthorized": "Missing, unknown or revoked API key",
    "forbidden": "This key's role may not do this",
    "not-found": "Not found",
    "method-not-allowed": "Method not allowed",
    "unsupported-media-type": "The request body must be application/json",
    "idempotency-conflict": "Transaction id already used with a different request",
    "already-reversed": "Already reversed",
    "insufficient-points": "Insufficient points",
    "member-not-active": "Member is not active",
    "partner-not-active": "Partner is not active",
    "refund-exceeds-original": "Refund exceeds what remains of the original",
    "currency-mismatch": "Currency does not match the partner's",
    "occurred-at-out-of-range": "occurred_at is out of the accepted range",
    "unavailable": "The database is unavailable; retry",
    "projection-lagging": "The read model has not caught up yet; retry",
    "internal-error": "Internal error",
}


# What each problem says in /openapi.json's examples: a detail (and field errors) as the
# service words it.
EXAMPLE_DETAILS: dict[str, tuple[str, dict[str, list[str]] | None]] = {
    "validation-error": (INVALID, {"amount": ['Must be a decimal string such as "12.50".']}),
    "malformed-request": ("The request body is not valid JSON.", None),
    "unsupported-media-type": ("The body must be application/json, not text/plain.", None),
    "unauthorized": ("Unknown or revoked API key.", None),
    "forbidden": ("Role partner may not do this.", None),
    "not-found": ("member m-1001 not found", None),
    "idempotency-conflict": (
        "transaction_id pos-1001 was already used with a different request",
        None,
    ),
    "already-reversed": ("accrual pos-1001 is already fully reversed", None),
    "insufficient-points": ("member m-1001 has 42 points available, not 500", None),
    "member-not-active": ("member m-1001 is suspended", None),
    "partner-not-active": ("partner shop-1 is suspended", None),
    "refund-exceeds-original": ("refund 50.00 exceeds the 42.50 not yet refunded", None),
    "currency-mismatch": ("partner shop-1 posts in EUR, not USD", None),
    "occurred-at-out-of-range": ("occurred_at is more than 5 minutes in the future", None),
    "unavailable": ("The database is unavailable; retry.", None),
    "projection-lagging": ("The projections have not applied position 1042 yet.", None),
}


RETRY_AFTER_HEADER: dict[str, Any] = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "integer"},
}


def documented_problems(view: Any, *slugs: str) -> None:
    """Record in a view's OpenAPI doc (flask-smorest's `_apidoc`) that it may answer these
    problems: per status, a problem+json response naming its slugs, with an example body of
    each (Swagger UI offers them in a list).
    """
    manual = view.__dict__.setdefault("_apidoc", {}).setdefault("manual_doc", {})
    responses = manual.setdefault("responses", {})
    for slug in slugs:
        status = STATUS_BY_SLUG[slug]
        response = responses.get(status)
        if not isinstance(response, dict):  # unset, or a component's name
            response = responses[status] = {
                "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_SCHEMA}, "examples": {}}}
            }
            if status == 503:
                response["headers"] = {"Retry-After": RETRY_AFTER_HEADER}
        examples = response["content"][PROBLEM_JSON]["examples"]
        detail, errors = EXAMPLE_DETAILS.get(slug, (TITLES.get(slug, slug), None))
        examples[slug] = {
            "summary": TITLES.get(slug, slug),
            "value": problem_body(slug, detail, errors),
        }
        response["description"] = f"{HTTPStatus(status).phrase}. " + " ".join(
            f"`{name}`: {TITLES.get(name, name)}." for name in sorted(examples)
        )


class Problem(Exception):
    """An HTTP-level problem raised from a view (auth, validation, lag)."""

    def __init__(
        self,
        slug: str,
        detail: str,
        errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.slug = slug
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


def problem_body(slug: str, detail: str, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": TITLES.get(slug, slug),
        "status": STATUS_BY_SLUG.get(slug, 500),
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return body


def problem_response(
    slug: str,
    detail: str,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = problem_body(slug, detail, errors)
    response = Response(json.dumps(body), status=body["status"], mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def problem_for_error(error: errors.LedgerError) -> tuple[str, str, dict[str, Any] | None]:
    """The (slug, detail, errors) a domain error answers with (also used inside batches)."""
    field_errors = None
    if isinstance(error, errors.InvalidCommand) and error.field:
        field_errors = {error.field: [error.detail]}
    return error.slug, error.detail, field_errors


def problem_parts(
    error: Problem | errors.LedgerError | ValidationError,
) -> tuple[str, str, dict[str, Any] | None]:
    """(slug, detail, errors) of any error a write can end in: views and batches alike."""
    if isinstance(error, Problem):
        return error.slug, error.detail, error.errors
    if isinstance(error, ValidationError):
        return "validation-error", INVALID, flatten_errors(error.messages)
    return problem_for_error(error)


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as {"field": [...], "tiers.0.code": [...]}."""
    if not isinstance(messages, dict):
        return {prefix or "_schema": [str(m) for m in _as_list(messages)]}
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten_errors(value, path))
        else:
            flat.setdefault(path, []).extend(str(m) for m in _as_list(value))
    return flat


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def install(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(error: Problem) -> Response:
        return problem_response(error.slug, error.detail, error.errors, error.headers)

    @app.errorhandler(errors.LedgerError)
    def _ledger_error(error: errors.LedgerError) -> Response:
        return problem_response(*problem_parts(error))

    def _store_down(error: Exception) -> Response:
        log.warning("database unavailable: %s", type(error).__name__)
        return problem_response(
            "unavailable", "The database is unavailable; retry.", headers={"Retry-After": "2"}
        )

    # The store's errors, and psycopg's own from the projection tables' reads: a server that
    # is down, restarting or gone away (a pool that found no working connection in time).
    for database_down in DATABASE_DOWN:
        app.register_error_handler(database_down, _store_down)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        code = error.code or 500
        messages = (getattr(error, "data", None) or {}).get("messages")
        if code == 422:
            # webargs nests messages by location (json, query, path): the field names suffice.
            flat: dict[str, list[str]] = {}
            for location in (messages or {}).values():
                flat.update(flatten_errors(location))
            return problem_response("validation-error", INVALID, flat)
        slug = {
            400: "malformed-request",
            401: "unauthorized",
            403: "forbidden",
            404: "not-found",
            405: "method-not-allowed",
            415: "unsupported-media-type",
        }.get(code, "internal-error")
        detail = (
            "The request body is not valid JSON."
            if code == 400 and messages
            else (error.description or TITLES[slug])
        )
        headers = None
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            # A 405 names the methods the resource allows (RFC 9110).
            headers = {"Allow": ", ".join(error.valid_methods)}
        response = problem_response(slug, detail, headers=headers)
        response.status_code = code
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return problem_response("internal-error", "An unexpected error occurred.")
