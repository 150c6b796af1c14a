"""Partner writes over the Flask test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from ledger.clock import ManualClock
from tests.api.write_support import WriteClient, is_utc_micro, open_client, problem_slug


@pytest.fixture
def api(database_url: str, clock: ManualClock) -> Iterator[WriteClient]:
    yield from open_client(database_url, clock)


@pytest.fixture
def shop(api: WriteClient) -> str:
    token = api.partner("shop")
    api.enroll(token, "m1")
    return token


def accrual_body(api: WriteClient, **fields: Any) -> dict[str, Any]:
    return {
        "transaction_id": "t1",
        "member_id": "m1",
        "amount": "100.00",
        "currency": "EUR",
        "occurred_at": api.now(),
        **fields,
    }


# ---------------------------------------------------------------------------- enrollment


def test_enrollment_is_created_then_replayed(api: WriteClient) -> None:
    token = api.partner("shop")
    first = api.call("POST", "/v1/members", {"member_id": "m1"}, token)
    assert first.status_code == 201
    body = first.get_json()
    assert body["member_id"] == "m1" and body["status"] == "active" and body["tier"] == "basic"
    assert body["balance"] == {"available": 0, "pending": 0, "tier": "basic"}
    assert isinstance(body["position"], int) and is_utc_micro(body["enrolled_at"])
    assert "Idempotent-Replayed" not in first.headers

    again = api.call("POST", "/v1/members", {"member_id": "m1"}, token)
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == body

    other = api.call("POST", "/v1/members", {"member_id": "m1", "birth_date": "1990-01-01"}, token)
    assert other.status_code == 409 and problem_slug(other) == "idempotency-conflict"


def test_enrollment_bonus_shows_in_the_balance(api: WriteClient) -> None:
    program = api.ok("GET", "/v1/program", status=200)
    api.ok("PUT", "/v1/program", {**program, "enrollment_bonus_points": 50}, status=200)
    body = api.enroll(api.partner("shop"), "m1", enrolled_at="2026-01-10T09:00:00+01:00")
    assert body["balance"]["available"] == 50
    assert body["enrolled_at"] == "2026-01-10T08:00:00.000000Z"


def test_admin_enrolls_as_the_operator_without_a_partner(api: WriteClient) -> None:
    assert api.enroll("test-admin", "m9")["member_id"] == "m9"


# ------------------------------------------------------------------------------ accruals


def test_accrual_answers_the_contract_fields(api: WriteClient, shop: str) -> None:
    body = api.accrue(shop, "t1", amount="123.45", bonus_points=5)
    assert body["transaction_id"] == "t1" and body["partner_id"] == "shop"
    assert body["amount"] == "123.45" and body["currency"] == "EUR"
    assert body["base_points"] == 123 and body["bonus_points"] == 5 and body["points"] == 128
    assert body["tier_multiplier"] == "1.0" and body["status"] == "available"
    assert body["available_at"] == "2026-01-15T12:00:00.000000Z"
    assert body["expires_at"] == "2028-02-01T00:00:00.000000Z"
    assert body["recorded_at"] == "2026-01-15T12:00:00.000000Z"
    assert body["balance"] == {"available": 128, "pending": 0, "tier": "basic"}
    assert body["position"] > 0 and body["accrual_id"]


def test_pending_accrual_counts_as_pending(api: WriteClient, shop: str) -> None:
    body = api.accrue(shop, "t1", amount="40", pending_days=14)
    assert body["status"] == "pending"
    assert body["available_at"] == "2026-01-29T12:00:00.000000Z"
    assert body["balance"] == {"available": 0, "pending": 40, "tier": "basic"}


def test_accrual_replay_and_conflict(api: WriteClient, shop: str) -> None:
    body = accrual_body(api)
    first = api.call("POST", "/v1/accruals", body, shop)
    replay = api.call("POST", "/v1/accruals", body, shop)
    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == first.get_json()
    changed = api.call("POST", "/v1/accruals", {**body, "amount": "100.01"}, shop)
    assert changed.status_code == 409 and problem_slug(changed) == "idempotency-conflict"
    # The id is unique across all of a partner's operations.
    reused = api.redeem(shop, "t1", status=409)
    assert reused["type"].endswith("idempotency-conflict")


def test_a_rejected_operation_does_not_consume_its_id(api: WriteClient, shop: str) -> None:
    rejected = api.redeem(shop, "x1", points=10, status=422)
    assert rejected["type"].endswith("insufficient-points")
    api.accrue(shop, "t1", amount="10")
    assert api.redeem(shop, "x1", points=10)["balance"]["available"] == 0


@pytest.mark.parametrize(
    ("fields", "slug", "status"),
    [
        ({"currency": "USD"}, "currency-mismatch", 422),
        ({"member_id": "nobody"}, "not-found", 404),
        ({"occurred_at": "2026-01-15T12:06:00Z"}, "occurred-at-out-of-range", 422),
        ({"occurred_at": "2025-10-01T00:00:00Z"}, "occurred-at-out-of-range", 422),
    ],
)
def test_accrual_business_rejections(
    api: WriteClient, shop: str, fields: dict[str, Any], slug: str, status: int
) -> None:
    response = api.call("POST", "/v1/accruals", accrual_body(api, **fields), shop)
    assert response.status_code == status and problem_slug(response) == slug


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount": "1.001"}, "amount"),  # more minor digits than EUR has
        ({"amount": "0"}, "amount"),
        ({"amount": 12.5}, "amount"),  # money is a string
        ({"amount": "-3"}, "amount"),
        ({"occurred_at": "2026-01-15T12:00:00"}, "occurred_at"),  # no offset
        ({"transaction_id": "has space"}, "transaction_id"),
        ({"transaction_id": "x" * 65}, "transaction_id"),
        ({"bonus_points": 1.5}, "bonus_points"),
        ({"bonus_points": True}, "bonus_points"),
        ({"bonus_points": -1}, "bonus_points"),
        ({"colour": "red"}, "colour"),  # unknown field
        ({"currency": "eur"}, "currency"),
    ],
)
def test_accrual_validation_names_the_field(
    api: WriteClient, shop: str, fields: dict[str, Any], field: str
) -> None:
    response = api.call("POST", "/v1/accruals", accrual_body(api, **fields), shop)
    assert response.status_code == 422 and problem_slug(response) == "validation-error"
    assert list(response.get_json()["errors"]) == [field]
    assert all(isinstance(m, str) for m in response.get_json()["errors"][field])


def test_missing_fields_are_listed(api: WriteClient, shop: str) -> None:
    response = api.call("POST", "/v1/accruals", {}, shop)
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {
        "transaction_id",
        "member_id",
        "amount",
        "currency",
        "occurred_at",
    }


def test_malformed_json_is_a_400(api: WriteClient, shop: str) -> None:
    response = api.http.post(
        "/v1/accruals",
        data="{not json",
        headers={"Authorization": f"Bearer {shop}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and problem_slug(response) == "malformed-request"


def test_suspended_member_and_partner(api: WriteClient, shop: str) -> None:
    api.accrue(shop, "t1", amount="50")
    api.ok("POST", "/v1/members/m1/suspend", status=200)
    assert api.accrue(shop, "t2", status=422)["type"].endswith("member-not-active")
    assert api.redeem(shop, "r1", status=422)["type"].endswith("member-not-active")
    # A reversal still applies to a suspended member.
    reversal = api.ok(
        "POST",
        "/v1/accruals/t1/reversals",
        {"transaction_id": "ret1", "occurred_at": api.now()},
        shop,
    )
    assert reversal["balance"]["available"] == 0
    api.ok("POST", "/v1/partners/shop/suspend", status=200)
    api.ok("POST", "/v1/members/m1/reactivate", status=200)
    assert api.accrue(shop, "t3", status=422)["type"].endswith("partner-not-active")
    enroll = api.call("POST", "/v1/members", {"member_id": "m2"}, shop)
    assert problem_slug(enroll) == "partner-not-active"


# --------------------------------------------------------------------------- redemptions


def test_redemption_lists_lots_and_reimbursement(api: WriteClient, shop: str) -> None:
    api.accrue(shop, "t1", amount="30")
    api.clock.advance(timedelta(days=40))
    api.accrue(shop, "t2", amount="30")
    body = api.redeem(shop, "r1", points=45, description="Mug")
    assert [lot["points"] for lot in body["lots"]] == [30, 15]
    assert body["reimbursement_amount"] == "0.36"  # 45 x 0.008
    assert body["points"] == 45 and body["partner_id"] == "shop"
    assert body["balance"] == {"available": 15, "pending": 0, "tier": "basic"}
    assert is_utc_micro(body["recorded_at"])


def test_redemption_validation(api: WriteClient, shop: str) -> None:
    for points in (0, -5, "10", 2.0):
        body = {
            "transaction_id": "r1",
            "member_id": "m1",
            "points": points,
            "occurred_at": api.now(),
        }
        response = api.call("POST", "/v1/redemptions", body, shop)
        assert response.status_code == 422 and "points" in response.get_json()["errors"]


# ----------------------------------------------------------------------------- reversals


def test_partial_then_full_accrual_reversal(api: WriteClient, shop: str) -> None:
    api.accrue(shop, "t1", amount="100.00")
    partial = api.ok(
        "POST",
        "/v1/accruals/t1/reversals",
        {
            "transaction_id": "ret1",
            "refund_amount": "25.00",
            "occurred_at": api.now(),
            "reason": "returned one item",
        },
        shop,
    )
    assert partial["accrual_transaction_id"] == "t1" and partial["transaction_id"] == "ret1"
    assert partial["points_reversed"] == 25 and partial["refund_amount"] == "25.00"
    assert partial["debt_created"] == 0 and partial["balance"]["available"] == 75
    too_much = api.call(
        "POST",
        "/v1/accruals/t1/reversals",
        {"transaction_id": "ret2", "refund_amount": "80.00", "occurred_at": api.now()},
        shop,
    )
    assert too_much.status_code == 422 and problem_slug(too_much) == "refund-exceeds-original"
    rest = api.ok(
        "POST",
        "/v1/accruals/t1/reversals",
        {"transaction_id": "ret3", "occurred_at": api.now()},
        shop,
    )
    assert rest["points_reversed"] == 75 and rest["balance"]["available"] == 0
    again = api.call(
        "POST",
        "/v1/accruals/t1/reversals",
        {"transaction_id": "ret4", "occurred_at": api.now()},
        shop,
    )
    assert again.status_code == 409 and problem_slug(again) == "already-reversed"


def test_accrual_reversal_after_spending_creates_debt(api: WriteClient, shop: str) -> None:
    api.accrue(shop, "t1", amount="100")
    api.redeem(shop, "r1", points=80)
    body = api.ok(
        "POST",
        "/v1/accruals/t1/reversals",
        {"transaction_id": "ret1", "occurred_at": api.now()},
        shop,
    )
    assert body["points_reversed"] == 100 and body["debt_created"] == 80
    assert body["balance"]["available"] == -80


def test_redemption_reversal_once(api: WriteClient, shop: str) -> None:
    api.accrue(shop, "t1", amount="100")
    api.redeem(shop, "r1", points=60)
    body = api.ok(
        "POST",
        "/v1/redemptions/r1/reversals",
        {"transaction_id": "c1", "occurred_at": api.now()},
        shop,
    )
    assert body["redemption_transaction_id"] == "r1" and body["points_restored"] == 60
    assert body["balance"]["available"] == 100
    second = api.call(
        "POST",
        "/v1/redemptions/r1/reversals",
        {"transaction_id": "c2", "occurred_at": api.now()},
        shop,
    )
    assert second.status_code == 409 and problem_slug(second) == "already-reversed"


def test_reversal_of_unknown_or_wrong_kind_is_not_found(api: WriteClient, shop: str) -> None:
    api.accrue(shop, "t1", amount="10")
    for path in ("/v1/accruals/nope/reversals", "/v1/redemptions/t1/reversals"):
        response = api.call("POST", path, {"transaction_id": "x", "occurred_at": api.now()}, shop)
        assert response.status_code == 404 and problem_slug(response) == "not-found"


def test_only_the_accruing_partner_reverses(api: WriteClient, shop: str) -> None:
    api.accrue(shop, "t1", amount="10")
    other = api.partner("other")
    response = api.call(
        "POST",
        "/v1/accruals/t1/reversals",
        {"transaction_id": "x", "occurred_at": api.now()},
        other,
    )
    assert response.status_code == 404


# -------------------------------------------------------------------------- transactions


def test_transaction_lookup_is_per_partner(api: WriteClient, shop: str) -> None:
    accrual = api.accrue(shop, "t1", amount="10")
    found = api.ok("GET", "/v1/transactions/t1", token=shop, status=200)
    assert found == {**accrual, "operation": "accrue"}
    other = api.partner("other")
    assert problem_slug(api.get("/v1/transactions/t1", other)) == "not-found"
    assert api.ok("GET", "/v1/transactions/t1?partner_id=shop", status=200)["points"] == 10
    assert problem_slug(api.get("/v1/transactions/t1")) == "validation-error"


# --------------------------------------------------------------------------- concurrency


@pytest.fixture
def pg_api(pg_url: str, clock: ManualClock) -> Iterator[WriteClient]:
    yield from open_client(pg_url, clock)


@pytest.mark.postgres
def test_concurrent_identical_requests_create_once(pg_api: WriteClient) -> None:
    shop = pg_api.partner("shop")
    pg_api.enroll(shop, "m1")
    body = accrual_body(pg_api)
    barrier = threading.Barrier(8)
    answers: list[tuple[int, dict[str, Any]]] = []

    def post() -> None:
        client = pg_api.app.test_client()
        barrier.wait()
        response = client.post(
            "/v1/accruals", json=body, headers={"Authorization": f"Bearer {shop}"}
        )
        answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _ in answers) == [200] * 7 + [201]
    assert all(answer == answers[0][1] for _, answer in answers)
    assert answers[0][1]["balance"]["available"] == 100
