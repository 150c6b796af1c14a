"""Metrics after known traffic: exact deltas, route templates as labels, projection gauges."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.api.ops_helpers import deploy, samples


class FakeProjectionWorker:
    def status(self) -> list[dict[str, Any]]:
        return [
            {
                "name": "member_balances",
                "position": 41,
                "head": 44,
                "lag_events": 3,
                "lag_seconds": 1.5,
            }
        ]


def test_metrics_count_known_traffic_exactly(sqlite_url: str) -> None:
    deployment = deploy(sqlite_url)
    client, partner = deployment.client, deployment.partner
    deployment.app.extensions["projection_worker"] = FakeProjectionWorker()
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
    assert after[("ledger_projection_position", (("projection", "member_balances"),))] == 41
    assert after[("ledger_projection_lag_events", (("projection", "member_balances"),))] == 3
    assert after[("ledger_projection_lag_seconds", (("projection", "member_balances"),))] == 1.5
    routes = {dict(labels).get("route") for _, labels in after}
    assert "/v1/accruals/<transaction_id>/reversals" in routes
    assert not any(route and ("a2" in route or "m-7" in route) for route in routes)
