"""Hostile and mistaken input, over HTTP and in batches, on both backends: each is refused with
its exact status, slug and field, and nothing is recorded (the log's head and the member's
balance are unchanged). None of these may be a 500.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.test import TestResponse

from ledger.clock import ManualClock
from tests.api.write_support import ADMIN, WriteClient, open_client

PROBLEMS = "https://loyalty-ledger.dev/problems/"
DEEP = "[" * 1000 + "]" * 1000


@pytest.fixture
def api(database_url: str, clock: ManualClock) -> Iterator[WriteClient]:
    yield from open_client(database_url, clock)


@pytest.fixture
def shop(api: WriteClient) -> str:
    """A partner earning one point per euro, and member m1 holding 100 points."""
    token = api.partner("shop", earn_rate="1")
    api.enroll(token, "m1")
    api.accrue(token, "t0", "m1", "100.00")
    return token


def recorded(api: WriteClient) -> tuple[int, dict[str, Any]]:
    """The log's head and m1's balance, from the write side."""
    ledger = api.app.extensions["ledger"]
    return int(ledger.recorder.max_notification_id() or 0), ledger.member("m1").balance()


def send(
    api: WriteClient,
    method: str,
    path: str,
    text: str,
    token: str,
    content_type: str | None = "application/json",
) -> TestResponse:
    headers = {"Authorization": f"Bearer {token}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return api.http.open(path, method=method, data=text.encode(), headers=headers)


def problem(status: int, slug: str, field: str | None) -> tuple[int, str, list[str]]:
    return status, PROBLEMS + slug, [] if field is None else [field]


def answered(response: TestResponse) -> tuple[int, str, list[str]]:
    assert response.mimetype == "application/problem+json", response.data
    body = response.get_json()
    assert body["status"] == response.status_code
    return response.status_code, body["type"], sorted(body.get("errors", {}))


def accrual(api: WriteClient, **changes: Any) -> dict[str, Any]:
    return {
        "transaction_id": "t-hostile",
        "member_id": "m1",
        "amount": "10.00",
        "currency": "EUR",
        "occurred_at": api.now(),
        **changes,
    }


def accrual_text(api: WriteClient, inside: str) -> str:
    """An accrual body as text, with `inside` written in before its last field."""
    body = json.dumps(accrual(api))
    return body[:1] + inside + ", " + body[1:]


# (name, method, path, body as text or JSON, expected (status, type, fields))
SINGLE: list[tuple[str, str, str, Any, tuple[int, str, list[str]]]] = [
    ("nested-array", "POST", "/v1/accruals", DEEP, problem(422, "validation-error", "_schema")),
    (
        "nested-field",
        "POST",
        "/v1/accruals",
        lambda api: accrual_text(api, '"bonus_points": ' + DEEP),
        problem(422, "validation-error", "_schema"),
    ),
    (
        "repeated-amount",
        "POST",
        "/v1/accruals",
        lambda api: accrual_text(api, '"amount": "99999.00"'),
        problem(422, "validation-error", "amount"),
    ),
    (
        "repeated-with-escape",
        "POST",
        "/v1/members",
        '{"member_id": "m\\u0032", "member_id": "m3"}',
        problem(422, "validation-error", "member_id"),
    ),
    (
        "newline-member-id",
        "POST",
        "/v1/members",
        {"member_id": "ma-nl\n"},
        problem(422, "validation-error", "member_id"),
    ),
    (
        "newline-transaction-id",
        "POST",
        "/v1/accruals",
        lambda api: accrual(api, transaction_id="t-nl\n"),
        problem(422, "validation-error", "transaction_id"),
    ),
    (
        "newline-currency",
        "POST",
        "/v1/accruals",
        lambda api: accrual(api, currency="EUR\n"),
        problem(422, "validation-error", "currency"),
    ),
    (
        "far-birth-date",
        "POST",
        "/v1/members",
        {"member_id": "m2", "birth_date": "9999-12-31"},
        problem(422, "validation-error", "birth_date"),
    ),
    (
        "far-enrolled-at",
        "POST",
        "/v1/members",
        {"member_id": "m2", "enrolled_at": "0001-01-01T00:00:00Z"},
        problem(422, "validation-error", "enrolled_at"),
    ),
    (
        "huge-amount",
        "POST",
        "/v1/accruals",
        lambda api: accrual(api, amount="999999999999999.00"),
        problem(422, "validation-error", "amount"),
    ),
    (
        "amount-over-the-program-limit",
        "POST",
        "/v1/accruals",
        lambda api: accrual(api, amount="100001.00"),
        problem(422, "validation-error", "amount"),
    ),
    (
        "till-typo-bonus",
        "POST",
        "/v1/accruals",
        lambda api: accrual(api, amount="1.00", bonus_points=1_000_000),
        problem(422, "validation-error", "bonus_points"),
    ),
    (
        "bonus-over-the-ceiling",
        "POST",
        "/v1/accruals",
        lambda api: accrual(api, bonus_points=10**12),
        problem(422, "validation-error", "bonus_points"),
    ),
    (
        "huge-redemption",
        "POST",
        "/v1/redemptions",
        lambda api: {
            "transaction_id": "r-hostile",
            "member_id": "m1",
            "points": 10**12,
            "occurred_at": api.now(),
        },
        problem(422, "validation-error", "points"),
    ),
    (
        "huge-adjustment",
        "POST",
        "/v1/members/m1/adjustments",
        {"adjustment_id": "a-hostile", "points": -(10**12), "reason": "x", "allow_debt": True},
        problem(422, "validation-error", "points"),
    ),
    (
        "huge-earn-rate",
        "POST",
        "/v1/partners",
        {
            "partner_id": "greedy",
            "name": "Greedy",
            "currency": "EUR",
            "earn_rate": "1000000000",
            "funding_rate": "0.01",
            "reimbursement_rate": "0.01",
            "pending_days": 0,
        },
        problem(422, "validation-error", "earn_rate"),
    ),
    (
        "huge-earn-rate-change",
        "PATCH",
        "/v1/partners/shop",
        {"earn_rate": "1000000000"},
        problem(422, "validation-error", "earn_rate"),
    ),
    (
        "program-tiers-of-text",
        "PUT",
        "/v1/program",
        lambda api: {**program(api), "tiers": ["x"]},
        problem(422, "validation-error", "tiers.0._schema"),
    ),
    (
        "program-point-value",
        "PUT",
        "/v1/program",
        lambda api: {**program(api), "point_value": "999999999999999"},
        problem(422, "validation-error", "point_value"),
    ),
    (
        "program-huge-multiplier",
        "PUT",
        "/v1/program",
        lambda api: {
            **program(api),
            "tiers": [{"code": "basic", "name": "B", "threshold": "0", "multiplier": "1000000000"}],
        },
        problem(422, "validation-error", "tiers.0.multiplier"),
    ),
    (
        "program-limit-of-zero",
        "PUT",
        "/v1/program",
        lambda api: {**program(api), "max_points_per_accrual": 0},
        problem(422, "validation-error", "max_points_per_accrual"),
    ),
]


def program(api: WriteClient) -> dict[str, Any]:
    return dict(api.http.get("/v1/program", headers={"Authorization": f"Bearer {ADMIN}"}).json)


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"), [c[1:] for c in SINGLE], ids=[c[0] for c in SINGLE]
)
def test_a_hostile_request_is_refused_and_records_nothing(
    api: WriteClient, shop: str, method: str, path: str, body: Any, expected: Any
) -> None:
    before = recorded(api)
    body = body(api) if callable(body) else body
    text = body if isinstance(body, str) else json.dumps(body)
    token = ADMIN if path.startswith(("/v1/program", "/v1/partners", "/v1/members/m1/")) else shop
    assert answered(send(api, method, path, text, token)) == expected
    assert recorded(api) == before


@pytest.mark.parametrize(
    ("content_type", "detail"),
    [
        ("text/plain", "The body must be application/json, not text/plain."),
        (None, "The body must be application/json, not without a Content-Type."),
        ("application/x-www-form-urlencoded", None),
    ],
)
def test_a_body_that_is_not_json_is_415(
    api: WriteClient, shop: str, content_type: str | None, detail: str | None
) -> None:
    before = recorded(api)
    response = send(api, "POST", "/v1/accruals", json.dumps(accrual(api)), shop, content_type)
    assert answered(response) == problem(415, "unsupported-media-type", None)
    if detail is not None:
        assert response.get_json()["detail"] == detail
    assert recorded(api) == before


@pytest.mark.parametrize(
    ("method", "path", "unknown"),
    [
        ("GET", "/v1/program?colour=red", ["colour"]),
        ("GET", "/v1/members/m1/balance?days=30&min_position=1", ["days"]),
        ("GET", "/v1/members/m1/expiring?days=30", ["days"]),
        ("GET", "/v1/members/m1/statement?form=2026-01-01T00:00:00Z&tz=UTC", ["form", "tz"]),
        ("GET", "/v1/reports/liability?tz=Asia/Shanghai", ["tz"]),
        ("GET", "/v1/audit/digest?x=1", ["x"]),
        ("GET", "/v1/events?after=0&limt=5", ["limt"]),
        ("GET", "/healthz?probe=1", ["probe"]),
        ("POST", "/v1/accruals?dry_run=1", ["dry_run"]),
    ],
)
def test_unknown_query_parameters_are_named(
    api: WriteClient, shop: str, method: str, path: str, unknown: list[str]
) -> None:
    before = recorded(api)
    response = send(api, method, path, json.dumps(accrual(api)), ADMIN)
    assert answered(response) == (422, PROBLEMS + "validation-error", unknown)
    assert response.get_json()["errors"] == {name: ["Unknown query parameter."] for name in unknown}
    assert recorded(api) == before


def test_the_parameters_an_endpoint_declares_still_pass(api: WriteClient, shop: str) -> None:
    head, _ = recorded(api)
    balance = api.get(f"/v1/members/m1/balance?min_position={head}")
    assert (balance.status_code, balance.get_json()["available"]) == (200, 100)
    expiring = api.get(f"/v1/members/m1/expiring?within_days=30&min_position={head}")
    assert (expiring.status_code, expiring.get_json()) == (200, {"lots": []})


def test_min_position_far_beyond_the_head_is_422_at_once(api: WriteClient, shop: str) -> None:
    head, _ = recorded(api)
    response = api.get(f"/v1/members/m1/balance?min_position={head + 10**9}")
    assert answered(response) == problem(422, "validation-error", "min_position")


# ------------------------------------------------------------------------ batches


def batch_results(
    api: WriteClient, token: str, operations: list[Any]
) -> list[tuple[int, str, list[str]]]:
    response = api.call("POST", "/v1/batches", {"operations": operations}, token)
    assert response.status_code == 200, response.get_json()
    return [
        (r["status"], r["body"].get("type", ""), sorted(r["body"].get("errors", {})))
        for r in response.get_json()["results"]
    ]


def test_hostile_operations_in_a_batch_are_refused_one_by_one(api: WriteClient, shop: str) -> None:
    before = recorded(api)
    operations = [
        {"op": "enroll", "member_id": "ma-nl\n"},
        {"op": "enroll", "member_id": "m2", "birth_date": "9999-12-31"},
        {"op": "enroll", "member_id": "m2", "enrolled_at": "0001-01-01T00:00:00Z"},
        {"op": "accrue", **accrual(api, transaction_id="b1", amount="999999999999999.00")},
        {"op": "accrue", **accrual(api, transaction_id="b2", amount="1.00", bonus_points=10**6)},
        {"op": "accrue", **accrual(api, transaction_id="b3", amount="100001.00")},
        {"op": "accrue", **accrual(api, transaction_id="b4\n")},
        {
            "op": "redeem",
            "transaction_id": "b5",
            "member_id": "m1",
            "points": 10**12,
            "occurred_at": api.now(),
        },
    ]
    assert batch_results(api, shop, operations) == [
        problem(422, "validation-error", "member_id"),
        problem(422, "validation-error", "birth_date"),
        problem(422, "validation-error", "enrolled_at"),
        problem(422, "validation-error", "amount"),
        problem(422, "validation-error", "bonus_points"),
        problem(422, "validation-error", "amount"),
        problem(422, "validation-error", "transaction_id"),
        problem(422, "validation-error", "points"),
    ]
    assert recorded(api) == before


@pytest.mark.parametrize(
    ("inside", "expected"),
    [
        (DEEP, problem(422, "validation-error", "_schema")),
        (
            '{"op": "accrue", "amount": "10.00", "amount": "99999.00"}',
            problem(422, "validation-error", "operations.0.amount"),
        ),
        ('{"op": "enroll", "member_id": NaN}', problem(400, "malformed-request", None)),
    ],
    ids=["nested", "repeated-key", "nan"],
)
def test_a_batch_body_that_cannot_be_read_strictly_records_nothing(
    api: WriteClient, shop: str, inside: str, expected: Any
) -> None:
    before = recorded(api)
    text = '{"operations": [' + inside + ', {"op": "enroll", "member_id": "m2"}]}'
    assert answered(send(api, "POST", "/v1/batches", text, shop)) == expected
    assert recorded(api) == before


def test_the_overflow_batch_is_refused_and_the_projection_stays_live(
    api: WriteClient, shop: str
) -> None:
    # Finding: 4,700 accruals of 999,999,999,999,999.00 took a balance past 2^63 and every
    # projection failed for good. Now each is refused, and the next accrual reads back.
    huge = [
        {"op": "accrue", **accrual(api, transaction_id=f"x{i}", amount="999999999999999.00")}
        for i in range(50)
    ]
    assert batch_results(api, shop, huge) == [problem(422, "validation-error", "amount")] * 50
    written = api.accrue(shop, "t-after", "m1", "5.00")
    balance = api.get(f"/v1/members/m1/balance?min_position={written['position']}")
    assert balance.status_code == 200
    assert (balance.get_json()["available"], balance.get_json()["lifetime_earned"]) == (105, 105)


def test_the_huge_multiplier_is_refused_and_the_projection_stays_live(
    api: WriteClient, shop: str
) -> None:
    tiers = [{"code": "basic", "name": "Basic", "threshold": "0", "multiplier": "1000000000"}]
    response = api.call("PUT", "/v1/program", {**program(api), "tiers": tiers})
    assert answered(response) == problem(422, "validation-error", "tiers.0.multiplier")
    written = api.accrue(shop, "t-after", "m1", "5.00")
    assert written["tier_multiplier"] == "1.0"
    balance = api.get(f"/v1/members/m1/balance?min_position={written['position']}")
    assert (balance.status_code, balance.get_json()["available"]) == (200, 105)
