"""HTTP endpoints: operations (no auth): liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import PersistenceError
from flask import Response, current_app

from api import metrics
from api.blueprint import Blueprint
from api.lazy_ledger import check_reachable
from api.migrate import unapplied_migration_ids
from api.problems import Problem
from api.read_schemas import StatusSchema

blp = Blueprint("operations", __name__, description="Liveness, readiness and metrics (no auth)")

RETRY_AFTER = {"Retry-After": "2"}


@blp.route("/healthz")
@blp.doc(operationId="getHealth", security=[])
@blp.response(200, StatusSchema)
def healthz() -> dict[str, Any]:
    """The process is up (says nothing about the database)."""
    return {"status": "ok"}


@blp.route("/readyz")
@blp.doc(operationId="getReadiness", security=[])
@blp.problems("unavailable")
@blp.response(200, StatusSchema)
def readyz() -> dict[str, Any]:
    """The database answers and every migration is applied; else 503 `unavailable`."""
    settings = current_app.extensions["settings"]
    try:
        check_reachable(settings)
        missing = unapplied_migration_ids(settings, current_app.extensions["ledger"].recorder)
    except PersistenceError as error:
        raise Problem("unavailable", "The database is unreachable.", headers=RETRY_AFTER) from error
    if missing:
        raise Problem(
            "unavailable",
            f"Migrations not applied: {', '.join(missing)}; run `loyalty-ledger migrate`.",
            headers=RETRY_AFTER,
        )
    return {"status": "ready"}


@blp.route("/metrics")
@blp.doc(
    operationId="getMetrics",
    security=[],
    responses={
        "200": {
            "description": "Prometheus text exposition",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def prometheus_metrics() -> Response:
    """Prometheus text exposition, aggregated over every gunicorn worker."""
    body, content_type = metrics.render(current_app)
    return Response(body, content_type=content_type)
