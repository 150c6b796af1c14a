"""POST /v1/batches: in order, each operation atomic on its own, each answered as its endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import jsonify

from api import schemas
from ledger.clock import ManualClock
from tests.api.write_support import ADMIN, WriteClient, open_client, problem_slug


@pytest.fixture
def api(database_url: str, clock: ManualClock) -> Iterator[WriteClient]:
    yield from open_client(database_url, clock)


@pytest.fixture
def shop(api: WriteClient) -> str:
    return api.partner("shop")


def ops(api: WriteClient) -> dict[str, dict[str, Any]]:
    now = api.now()
    return {
        "enroll": {"op": "enroll", "member_id": "m1"},
        "accrue": {
            "op": "accrue",
            "transaction_id": "t1",
            "member_id": "m1",
            "amount": "80.00",
            "currency": "EUR",
            "occurred_at": now,
        },
        "redeem": {
            "op": "redeem",
            "transaction_id": "r1",
            "member_id": "m1",
            "points": 30,
            "occurred_at": now,
        },
        "reverse_redemption": {
            "op": "reverse_redemption",
            "transaction_id": "c1",
            "original_transaction_id": "r1",
            "occurred_at": now,
        },
        "reverse_accrual": {
            "op": "reverse_accrual",
            "transaction_id": "ret1",
            "original_transaction_id": "t1",
            "refund_amount": "20.00",
            "occurred_at": now,
        },
    }


def run(api: WriteClient, token: str, operations: list[Any], **extra: Any) -> list[dict[str, Any]]:
    body = api.ok("POST", "/v1/batches", {"operations": operations, **extra}, token, 200)
    results: list[dict[str, Any]] = body["results"]
    assert [r["index"] for r in results] == list(range(len(operations)))
    return results


def test_operations_apply_in_order(api: WriteClient, shop: str) -> None:
    results = run(api, shop, list(ops(api).values()))
    assert [r["status"] for r in results] == [201] * 5
    balances = [r["body"]["balance"]["available"] for r in results]
    assert balances == [0, 80, 50, 80, 60]
    positions = [r["body"]["position"] for r in results]
    assert positions == sorted(positions) and len(set(positions)) == 5
    assert results[4]["body"]["points_reversed"] == 20


def test_results_match_the_single_endpoints(api: WriteClient, shop: str) -> None:
    batch = run(api, shop, [ops(api)["enroll"], ops(api)["accrue"]])
    single = api.ok("GET", "/v1/transactions/t1", token=shop, status=200)
    assert {**batch[1]["body"], "operation": "accrue"} == single
    # Replaying through the single endpoint answers the batch's body, with a 200.
    replay = api.call(
        "POST", "/v1/accruals", {k: v for k, v in ops(api)["accrue"].items() if k != "op"}, shop
    )
    assert replay.status_code == 200 and replay.get_json() == batch[1]["body"]
    enrolled = api.call("POST", "/v1/members", {"member_id": "m1"}, shop)
    assert enrolled.status_code == 200 and enrolled.get_json() == batch[0]["body"]


def test_a_failing_operation_leaves_the_others(api: WriteClient, shop: str) -> None:
    o = ops(api)
    operations = [
        o["enroll"],
        {**o["redeem"], "points": 500},  # insufficient
        o["accrue"],
        {**o["accrue"], "transaction_id": "t2", "amount": "1.234"},  # minor digits
        {**o["accrue"], "transaction_id": "t3", "colour": "red"},  # unknown field
        {**o["accrue"], "member_id": "ghost", "transaction_id": "t4"},
        {"op": "teleport"},
        "not an object",
        {**o["accrue"], "partner_id": "elsewhere", "transaction_id": "t5"},
        {**o["accrue"], "amount": "81.00"},  # t1 again, other body
        o["accrue"],  # t1 again, same body
        o["redeem"],
    ]
    results = run(api, shop, operations)
    assert [r["status"] for r in results] == [
        201,
        422,
        201,
        422,
        422,
        404,
        422,
        422,
        403,
        409,
        200,
        201,
    ]
    slugs = [r["body"].get("type", "").rsplit("/", 1)[-1] for r in results]
    assert slugs[1] == "insufficient-points" and slugs[5] == "not-found"
    assert slugs[8] == "forbidden" and slugs[9] == "idempotency-conflict"
    assert results[3]["body"]["errors"] == {"amount": [results[3]["body"]["detail"]]}
    assert results[4]["body"]["errors"] == {"colour": ["Unknown field."]}
    assert "op" in results[6]["body"]["errors"]
    assert results[10]["body"] == results[2]["body"]
    assert results[11]["body"]["balance"]["available"] == 50


def test_batch_size_limit(api: WriteClient, shop: str) -> None:
    too_many = api.call("POST", "/v1/batches", {"operations": [{}] * 10_001}, shop)
    assert too_many.status_code == 422 and "operations" in too_many.get_json()["errors"]
    assert run(api, shop, []) == []


def test_batch_body_validation(api: WriteClient, shop: str) -> None:
    for body in ({}, {"operations": {}}, {"operations": [], "extra": 1}):
        response = api.call("POST", "/v1/batches", body, shop)
        assert response.status_code == 422 and problem_slug(response) == "validation-error"


def test_admin_names_the_partner_at_the_top(api: WriteClient, shop: str) -> None:
    missing = api.call("POST", "/v1/batches", {"operations": [ops(api)["enroll"]]})
    assert missing.status_code == 422 and "partner_id" in missing.get_json()["errors"]
    results = run(api, ADMIN, [ops(api)["enroll"], ops(api)["accrue"]], partner_id="shop")
    assert results[1]["body"]["partner_id"] == "shop"


def test_suspended_partner_gets_a_problem_per_operation(api: WriteClient, shop: str) -> None:
    run(api, shop, [ops(api)["enroll"]])
    api.ok("POST", "/v1/partners/shop/suspend", status=200)
    results = run(api, shop, [ops(api)["accrue"], ops(api)["redeem"]])
    assert [r["body"]["type"].rsplit("/", 1)[1] for r in results] == ["partner-not-active"] * 2


def test_the_answer_is_written_as_flask_writes_it(api: WriteClient, shop: str) -> None:
    o = ops(api)
    for operations in (
        [
            o["enroll"],
            o["accrue"],
            {**o["accrue"], "transaction_id": "t2", "colour": "red"},
            {"op": "teleport"},
            "text",
            {**o["redeem"], "points": 10**9},
        ],
        [{**o["accrue"], "transaction_id": "t3", "colé ur \x7f\n\u2028": 1}],  # json's escapes
    ):
        response = api.call("POST", "/v1/batches", {"operations": operations}, shop)
        assert response.status_code == 200 and response.mimetype == "application/json"
        with api.app.app_context():
            expected = jsonify(schemas.BatchSchema().dump(response.get_json()))
        assert response.data == expected.data
