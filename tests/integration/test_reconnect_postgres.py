"""Connections the PostgreSQL server dropped (`pg_terminate_backend`, as a restart does to
every session): the projection runner, its reads and the HTTP reads heal by themselves."""

from __future__ import annotations

import psycopg
import pytest

from api.migrate import migrate
from ledger.application import Ledger
from ledger.clock import ManualClock
from ledger.commands import Adjust
from ledger.config import Settings
from projections import reads
from projections.runner import ProjectionRunner, ensure_applied
from projections.store import CONNECTION_ERRORS, open_target
from tests.api.ops_helpers import deploy
from tests.integration.test_projections import build_coalition
from tests.system.serve_support import accrual

pytestmark = pytest.mark.postgres


def drop_every_session(url: str) -> int:
    """Terminate every other connection to the database; how many there were."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


def test_runner_and_reads_reconnect_after_the_server_drops_them_postgres(
    pg_url: str, clock: ManualClock
) -> None:
    settings = Settings(database_url=pg_url)
    migrate(settings)
    ledger = Ledger(settings=settings, clock=clock)
    target = open_target(settings)
    try:
        build_coalition(ledger, clock)
        runner = ProjectionRunner(ledger, target)
        runner.catch_up()
        assert target.try_lock("members")
        before = reads.balance(target, "m1")
        assert before is not None

        assert drop_every_session(pg_url) >= 3  # the runner's, its loader's, the read pool's
        # A read retries once on a checked pool: no error at all.
        assert reads.balance(target, "m1") == before
        ledger.execute(Adjust(adjustment_id="after", member_id="m1", points=7, reason="x"))
        # The runner's attempt meets a dropped connection; like the worker after any failed
        # round, it gives up every connection (its lock went with its session), and the
        # next attempt opens fresh ones and applies each event once.
        with pytest.raises(CONNECTION_ERRORS):
            runner.catch_up()
        target.recover()
        assert runner.catch_up() == runner.head()
        assert target.try_lock("members")
        after = reads.balance(target, "m1")
        assert after is not None and after["available"] == before["available"] + 7

        drop_every_session(pg_url)
        ledger.execute(Adjust(adjustment_id="again", member_id="m1", points=3, reason="x"))
        target.unlock_all()
        # What a `?min_position=` read runs: it heals within its own wait.
        assert ensure_applied(ledger, target, runner.head(), timeout=30)
        latest = reads.balance(target, "m1")
        assert latest is not None and latest["available"] == before["available"] + 10
    finally:
        target.close()
        ledger.close()


def test_http_reads_answer_after_the_server_drops_every_connection_postgres(
    pg_url: str,
) -> None:
    deployment = deploy(pg_url)
    client, admin = deployment.client, deployment.admin
    assert client.post("/v1/members", json={"member_id": "m1"}, headers=admin).status_code == 201
    written = client.post("/v1/accruals", json=accrual("m1", "t1"), headers=admin)
    assert written.status_code == 201
    position = written.get_json()["position"]
    settings = deployment.app.extensions["settings"]
    ledger, target = Ledger(settings=settings), open_target(settings)
    try:
        ProjectionRunner(ledger, target).catch_up()
    finally:
        target.close()
        ledger.close()
    path = "/v1/members/m1/balance"
    assert client.get(path, headers=admin).get_json()["available"] == 10

    for query in ("", f"?min_position={position}"):
        assert drop_every_session(pg_url) >= 1
        response = client.get(path + query, headers=admin)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["available"] == 10
    assert drop_every_session(pg_url) >= 1
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    deployment.app.extensions["ledger"].close()
