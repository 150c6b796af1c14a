"""Who may call the write and admin endpoints: keys, roles, acting for a partner."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.clock import ManualClock
from tests.api.write_support import ADMIN, WriteClient, open_client, problem_slug

ALL = ("admin", "partner", "auditor", "finance")
WRITERS = ("admin", "partner")
ADMIN_ONLY = ("admin",)

# (method, path, roles admitted). Bodies are empty: admitted roles get past auth (and then
# usually a 422); the others must get a 403 before their body is even looked at.
ENDPOINTS: list[tuple[str, str, tuple[str, ...]]] = [
    ("GET", "/v1/program", ALL),
    ("PUT", "/v1/program", ADMIN_ONLY),
    ("POST", "/v1/partners", ADMIN_ONLY),
    ("GET", "/v1/partners/shop", ADMIN_ONLY),
    ("POST", "/v1/partners/spare/suspend", ADMIN_ONLY),
    ("POST", "/v1/keys", ADMIN_ONLY),
    ("DELETE", "/v1/keys/k-unknown", ADMIN_ONLY),
    ("POST", "/v1/members/m2/adjustments", ADMIN_ONLY),
    ("POST", "/v1/members/m2/suspend", ADMIN_ONLY),
    ("POST", "/v1/members/m2/reactivate", ADMIN_ONLY),
    ("POST", "/v1/members/m2/close", ADMIN_ONLY),
    ("POST", "/v1/sweeps", ADMIN_ONLY),
    ("POST", "/v1/members", WRITERS),
    ("POST", "/v1/accruals", WRITERS),
    ("POST", "/v1/redemptions", WRITERS),
    ("POST", "/v1/accruals/t1/reversals", WRITERS),
    ("POST", "/v1/redemptions/r1/reversals", WRITERS),
    ("POST", "/v1/batches", WRITERS),
    ("GET", "/v1/transactions/t1", WRITERS),
]


@pytest.fixture
def api(database_url: str, clock: ManualClock) -> Iterator[WriteClient]:
    yield from open_client(database_url, clock)


@pytest.fixture
def tokens(api: WriteClient) -> dict[str, str]:
    partner = api.partner("shop")
    api.partner("spare")
    api.enroll(partner, "m2")
    return {
        "admin": ADMIN,
        "partner": partner,
        "auditor": api.key("auditor"),
        "finance": api.key("finance"),
    }


def test_each_role_gets_exactly_its_endpoints(api: WriteClient, tokens: dict[str, str]) -> None:
    for method, path, admitted in ENDPOINTS:
        for role in ALL:
            body = None if method in ("GET", "DELETE") else {}
            response = api.call(method, path, body, tokens[role])
            where = f"{role} {method} {path}: {response.get_json()}"
            if role in admitted:
                assert response.status_code not in (401, 403), where
            else:
                assert response.status_code == 403, where
                assert problem_slug(response) == "forbidden", where


def test_every_endpoint_needs_a_valid_key(api: WriteClient, tokens: dict[str, str]) -> None:
    for method, path, _ in ENDPOINTS:
        for headers in (
            {},
            {"Authorization": "Basic abc"},
            {"Authorization": "Bearer "},
            {"Authorization": "Bearer llk_not-a-key"},
        ):
            response = api.http.open(path, method=method, json={}, headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert problem_slug(response) == "unauthorized"


def test_revoked_key_is_refused(api: WriteClient) -> None:
    api.partner("shop")
    key = api.ok("POST", "/v1/keys", {"role": "partner", "partner_id": "shop", "name": "x"})
    assert api.get("/v1/program", key["key"]).status_code == 200
    api.call("DELETE", f"/v1/keys/{key['key_id']}")
    assert problem_slug(api.get("/v1/program", key["key"])) == "unauthorized"


def test_partner_key_acts_only_for_its_partner(api: WriteClient, tokens: dict[str, str]) -> None:
    partner = tokens["partner"]
    own = api.accrue(partner, "t1", member_id="m2", amount="5", partner_id="shop")
    assert own["partner_id"] == "shop"
    other = api.accrue(partner, "t2", member_id="m2", amount="5", partner_id="spare", status=403)
    assert other["type"].endswith("/forbidden")
    batch = api.call("POST", "/v1/batches", {"partner_id": "spare", "operations": []}, partner)
    assert problem_slug(batch) == "forbidden"
    lookup = api.get("/v1/transactions/t1?partner_id=spare", partner)
    assert problem_slug(lookup) == "forbidden"


def test_admin_must_name_the_partner(api: WriteClient, tokens: dict[str, str]) -> None:
    missing = api.accrue(ADMIN, "t1", member_id="m2", amount="5", status=422)
    assert missing["errors"] == {"partner_id": ["Missing data for required field."]}
    acted = api.accrue(ADMIN, "t1", member_id="m2", amount="5", partner_id="shop")
    assert acted["partner_id"] == "shop"
    # The same transaction id, now seen from the partner's own key: a replay.
    replay = api.call("GET", "/v1/transactions/t1", token=tokens["partner"])
    assert replay.get_json()["accrual_id"] == acted["accrual_id"]


def test_request_id_is_echoed_or_made(api: WriteClient) -> None:
    echoed = api.call("GET", "/v1/program", headers={"X-Request-Id": "abc-123"})
    assert echoed.headers["X-Request-Id"] == "abc-123"
    refused = api.call("GET", "/v1/program", token=None, headers={"X-Request-Id": "zz"})
    assert refused.status_code == 401 and refused.headers["X-Request-Id"] == "zz"
    assert api.get("/v1/program").headers["X-Request-Id"]
