"""Partner writes answer the same whether concurrent writes are grouped or not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ledger.infrastructure.group_execution import GroupExecutor
from tests.api.ops_helpers import deploy


@pytest.mark.parametrize("grouped", [True, False])
def test_writes_answer_the_same_with_and_without_grouping(database_url: str, grouped: bool) -> None:
    deployment = deploy(database_url, group_commit=grouped)
    client, partner = deployment.client, deployment.partner
    executor = deployment.app.extensions["group_executor"]
    assert isinstance(executor, GroupExecutor) if grouped else executor is None
    now = datetime.now(UTC).isoformat()
    accrual = {
        "transaction_id": "t1",
        "member_id": "m1",
        "amount": "10.00",
        "currency": "EUR",
        "occurred_at": now,
    }

    assert client.post("/v1/members", json={"member_id": "m1"}, headers=partner).status_code == 201
    first = client.post("/v1/accruals", json=accrual, headers=partner)
    again = client.post("/v1/accruals", json=accrual, headers=partner)
    conflict = client.post("/v1/accruals", json={**accrual, "amount": "11.00"}, headers=partner)
    too_much = client.post(
        "/v1/redemptions",
        headers=partner,
        json={"transaction_id": "r1", "member_id": "m1", "points": 11, "occurred_at": now},
    )

    assert (first.status_code, first.get_json()["balance"]["available"]) == (201, 10)
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (200, "true")
    assert again.get_json() == first.get_json()
    assert conflict.status_code == 409
    assert conflict.get_json()["type"].endswith("/idempotency-conflict")
    assert too_much.status_code == 422
    assert too_much.get_json()["type"].endswith("/insufficient-points")
