"""API.md's conventions over HTTP: request bodies, problems for unknown methods and crashes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.clock import ManualClock
from tests.api.write_support import WriteClient, open_client, problem_slug


@pytest.fixture
def api(database_url: str, clock: ManualClock) -> Iterator[WriteClient]:
    yield from open_client(database_url, clock)


@pytest.mark.parametrize("action", ["suspend", "reactivate", "close"])
def test_member_status_changes_refuse_unknown_body_fields(api: WriteClient, action: str) -> None:
    shop = api.partner("shop")
    api.enroll(shop)
    response = api.post(f"/v1/members/m1/{action}", {"reson": "typo"})
    assert response.status_code == 422
    assert problem_slug(response) == "validation-error"
    assert response.get_json()["errors"] == {"reson": ["Unknown field."]}
    # Nothing happened: the member is still active and takes accruals.
    assert api.accrue(shop)["balance"]["available"] == 100
    # Without a body (or with an empty object) the change applies.
    assert api.ok("POST", "/v1/members/m1/suspend", {}, status=200)["status"] == "suspended"


def test_partner_suspension_refuses_unknown_body_fields(api: WriteClient) -> None:
    api.partner("shop")
    response = api.post("/v1/partners/shop/suspend", {"reason": "fraud"})
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"reason": ["Unknown field."]}
    assert api.ok("GET", "/v1/partners/shop", status=200)["status"] == "active"
    assert api.ok("POST", "/v1/partners/shop/suspend", status=200)["status"] == "suspended"


def test_key_revocation_refuses_unknown_body_fields(api: WriteClient) -> None:
    key = api.ok("POST", "/v1/keys", {"role": "auditor", "name": "a"})
    response = api.call("DELETE", f"/v1/keys/{key['key_id']}", {"why": "leaked"})
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"why": ["Unknown field."]}
    assert api.get("/v1/program", key["key"]).status_code == 200
    assert api.call("DELETE", f"/v1/keys/{key['key_id']}").status_code == 204
    assert api.get("/v1/program", key["key"]).status_code == 401


def test_unknown_method_is_a_problem_naming_the_allowed_methods(api: WriteClient) -> None:
    response = api.call("DELETE", "/v1/program", headers={"X-Request-Id": "req-405"})
    assert response.status_code == 405
    assert problem_slug(response) == "method-not-allowed"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "PUT"}
    assert response.headers["X-Request-Id"] == "req-405"


def test_unknown_route_is_a_not_found_problem(api: WriteClient) -> None:
    response = api.get("/v1/nowhere")
    assert response.status_code == 404
    assert problem_slug(response) == "not-found"
    assert response.headers["X-Request-Id"]


def test_a_crash_is_a_500_problem_without_internals(
    api: WriteClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = api.app.extensions["ledger"]

    def explode() -> None:
        raise RuntimeError("secret-internal-state at /work/main/ledger")

    monkeypatch.setattr(ledger, "program", explode)
    response = api.call("GET", "/v1/program", headers={"X-Request-Id": "req-500"})
    assert response.status_code == 500
    assert problem_slug(response) == "internal-error"
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "secret-internal-state" not in text
    assert response.get_json() == {
        "type": "https://loyalty-ledger.dev/problems/internal-error",
        "title": "Internal error",
        "status": 500,
        "detail": "An unexpected error occurred.",
    }
    assert response.headers["X-Request-Id"] == "req-500"
