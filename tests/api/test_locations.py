"""Every 201 answer carries `Location`, the URL of what it created, and that URL answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ledger.clock import ManualClock
from tests.api.write_support import PARTNER_TERMS, WriteClient, open_client


@pytest.fixture
def api(database_url: str, clock: ManualClock) -> Iterator[WriteClient]:
    yield from open_client(database_url, clock)


def created(api: WriteClient, path: str, body: Any, token: str, location: str) -> str:
    response = api.call("POST", path, body, token)
    assert response.status_code == 201, response.get_json()
    assert response.headers["Location"] == location
    return location


def position(api: WriteClient) -> int:
    return int(api.app.extensions["ledger"].recorder.max_notification_id())


def test_each_201_names_its_resource(api: WriteClient) -> None:
    partner = {"partner_id": "shop", **PARTNER_TERMS}
    at = created(api, "/v1/partners", partner, "test-admin", "/v1/partners/shop")
    assert api.ok("GET", at, status=200)["name"] == "Shop"
    assert "Location" not in api.call("POST", "/v1/partners", partner).headers  # a replay: 200

    response = api.call("POST", "/v1/keys", {"role": "partner", "partner_id": "shop", "name": "t"})
    assert response.status_code == 201
    key = response.get_json()
    assert response.headers["Location"] == f"/v1/keys/{key['key_id']}"
    token = key["key"]

    at = created(api, "/v1/members", {"member_id": "m1"}, token, "/v1/members/m1")
    member = api.ok("GET", f"{at}?min_position={position(api)}", status=200, token=token)
    assert member["member_id"] == "m1"
    accrual = {
        "transaction_id": "t1",
        "member_id": "m1",
        "amount": "100.00",
        "currency": "EUR",
        "occurred_at": api.now(),
    }
    at = created(api, "/v1/accruals", accrual, token, "/v1/transactions/t1")
    assert api.ok("GET", at, token=token, status=200)["points"] == 100
    redemption = {"transaction_id": "r1", "member_id": "m1", "points": 10, "occurred_at": api.now()}
    at = created(api, "/v1/redemptions", redemption, token, "/v1/transactions/r1")
    assert api.ok("GET", at, token=token, status=200)["operation"] == "redeem"
    back = {"transaction_id": "ret1", "occurred_at": api.now(), "refund_amount": "10.00"}
    at = created(api, "/v1/accruals/t1/reversals", back, token, "/v1/transactions/ret1")
    assert api.ok("GET", at, token=token, status=200)["points_reversed"] == 10
    cancel = {"transaction_id": "c1", "occurred_at": api.now()}
    at = created(api, "/v1/redemptions/r1/reversals", cancel, token, "/v1/transactions/c1")
    assert api.ok("GET", at, token=token, status=200)["points_restored"] == 10

    # An admin acting for a partner is pointed at the partner's transaction.
    on_behalf = {**accrual, "transaction_id": "t2", "partner_id": "shop"}
    at = created(
        api, "/v1/accruals", on_behalf, "test-admin", "/v1/transactions/t2?partner_id=shop"
    )
    assert api.ok("GET", at, status=200)["transaction_id"] == "t2"
    at = created(api, "/v1/members", {"member_id": "m2"}, "test-admin", "/v1/members/m2")

    adjustment = {"adjustment_id": "adj1", "points": 25, "reason": "goodwill"}
    at = created(
        api,
        "/v1/members/m1/adjustments",
        adjustment,
        "test-admin",
        "/v1/members/m1/adjustments/adj1",
    )
    found = api.ok("GET", at, status=200)
    assert (found["adjustment_id"], found["points"], found["reason"]) == ("adj1", 25, "goodwill")
    assert api.call("GET", "/v1/members/m2/adjustments/adj1").status_code == 404
    assert api.call("GET", at, token=token).status_code == 403


def test_openapi_documents_location_on_every_201(api: WriteClient) -> None:
    spec = api.http.get("/openapi.json").get_json()
    created = [
        (path, method, operation["responses"]["201"])
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if isinstance(operation, dict) and "201" in operation.get("responses", {})
    ]
    assert len(created) >= 8
    for path, method, response in created:
        assert "Location" in response.get("headers", {}), (method, path)
