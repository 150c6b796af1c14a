"""Metrics after known traffic: exact deltas, route templates as labels, projection gauges."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.metrics import PROJECTIONS
from ledger.application import Ledger
from projections.runner import ProjectionRunner
from projections.store import open_target
from tests.api.ops_helpers import deploy, samples


def test_metrics_count_known_traffic_exactly(sqlite_url: str) -> None:
    deployment = deploy(sqlite_url)
    client, partner = deployment.client, deployment.partner
    now = datetime.now(UTC).isoformat()
    before = samples(client)

    assert client.post("/v1/members", json={"member_id": "m-7"}, headers=partner).status_code == 201
    accrual = {"member_id": "m-7", "amount": "10.00", "currency": "EUR", "occurred_at": now}
    for transaction_id in ("a1", "a2", "a1"):  # the second a1 is a replay
        response = client.post(
            "/v1/accruals", headers=partner, json={**accrual, "transaction_id": transaction_id}
        )
        assert response.status_code in (200, 201)
    redemption = {"member_id": "m-7", "occurred_at": now}
    too_many = client.post(
        "/v1/redemptions",
        headers=partner,
        json={**redemption, "transaction_id": "r0", "points": 999},
    )
    assert too_many.status_code == 422
    assert (
        client.post(
            "/v1/redemptions",
            headers=partner,
            json={**redemption, "transaction_id": "r1", "points": 5},
        ).status_code
        == 201
    )
    reversal = client.post(
        "/v1/accruals/a2/reversals",
        headers=partner,
        json={"transaction_id": "ret-1", "occurred_at": now},
    )
    assert reversal.status_code == 201, reversal.get_json()
    restored = client.post(
        "/v1/redemptions/r1/reversals",
        headers=partner,
        json={"transaction_id": "ret-2", "occurred_at": now},
    )
    assert restored.status_code == 201, restored.get_json()
    admin = deployment.admin
    program = client.get("/v1/program", headers=admin).get_json()
    configured = client.put(
        "/v1/program", headers=admin, json={**program, "enrollment_bonus_points": 7}
    )
    assert configured.status_code == 200, configured.get_json()
    assert client.post("/v1/members", json={"member_id": "m-8"}, headers=partner).status_code == 201
    assert client.post("/v1/members/m-7/close", headers=admin).status_code == 200

    after = samples(client)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    requests = "ledger_http_requests_total"
    assert delta(requests, method="POST", route="/v1/accruals", status="201") == 2
    assert delta(requests, method="POST", route="/v1/accruals", status="200") == 1
    assert delta(requests, method="POST", route="/v1/redemptions", status="422") == 1
    assert delta("ledger_http_request_duration_seconds_count", route="/v1/accruals") == 3
    assert delta("ledger_idempotent_replays_total") == 1
    assert delta("ledger_rejections_total", reason="insufficient-points") == 1
    assert delta("ledger_events_appended_total", type="Member.PointsAccrued") == 2
    assert delta("ledger_events_appended_total", type="Member.PointsRedeemed") == 1
    assert delta("ledger_points_total", kind="issued", partner="p1") == 20
    assert delta("ledger_points_total", kind="redeemed", partner="p1") == 5
    assert delta("ledger_points_total", kind="reversed", partner="p1") == 10
    assert delta("ledger_points_total", kind="restored", partner="p1") == 5
    # m-7 closes with a2's 10 points reversed and r1's 5 given back: 10 left, all from p1.
    assert delta("ledger_points_total", kind="expired", partner="p1") == 10
    assert delta("ledger_points_total", kind="issued", partner="operator") == 7
    routes = {dict(labels).get("route") for _, labels in after}
    assert "/v1/accruals/<transaction_id>/reversals" in routes
    assert not any(route and ("a2" in route or "m-7" in route) for route in routes)


def _gauges(after: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> set[float]:
    return {after[(name, (("projection", p),))] for p in PROJECTIONS}


def test_projection_gauges_are_read_from_the_database(database_url: str) -> None:
    """No worker in this process: position and lag are the tracking table against the log."""
    deployment = deploy(database_url)
    client, partner = deployment.client, deployment.partner
    assert client.post("/v1/members", json={"member_id": "m-1"}, headers=partner).status_code == 201
    settings = deployment.app.extensions["settings"]
    ledger, target = Ledger(settings=settings), open_target(settings)
    try:
        runner = ProjectionRunner(ledger, target)
        head = runner.catch_up()
        caught_up = samples(client)
        assert _gauges(caught_up, "ledger_projection_position") == {head}
        assert _gauges(caught_up, "ledger_projection_lag_events") == {0}
        assert _gauges(caught_up, "ledger_projection_lag_seconds") == {0}

        accrual = {"member_id": "m-1", "amount": "10.00", "currency": "EUR"}
        now = datetime.now(UTC).isoformat()
        for transaction_id in ("a1", "a2"):
            response = client.post(
                "/v1/accruals",
                headers=partner,
                json={**accrual, "transaction_id": transaction_id, "occurred_at": now},
            )
            assert response.status_code == 201
        behind = samples(client)
        written = runner.head() - head
        assert written >= 2
        assert _gauges(behind, "ledger_projection_position") == {head}
        assert _gauges(behind, "ledger_projection_lag_events") == {written}
        assert min(_gauges(behind, "ledger_projection_lag_seconds")) > 0

        runner.catch_up()
        assert _gauges(samples(client), "ledger_projection_lag_events") == {0}
    finally:
        target.close()
        ledger.close()
        deployment.app.extensions["ledger"].close()


@pytest.mark.parametrize("limit", [3600.0, 0.000001])
def test_readyz_is_not_ready_while_a_projection_lags_past_the_limit(
    database_url: str, limit: float
) -> None:
    deployment = deploy(database_url, ready_max_lag_seconds=limit)
    client = deployment.client  # nothing applies the projections: the partner is unapplied
    response = client.get("/readyz")
    if limit > 1:
        assert response.status_code == 200, response.get_json()
        return
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    problem = response.get_json()
    assert problem["type"].endswith("/unavailable")
    assert problem["detail"].startswith("Projection ")
    assert "at position 0 of " in problem["detail"]
    deployment.app.extensions["ledger"].close()
