"""The Flask app factory: one blueprint per audience, one error mapping, one ledger."""

from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, g, request
from flask_smorest import Api

from api import docs, logs, metrics, problems
from api.auth import SECURITY_SCHEME
from api.blueprint import check_query_parameters
from api.blueprints import admin, audit, finance, operations, partners, queries
from api.key_cache import KeyCache
from api.lazy_ledger import LazyLedger
from api.problems import PROBLEM_JSON
from api.schemas import ProblemSchema
from ledger.application import Ledger
from ledger.clock import Clock
from ledger.config import Settings

INTRODUCTION = """Event-sourced points ledger for coalition loyalty schemes.

- **Auth**: `Authorization: Bearer <api key>`; each operation says which roles may call it.
- **Money** is a decimal string with the currency's minor digits (`"42.50"`), **points** are
  integers, **times** RFC 3339 with an offset (answered in UTC to the microsecond, `Z`), ids
  `[A-Za-z0-9._:-]{1,64}`.
- **Idempotency**: a partner's `transaction_id` is unique across all its operations; the same
  request again answers 200 with the original body and `Idempotent-Replayed: true`, another
  body with the same id 409 `idempotency-conflict`; a refused request (422) consumes nothing.
- **Reading your own write**: every write answers its `position`; pass `?min_position=` to a
  query to wait (up to 5 s) until the projections have applied it.
- **Lists** take `limit` (default 100, at most 1000) and `cursor` (the previous page's
  `next_cursor`, null at the end).
- **Errors** are RFC 9457 `application/problem+json`; `type` ends with a slug a client codes
  against (`https://loyalty-ledger.dev/problems/<slug>`), and each operation lists the slugs
  it may answer. Unknown fields and query parameters are 422 `validation-error`.
"""


class LedgerApi(Api):  # type: ignore[misc]
    """flask-smorest's Api, documenting errors as the problem+json they are."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        # flask-smorest documents its error responses as application/json; ours are problems.
        for status in HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["content"] = {PROBLEM_JSON: {"schema": self.ERROR_SCHEMA}}
            self.spec.components.response(status.name, response, lazy=True)
        self.spec.components.response(
            self.DEFAULT_ERROR_RESPONSE_NAME,
            {
                "description": "Any other problem, e.g. 500 `internal-error`",
                "content": {PROBLEM_JSON: {"schema": self.ERROR_SCHEMA}},
            },
            lazy=True,
        )

    def _register_pagination_header(self) -> None:
        """None: lists page with a cursor in the body (API.md), not flask-smorest's
        X-Pagination header, whose schema would only clutter the document."""


def create_app(
    settings: Settings | None = None,
    ledger: Ledger | None = None,
    clock: Clock | None = None,
) -> Flask:
    settings = settings or (ledger.settings if ledger else Settings.from_env())
    app = Flask("loyalty-ledger")
    app.config.update(
        API_TITLE="loyalty-ledger",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={"info": {"description": INTRODUCTION}},
    )
    app.extensions["settings"] = settings
    app.extensions["ledger"] = ledger or LazyLedger(
        settings, lambda: Ledger(settings=settings, clock=clock)
    )
    app.extensions["api_keys"] = KeyCache(app.extensions["ledger"])

    @app.before_request
    def _request_id() -> None:
        g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id") or uuid.uuid4().hex
        return response

    api = LedgerApi(app, spec_kwargs={"extra_plugins": [docs.LedgerDocs()]})
    api.spec.components.security_scheme(
        SECURITY_SCHEME, {"type": "http", "scheme": "bearer", "description": "API key"}
    )
    for module in (partners, admin, queries, finance, audit, operations):
        api.register_blueprint(module.blp)
    problems.install(app)
    docs.install(app)
    metrics.install(app)
    logs.install(app)
    # After the timers and request logs start, so a refused request is counted and logged.
    app.before_request(check_query_parameters)
    return app
