"""PostgreSQL restarted under a stream of accruals to a real `serve`: the projections and the
reads heal by themselves, nothing is skipped or applied twice, and no response is a 500."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ledger.application import Ledger
from projections.definitions import ALL
from projections.runner import ProjectionRunner
from projections.store import open_target
from tests.api.ops_helpers import deploy
from tests.system.pg_cluster import PrivateCluster
from tests.system.serve_support import POINTS_PER_ACCRUAL, Served, accrual, serve_on, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

MEMBERS = ("m1", "m2", "m3")
PROJECTIONS = [p.name for p in ALL]
STREAM_BEFORE_SECONDS = 2.0
STREAM_AFTER_SECONDS = 3.0


def _stream(
    served: Served, member_id: str, stop: threading.Event, accepted: list[dict[str, Any]]
) -> None:
    """Accruals one after another until stopped; each accepted answer kept (the write side's
    balance after it, tier bonuses included)."""
    number = 0
    while not stop.is_set():
        body = accrual(member_id, f"{member_id}-t{number}")
        accepted.append(served.until_accepted("POST", "/v1/accruals", body).json())
        number += 1


def _read(served: Served, stop: threading.Event) -> None:
    while not stop.is_set():
        for member_id in MEMBERS:
            served.request("GET", f"/v1/members/{member_id}/balance")
        time.sleep(0.05)


def _balances(served: Served) -> dict[str, int]:
    found = {}
    for member_id in MEMBERS:
        response = served.request("GET", f"/v1/members/{member_id}/balance")
        found[member_id] = response.json()["available"] if response.ok else -1
    return found


def _tracking(url: str) -> set[int]:
    with psycopg.connect(url) as conn:
        return {int(p) for (p,) in conn.execute("SELECT position FROM projection_tracking")}


def _head(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT max(notification_id) FROM ledger_events").fetchone()
        return int(row[0]) if row else 0


def test_restart_under_accruals_heals_projections_and_reads_postgres(
    cluster: PrivateCluster, tmp_path: Path
) -> None:
    served = serve_on(cluster, tmp_path)
    try:
        for member_id in MEMBERS:
            served.until_accepted("POST", "/v1/members", {"member_id": member_id})
        wait_until(lambda: min(_balances(served).values()) == 0, 30, "the members to be read")
        served.statuses.clear()  # every response from here on counts
        stop = threading.Event()
        accepted: dict[str, list[dict[str, Any]]] = {m: [] for m in MEMBERS}
        threads = [
            threading.Thread(target=_stream, args=(served, m, stop, accepted[m])) for m in MEMBERS
        ]
        threads.append(threading.Thread(target=_read, args=(served, stop)))
        for thread in threads:
            thread.start()
        try:
            time.sleep(STREAM_BEFORE_SECONDS)
            before = sum(map(len, accepted.values()))
            cluster.stop()
            cluster.start()
            wait_until(
                lambda: sum(map(len, accepted.values())) > before + 20,
                60,
                "accruals to be accepted again after the restart",
            )
            time.sleep(STREAM_AFTER_SECONDS)
        finally:
            stop.set()
            for thread in threads:
                thread.join(120)
        assert before > 0

        expected = {m: accepted[m][-1]["balance"]["available"] for m in MEMBERS}
        assert all(a["points"] >= POINTS_PER_ACCRUAL for m in MEMBERS for a in accepted[m])
        try:
            took = wait_until(lambda: _balances(served) == expected, 10, "plain reads to catch up")
        except AssertionError:
            raise AssertionError(f"read {_balances(served)}, expected {expected}") from None
        print(f"plain reads equal the expected balances {took:.2f} s after the stream")

        statuses = dict(served.statuses)
        assert 500 not in statuses, statuses
        assert set(statuses) <= {200, 201, 503}, statuses
        # Every projection group (finance runs in a helper process) reaches the head, and
        # each accrual is in the statement exactly once.
        wait_until(lambda: _tracking(served.url) == {_head(served.url)}, 10, "every group")
        with psycopg.connect(served.url) as conn:
            rows = conn.execute(
                "SELECT count(*), count(DISTINCT transaction_id) FROM member_statement "
                "WHERE type = 'PointsAccrued'"
            ).fetchone()
        accruals = sum(map(len, accepted.values()))
        assert rows == (accruals, accruals)
        head = _head(served.url)
        gauges = served.metrics()
        for projection in PROJECTIONS:
            label = f'{{projection="{projection}"}}'
            assert gauges[f"ledger_projection_position{label}"] == head
            assert gauges[f"ledger_projection_lag_events{label}"] == 0
            assert gauges[f"ledger_projection_lag_seconds{label}"] == 0
        # The restart is in the failure count (the HTTP worker aggregates the background
        # process's and its helper's counters). Not necessarily in every group's: a group
        # whose reads were retried until the server was back had nothing to count.
        counted = "ledger_projection_failures_total{"
        failures = [v for k, v in gauges.items() if k.startswith(counted)]
        assert sum(failures) >= 1, failures
        assert served.stop() == 0
    finally:
        served.close()


def test_reads_answer_503_while_the_database_is_down_then_heal_postgres(
    cluster: PrivateCluster,
) -> None:
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE ledger")
    url = cluster.url.rsplit("/", 1)[0] + "/ledger"
    deployment = deploy(url, db_connect_timeout=1)
    client, admin = deployment.client, deployment.admin
    assert client.post("/v1/members", json={"member_id": "m1"}, headers=admin).status_code == 201
    settings = deployment.app.extensions["settings"]
    ledger, target = Ledger(settings=settings), open_target(settings)
    try:
        ProjectionRunner(ledger, target).catch_up()
    finally:
        target.close()
        ledger.close()
    path = "/v1/members/m1/balance"
    assert client.get(path, headers=admin).status_code == 200  # the read pool is open

    cluster.stop()
    down = client.get(path, headers=admin)
    assert down.status_code == 503, down.get_json()
    assert down.mimetype == "application/problem+json"
    assert down.get_json()["type"].endswith("/unavailable")
    assert int(down.headers["Retry-After"]) > 0

    cluster.start()
    healed = wait_until(lambda: client.get(path, headers=admin).status_code == 200, 30, "reads")
    print(f"reads answer 200 again {healed:.2f} s after the database started")
    assert client.get(path, headers=admin).get_json()["available"] == 0
    deployment.app.extensions["ledger"].close()
