"""The Flask app factory: one blueprint per audience, one error mapping, one ledger."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask, Response, g, request
from flask_smorest import Api

from api import logs, metrics, problems
from api.blueprints import admin, audit, finance, operations, partners, queries
from api.lazy_ledger import LazyLedger
from ledger.application import Ledger
from ledger.clock import Clock
from ledger.config import Settings
from projections.eventlog import open_ledger


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
    )
    app.extensions["settings"] = settings
    app.extensions["ledger"] = ledger or LazyLedger(
        settings, lambda: open_ledger(settings=settings, clock=clock)
    )

    @app.before_request
    def _request_id() -> None:
        g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id") or uuid.uuid4().hex
        return response

    api = Api(app)
    for module in (partners, admin, queries, finance, audit, operations):
        api.register_blueprint(module.blp)
    problems.install(app)
    metrics.install(app)
    logs.install(app)
    return app


def ledger_of(app: Flask) -> Any:
    return app.extensions["ledger"]
