"""The API's log lines: one `request` line per HTTP request, and every line written while a
request is handled carries its request id and route.

The JSON format and the scrubbing of secrets are the service's
(`ledger/infrastructure/json_logging.py`); `command` lines come from the ledger
(`ledger/infrastructure/command_log.py`).
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, has_request_context, request

from api.metrics import route_of
from ledger.config import Settings
from ledger.infrastructure import json_logging

access_log = logging.getLogger("api.access")


class RequestContext(logging.Filter):
    """Adds the request id and route template to lines written inside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.context = {"request_id": g.get("request_id"), "route": route_of()}
        return True


def configure(settings: Settings) -> None:
    json_logging.configure(settings, RequestContext())


def install(app: Flask) -> None:
    configure(app.extensions["settings"])

    @app.before_request
    def _start_timer() -> None:
        g.log_started = time.perf_counter()

    @app.after_request
    def _log_request(response: Response) -> Response:
        started = g.get("log_started", time.perf_counter())
        principal = g.get("principal")
        access_log.info(
            "%s %s %s",
            request.method,
            route_of(),
            response.status_code,
            extra={
                "fields": {
                    "event": "request",
                    "method": request.method,
                    "route": route_of(),
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "partner_id": getattr(principal, "partner_id", None),
                    "key_id": getattr(principal, "key_id", None),
                }
            },
        )
        return response
