"""Database outage mid-stream: 503 + Retry-After, self-recovery, every accrual exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime

import psycopg
import pytest
from flask.testing import FlaskClient

from api.app import create_app
from api.migrate import migrate
from ledger.config import Settings
from tests.api.ops_helpers import PARTNER_P1
from tests.system.pg_cluster import PrivateCluster

pytestmark = pytest.mark.postgres

ADMIN_KEY = "outage-admin-key-0123456789"
ACCRUALS = 60
OUTAGE_AFTER_SECONDS = 0.5
OUTAGE_SECONDS = 15.0  # longer than a request waits: 10 attempts x (1 s + 0.2 s)


def post_until_accepted(
    client: FlaskClient,
    path: str,
    body: dict[str, object],
    headers: dict[str, str],
    seen: Counter[str],
) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = client.post(path, json=body, headers=headers)
        seen[str(response.status_code)] += 1
        if response.status_code in (200, 201):
            return response.get_json()
        assert response.status_code == 503, response.get_data(as_text=True)
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["type"].endswith("/unavailable")
        assert int(response.headers["Retry-After"]) > 0
        seen["retry-after"] += 1
        time.sleep(0.1)
    raise AssertionError(f"{path} never accepted: {seen}")


def test_postgres_outage_answers_503_and_recovers_with_each_accrual_once(
    cluster: PrivateCluster,
) -> None:
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE ledger")
    url = cluster.url.rsplit("/", 1)[0] + "/ledger"
    settings = Settings(database_url=url, admin_key=ADMIN_KEY, db_connect_timeout=1)
    migrate(settings)
    app = create_app(settings=settings)
    client = app.test_client()
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    seen: Counter[str] = Counter()
    post_until_accepted(client, "/v1/partners", PARTNER_P1, admin, seen)
    post_until_accepted(client, "/v1/members", {"member_id": "m1", "partner_id": "p1"}, admin, seen)

    def outage() -> None:
        time.sleep(OUTAGE_AFTER_SECONDS)
        cluster.stop()
        time.sleep(OUTAGE_SECONDS)
        cluster.start()

    stopper = threading.Thread(target=outage)
    stopper.start()
    occurred_at = datetime.now(UTC).isoformat()
    last: dict[str, object] = {}
    for number in range(ACCRUALS):
        last = post_until_accepted(
            client,
            "/v1/accruals",
            {
                "transaction_id": f"t{number}",
                "member_id": "m1",
                "amount": "10.00",
                "currency": "EUR",
                "occurred_at": occurred_at,
                "partner_id": "p1",
            },
            admin,
            seen,
        )
        time.sleep(0.05)
    stopper.join()

    assert seen["503"] >= 1 and seen["retry-after"] == seen["503"], seen
    assert set(seen) <= {"200", "201", "503", "retry-after"}, seen
    assert last["balance"] == {"available": ACCRUALS * 10, "pending": 0, "tier": "basic"}
    with psycopg.connect(url) as conn:
        topics = Counter(
            topic.rsplit(".", 1)[-1]
            for (topic,) in conn.execute("SELECT topic FROM ledger_events").fetchall()
        )
    assert topics["PointsAccrued"] == ACCRUALS
    app.extensions["ledger"].close()
