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
from ledger.infrastructure.store_reads import retried

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
    """The database answers, every migration is applied, `serve`'s background process runs
    (where `serve` runs the app) and no projection trails the log by more than
    `ready_max_lag_seconds`; else 503 `unavailable`."""
    settings = current_app.extensions["settings"]
    try:
        check_reachable(settings)
        # Retried as the log's reads: a pooled connection a database restart broke is not
        # a reason to take this host out of the load balancer.
        missing = retried(unapplied_migration_ids)(
            settings, current_app.extensions["ledger"].recorder
        )
    except PersistenceError as error:
        raise Problem("unavailable", "The database is unreachable.", headers=RETRY_AFTER) from error
    if missing:
        raise Problem(
            "unavailable",
            f"Migrations not applied: {', '.join(missing)}; run `loyalty-ledger migrate`.",
            headers=RETRY_AFTER,
        )
    background_running = current_app.extensions.get("background_running")
    if background_running is not None and not background_running():
        raise Problem(
            "unavailable",
            "The background process (projections and the periodic sweep) is not running; "
            "serve is restarting it.",
            headers=RETRY_AFTER,
        )
    limit = settings.ready_max_lag_seconds
    if limit > 0:
        behind = [s for s in metrics.projection_status(current_app) if s["lag_seconds"] > limit]
        if behind:
            worst = max(behind, key=lambda s: s["lag_seconds"])
            raise Problem(
                "unavailable",
                f"Projection {worst['name']} is at position {worst['position']} of "
                f"{worst['head']}, {worst['lag_seconds']:.0f} s behind the log "
                f"(more than {limit:g} s).",
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
