"""Admin endpoints over the Flask test client, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from ledger.clock import ManualClock
from tests.api.write_support import PARTNER_TERMS, WriteClient, open_client, problem_slug


@pytest.fixture
def api(database_url: str, clock: ManualClock) -> Iterator[WriteClient]:
    yield from open_client(database_url, clock)


PROGRAM: dict[str, Any] = {
    "currency": "EUR",
    "points_lifetime_months": 12,
    "max_backdate_days": 30,
    "point_value": "0.005",
    "tiers": [
        {"code": "basic", "name": "Basic", "threshold": "0", "multiplier": "1"},
        {"code": "gold", "name": "Gold", "threshold": "1000", "multiplier": "1.5"},
    ],
    "enrollment_bonus_points": 10,
}


# ------------------------------------------------------------------------------ program


def test_program_defaults_then_replaced(api: WriteClient) -> None:
    defaults = api.ok("GET", "/v1/program", status=200)
    assert defaults["currency"] == "EUR" and defaults["points_lifetime_months"] == 24
    assert defaults["max_backdate_days"] == 90 and defaults["point_value"] == "0.01"
    assert [t["code"] for t in defaults["tiers"]] == ["basic", "silver", "gold", "diamond"]
    # Thresholds are money: written with the currency's minor digits; a field left out
    # takes its default.
    written = {
        **PROGRAM,
        "tiers": [
            {**PROGRAM["tiers"][0], "threshold": "0.00"},
            {**PROGRAM["tiers"][1], "threshold": "1000.00"},
        ],
        "max_points_per_accrual": 100_000,
    }
    assert api.ok("PUT", "/v1/program", PROGRAM, status=200) == written
    auditor = api.key("auditor")
    assert api.ok("GET", "/v1/program", token=auditor, status=200) == written
    token = api.partner("shop")
    api.enroll(token, "m1")
    accrual = api.accrue(token, amount="10")
    assert accrual["amount"] == "10.00"
    assert accrual["expires_at"] == "2027-02-01T00:00:00.000000Z"  # 12 months now
    assert accrual["balance"]["available"] == 20  # 10 enrollment bonus


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tiers": []}, "tiers"),
        ({"tiers": [PROGRAM["tiers"][0], PROGRAM["tiers"][0]]}, "tiers"),
        ({"tiers": [{**PROGRAM["tiers"][0], "extra": 1}]}, "tiers.0.extra"),
        ({"tiers": [{**PROGRAM["tiers"][0], "multiplier": "0"}]}, "tiers.0.multiplier"),
        ({"point_value": 0.01}, "point_value"),
        ({"points_lifetime_months": 0}, "points_lifetime_months"),
        ({"unknown": True}, "unknown"),
    ],
)
def test_program_validation(api: WriteClient, change: dict[str, Any], field: str) -> None:
    response = api.call("PUT", "/v1/program", {**PROGRAM, **change})
    assert response.status_code == 422 and problem_slug(response) == "validation-error"
    assert field in response.get_json()["errors"]


def test_program_needs_every_field(api: WriteClient) -> None:
    response = api.call("PUT", "/v1/program", {"currency": "EUR"})
    assert set(response.get_json()["errors"]) == set(PROGRAM) - {"currency"}


# ----------------------------------------------------------------------------- partners


def test_partner_registration_is_idempotent(api: WriteClient) -> None:
    body = {"partner_id": "shop", **PARTNER_TERMS}
    first = api.call("POST", "/v1/partners", body)
    assert first.status_code == 201
    assert first.get_json() == {**body, "status": "active"}
    again = api.call("POST", "/v1/partners", {**body, "earn_rate": "1.0"})  # same number
    assert again.status_code == 200 and again.get_json() == first.get_json()
    other = api.call("POST", "/v1/partners", {**body, "earn_rate": "2"})
    assert other.status_code == 409 and problem_slug(other) == "idempotency-conflict"
    assert api.ok("GET", "/v1/partners/shop", status=200) == first.get_json()
    suspended = api.ok("POST", "/v1/partners/shop/suspend", status=200)
    assert suspended["status"] == "suspended"


def test_unknown_partner_is_not_found(api: WriteClient) -> None:
    assert problem_slug(api.get("/v1/partners/nope")) == "not-found"
    assert problem_slug(api.post("/v1/partners/nope/suspend")) == "not-found"


# --------------------------------------------------------------------------------- keys


def test_keys_are_shown_once_and_revocable(api: WriteClient) -> None:
    api.partner("shop")
    created = api.call(
        "POST", "/v1/keys", {"role": "partner", "partner_id": "shop", "name": "till 4"}
    )
    assert created.status_code == 201
    key = created.get_json()
    assert set(key) == {"key_id", "key", "role", "partner_id", "name"}
    assert key["role"] == "partner" and key["partner_id"] == "shop" and key["name"] == "till 4"
    assert api.get("/v1/program", key["key"]).status_code == 200
    assert api.call("DELETE", f"/v1/keys/{key['key_id']}").status_code == 204
    assert problem_slug(api.get("/v1/program", key["key"])) == "unauthorized"
    assert problem_slug(api.call("DELETE", "/v1/keys/knope")) == "not-found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "partner", "name": "x"}, "partner_id"),
        ({"role": "auditor", "partner_id": "shop", "name": "x"}, "partner_id"),
        ({"role": "root", "name": "x"}, "role"),
        ({"role": "auditor"}, "name"),
    ],
)
def test_key_validation(api: WriteClient, body: dict[str, Any], field: str) -> None:
    api.partner("shop")
    response = api.call("POST", "/v1/keys", body)
    assert response.status_code == 422 and field in response.get_json()["errors"]


# -------------------------------------------------------------------------- adjustments


def test_adjustments(api: WriteClient) -> None:
    api.enroll(api.partner("shop"), "m1")
    body = {"adjustment_id": "a1", "points": 30, "reason": "goodwill"}
    first = api.call("POST", "/v1/members/m1/adjustments", body)
    assert first.status_code == 201
    created = first.get_json()
    assert created["adjustment_id"] == "a1" and created["member_id"] == "m1"
    assert created["points"] == 30 and created["reason"] == "goodwill"
    assert created["recorded_at"] == "2026-01-15T12:00:00.000000Z"
    assert created["balance"]["available"] == 30 and created["position"] > 0
    replay = api.call("POST", "/v1/members/m1/adjustments", body)
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == created
    conflict = api.call("POST", "/v1/members/m1/adjustments", {**body, "points": 31})
    assert problem_slug(conflict) == "idempotency-conflict"

    debit = {"adjustment_id": "a2", "points": -50, "reason": "correction"}
    short = api.call("POST", "/v1/members/m1/adjustments", debit)
    assert short.status_code == 422 and problem_slug(short) == "insufficient-points"
    allowed = api.ok("POST", "/v1/members/m1/adjustments", {**debit, "allow_debt": True})
    assert allowed["balance"]["available"] == -20

    zero = api.call(
        "POST", "/v1/members/m1/adjustments", {"adjustment_id": "a3", "points": 0, "reason": "x"}
    )
    assert zero.status_code == 422 and "points" in zero.get_json()["errors"]
    unknown = api.call("POST", "/v1/members/nobody/adjustments", {**body, "adjustment_id": "a4"})
    assert problem_slug(unknown) == "not-found"


# ------------------------------------------------------------------------ member status


def test_member_status_changes(api: WriteClient) -> None:
    token = api.partner("shop")
    api.enroll(token, "m1")
    api.accrue(token, "t1", amount="40")
    suspended = api.ok("POST", "/v1/members/m1/suspend", status=200)
    assert suspended["status"] == "suspended" and suspended["balance"]["available"] == 40
    assert api.ok("POST", "/v1/members/m1/reactivate", status=200)["status"] == "active"
    closed = api.ok("POST", "/v1/members/m1/close", status=200)
    assert closed["status"] == "closed"
    assert closed["balance"] == {"available": 0, "pending": 0, "tier": "basic"}
    assert problem_slug(api.post("/v1/members/m1/reactivate")) == "member-not-active"
    assert problem_slug(api.post("/v1/members/nobody/suspend")) == "not-found"


# ------------------------------------------------------------------------------- sweeps


def test_sweep_activates_due_points(api: WriteClient) -> None:
    token = api.partner("shop", pending_days=7)
    api.enroll(token, "m1")
    api.accrue(token, "t1", amount="25")
    quiet = api.ok("POST", "/v1/sweeps", {}, status=200)
    assert quiet["activated_points"] == 0 and quiet["as_of"] == "2026-01-15T12:00:00.000000Z"
    api.clock.advance(timedelta(days=8))
    report = api.ok("POST", "/v1/sweeps", {}, status=200)
    assert report["activated_points"] == 25 and report["members_touched"] == 1
    assert report["expired_points"] == 0 and report["tier_changes"] == 0
    assert report["position"] > 0
    assert api.ok("POST", "/v1/sweeps", {"as_of": api.now()}, status=200)["members_touched"] == 0


def test_sweep_refuses_the_future_and_naive_times(api: WriteClient) -> None:
    future = api.call("POST", "/v1/sweeps", {"as_of": api.now(timedelta(hours=1))})
    assert future.status_code == 422 and "as_of" in future.get_json()["errors"]
    naive = api.call("POST", "/v1/sweeps", {"as_of": "2026-01-15T11:00:00"})
    assert naive.status_code == 422 and "as_of" in naive.get_json()["errors"]
