"""The projection gauges of a real `serve`'s `/metrics`, after real traffic: the projections
run in its background process (and a helper on PostgreSQL), the scrape in an HTTP worker."""

from __future__ import annotations

import time

import requests

from ledger.config import Settings
from projections.definitions import ALL
from projections.eventlog import open_ledger
from tests.system import test_serve_http
from tests.system.test_serve_http import Service, now, open_shop

service = test_serve_http.service

PROJECTIONS = [p.name for p in ALL]


def _head(s: Service) -> int:
    ledger = open_ledger(settings=Settings(database_url=s.env["LEDGER_DATABASE_URL"]))
    try:
        return int(ledger.recorder.max_notification_id() or 0)
    finally:
        ledger.close()


def _gauges(s: Service) -> dict[str, dict[str, float]]:
    """{gauge: {projection: value}} for the three projection gauges."""
    text = requests.get(s.base + "/metrics", timeout=30).text
    found: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if line.startswith("ledger_projection_") and "{" in line:
            name, rest = line.split("{", 1)
            projection = rest.split('projection="', 1)[1].split('"', 1)[0]
            found.setdefault(name, {})[projection] = float(rest.rsplit(" ", 1)[1])
    return found


def test_projection_gauges_of_a_real_serve_after_traffic(service: Service) -> None:
    s = service
    shop = open_shop(s)
    for number in range(5):
        member_id = f"m{number}"
        s.call("POST", "/v1/members", {"member_id": member_id}, shop)
        s.call(
            "POST",
            "/v1/accruals",
            {
                "transaction_id": f"t{number}",
                "member_id": member_id,
                "amount": "12.00",
                "currency": "EUR",
                "occurred_at": now(),
            },
            shop,
        )
    head = _head(s)
    deadline = time.monotonic() + 60
    while (gauges := _gauges(s)).get("ledger_projection_lag_events") != dict.fromkeys(
        PROJECTIONS, 0.0
    ):
        assert time.monotonic() < deadline, gauges
        time.sleep(0.2)
    assert gauges["ledger_projection_position"] == dict.fromkeys(PROJECTIONS, float(head))
    assert gauges["ledger_projection_lag_seconds"] == dict.fromkeys(PROJECTIONS, 0.0)
    assert s.stop() == 0
