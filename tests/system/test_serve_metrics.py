"""The projection gauges of a real `serve`'s `/metrics`, after real traffic: the projections
run in its background process (and a helper on PostgreSQL), the scrape in an HTTP worker."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import requests
from flask.testing import FlaskClient

from ledger.application import Ledger
from ledger.config import Settings
from projections.definitions import ALL
from tests.api.ops_helpers import deploy
from tests.system import test_serve_http
from tests.system.serve_support import accrual
from tests.system.test_serve_http import Service, cli, now, open_shop, service_env

service = test_serve_http.service

PROJECTIONS = [p.name for p in ALL]


def _head(s: Service) -> int:
    ledger = Ledger(settings=Settings(database_url=s.env["LEDGER_DATABASE_URL"]))
    try:
        return int(ledger.recorder.max_notification_id() or 0)
    finally:
        ledger.close()


def _gauges(s: Service) -> dict[str, dict[str, float]]:
    return _parse(requests.get(s.base + "/metrics", timeout=30).text)


def _parse(text: str) -> dict[str, dict[str, float]]:
    """{gauge: {projection: value}} for the three projection gauges."""
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


def test_projection_gauges_follow_a_separate_project_process(
    database_url: str, tmp_path: Path
) -> None:
    """`loyalty-ledger project` applies the projections; an HTTP app that runs none (as on an
    API host) shows its progress, and its lag while it is stopped."""
    deployment = deploy(database_url)
    client, admin = deployment.client, deployment.admin
    for number in range(3):
        member_id = f"m{number}"
        enrolled = client.post("/v1/members", json={"member_id": member_id}, headers=admin)
        assert enrolled.status_code == 201
        accrued = client.post("/v1/accruals", json=accrual(member_id, f"t{number}"), headers=admin)
        assert accrued.status_code == 201
    env = service_env(database_url, LEDGER_PROJECTION_POLL_SECONDS="0.1")
    log = (tmp_path / "project.log").open("wb")
    runner = subprocess.Popen(
        [*cli(), "project"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        head = _ledger_head(database_url)
        deadline = time.monotonic() + 60
        while _app_gauges(client).get("ledger_projection_position") != dict.fromkeys(
            PROJECTIONS, float(head)
        ):
            assert time.monotonic() < deadline, _app_gauges(client)
            time.sleep(0.2)
        assert _app_gauges(client)["ledger_projection_lag_events"] == dict.fromkeys(
            PROJECTIONS, 0.0
        )
    finally:
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(60) == 0
        log.close()
    after = client.post("/v1/accruals", json=accrual("m0", "after"), headers=admin)
    assert after.status_code == 201
    behind = _app_gauges(client)
    written = _ledger_head(database_url) - head
    assert written > 0
    assert behind["ledger_projection_position"] == dict.fromkeys(PROJECTIONS, float(head))
    assert behind["ledger_projection_lag_events"] == dict.fromkeys(PROJECTIONS, float(written))
    assert min(behind["ledger_projection_lag_seconds"].values()) > 0
    deployment.app.extensions["ledger"].close()


def _ledger_head(url: str) -> int:
    ledger = Ledger(settings=Settings(database_url=url))
    try:
        return int(ledger.recorder.max_notification_id() or 0)
    finally:
        ledger.close()


def _app_gauges(client: FlaskClient) -> dict[str, dict[str, float]]:
    return _parse(client.get("/metrics").get_data(as_text=True))
