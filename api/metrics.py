"""Prometheus metrics: HTTP traffic, what the ledger saves, projection progress, build info.

Under gunicorn `serve` sets PROMETHEUS_MULTIPROC_DIR before the workers start; prometheus-client
then keeps counters in shared files and `/metrics` aggregates every worker's (and those of the
background process and its projection helpers, which inherit the setting: failed projection
rounds are counted where they happen). Projection progress and build info are read when
scraped, from the database, so they need no shared state.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from importlib import metadata
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ledger.member import (
    AccrualReversed,
    Member,
    PointsAccrued,
    PointsExpired,
    PointsRedeemed,
    RedemptionReversed,
)
from projections import health
from projections.definitions import ALL

log = logging.getLogger("api.metrics")

UNMATCHED_ROUTE = "<unmatched>"
PROJECTIONS = [p.name for p in ALL]

HTTP_REQUESTS = Counter(
    "ledger_http_requests", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "ledger_http_request_duration_seconds", "Time to answer an HTTP request", ["route"]
)
EVENTS_APPENDED = Counter("ledger_events_appended", "Events the ledger saved", ["type"])
IDEMPOTENT_REPLAYS = Counter(
    "ledger_idempotent_replays", "Responses replayed for a repeated transaction id"
)
REJECTIONS = Counter("ledger_rejections", "Problem responses, by problem slug", ["reason"])
POINTS = Counter("ledger_points", "Points moved, by kind and partner", ["kind", "partner"])
_BONUS_GRANTED: type[Any] = Member.BonusGranted  # type: ignore[attr-defined]
_MEMBER_CLOSED: type[Any] = Member.MemberClosed  # type: ignore[attr-defined]


def points_moved(domain_event: Any) -> Iterator[tuple[str, str, int]]:
    """(kind, partner, points) for each movement of points an event records."""
    kind = type(domain_event)
    if kind is PointsAccrued:
        yield "issued", domain_event.partner_id, domain_event.points
    elif kind is _BONUS_GRANTED:
        yield "issued", domain_event.lot["source"], domain_event.lot["points"]
    elif kind is PointsRedeemed:
        yield "redeemed", domain_event.partner_id, domain_event.points
    elif kind is AccrualReversed:
        yield "reversed", domain_event.partner_id, domain_event.points_reversed
    elif kind is RedemptionReversed:
        yield "restored", domain_event.partner_id, domain_event.points_restored
    elif kind is PointsExpired or kind is _MEMBER_CLOSED:
        for portion in domain_event.lots:
            yield "expired", portion["source"], portion["points"]


def record_saved_events(domain_events: Sequence[Any]) -> None:
    for domain_event in domain_events:
        EVENTS_APPENDED.labels(type=type(domain_event).__qualname__).inc()
        for kind, partner, points in points_moved(domain_event):
            if points:
                POINTS.labels(kind=kind, partner=partner).inc(points)


class ScrapeTimeCollector(Collector):
    """Projection progress (from the database) and build info."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        build = GaugeMetricFamily("ledger_build_info", "The running build", labels=["version"])
        build.add_metric([version()], 1)
        yield build
        gauges = {
            "position": GaugeMetricFamily(
                "ledger_projection_position",
                "Last log position applied",
                labels=["projection"],
            ),
            "lag_events": GaugeMetricFamily(
                "ledger_projection_lag_events", "Events not yet applied", labels=["projection"]
            ),
            "lag_seconds": GaugeMetricFamily(
                "ledger_projection_lag_seconds",
                "Age of the oldest event not yet applied",
                labels=["projection"],
            ),
        }
        for status in projection_status(self.app):
            for field, gauge in gauges.items():
                if status.get(field) is not None:
                    gauge.add_metric([status["name"]], float(status[field]))
        yield from gauges.values()


def projection_status(app: Flask) -> list[dict[str, Any]]:
    """Each projection's position and lag, read from the database: the projections run in
    another process (`serve`'s background process and its helpers) or on another host
    (`loyalty-ledger project`), and every HTTP worker answers alike."""
    from api.blueprints.queries import read_target  # (the blueprints import this module)

    try:
        with app.app_context():
            return health.status(app.extensions["ledger"], read_target(), PROJECTIONS)
    except Exception:  # a scrape must still answer while the database is down
        log.warning("projection status unavailable", exc_info=True)
        return []


def version() -> str:
    try:
        return metadata.version("loyalty-ledger")
    except metadata.PackageNotFoundError:
        return "unknown"


def render(app: Flask) -> tuple[bytes, str]:
    """The exposition text: every worker's counters plus the scrape-time gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counters = CollectorRegistry()
        multiprocess.MultiProcessCollector(counters)  # type: ignore[no-untyped-call]
    else:
        counters = REGISTRY
    scraped = CollectorRegistry()
    scraped.register(ScrapeTimeCollector(app))
    return generate_latest(counters) + generate_latest(scraped), CONTENT_TYPE_LATEST


def route_of() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED_ROUTE


def install(app: Flask) -> None:
    observers = app.extensions["ledger"].save_observers
    if record_saved_events not in observers:
        observers.append(record_saved_events)

    @app.before_request
    def _start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        route = route_of()
        started = g.get("metrics_started")
        if started is not None:
            HTTP_DURATION.labels(route=route).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(
            method=request.method, route=route, status=str(response.status_code)
        ).inc()
        if response.headers.get("Idempotent-Replayed", "").lower() == "true":
            IDEMPOTENT_REPLAYS.inc()
        if response.mimetype == "application/problem+json":
            problem = response.get_json(silent=True) or {}
            slug = str(problem.get("type", "")).rsplit("/", 1)[-1]
            REJECTIONS.labels(reason=slug or "unknown").inc()
        return response
