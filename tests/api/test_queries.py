"""Member queries over HTTP, on the coalition of tests/integration/test_projections.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api.app import create_app
from api.migrate import migrate
from ledger.clock import ManualClock
from ledger.commands import Adjust, Enroll
from ledger.config import Settings
from tests.integration.test_projections import build_coalition

ADMIN = "test-admin"


class Reader:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.http: FlaskClient = app.test_client()
        self.ledger: Any = app.extensions["ledger"]
        self.head = int(self.ledger.recorder.max_notification_id() or 0)

    def get(self, path: str, token: str = ADMIN, status: int = 200, **query: Any) -> Any:
        response = self.http.get(
            path, query_string=query, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == status, response.get_json()
        return response.get_json()

    def key(self, role: str, partner_id: str | None = None) -> str:
        token, _ = self.ledger.issue_key(role, partner_id, f"{role} key")
        return str(token)


def open_reader(database_url: str, clock: ManualClock) -> Iterator[Reader]:
    """An app on a fresh database holding the coalition (fixture body shared by API tests)."""
    settings = Settings(database_url=database_url, admin_key=ADMIN, read_wait_seconds=5)
    migrate(settings)
    app = create_app(settings=settings, clock=clock)
    build_coalition(app.extensions["ledger"], clock)
    yield Reader(app)
    target = app.extensions.get("projections")
    if target is not None:
        target.close()
    app.extensions["ledger"].close()


@pytest.fixture
def reader(database_url: str, clock: ManualClock) -> Iterator[Reader]:
    yield from open_reader(database_url, clock)


def test_balance_from_projection_and_as_of(reader: Reader) -> None:
    body = reader.get("/v1/members/m2/balance", min_position=reader.head)
    assert body["available"] == 0 and body["lifetime_adjusted"] == 25
    assert body["position"] <= reader.head
    then = reader.get("/v1/members/m2/balance", as_of="2026-01-20T00:00:00Z")
    assert (then["available"], then["pending"], then["lifetime_reversed"]) == (-20, 0, 30)
    assert then["as_of"] == "2026-01-20T00:00:00.000000Z"
    assert then["available"] + then["pending"] == (
        then["lifetime_earned"]
        + then["lifetime_adjusted"]
        - then["lifetime_redeemed"]
        - then["lifetime_expired"]
        - then["lifetime_reversed"]
    )


def test_member_tier_statement_expiring(reader: Reader) -> None:
    member = reader.get("/v1/members/m3", min_position=reader.head)
    assert member == {
        "member_id": "m3",
        "status": "closed",
        "enrolled_at": "2026-01-15T12:00:00.000000Z",
        "tier": "basic",
    }
    tier = reader.get("/v1/members/m1/tier")
    assert tier["tier"] == "basic" and tier["next_tier"] == "silver"
    page = reader.get("/v1/members/m2/statement", limit=4)
    assert [x["points"] for x in page["lines"]] == [0, 50, 30, -70]
    rest = reader.get("/v1/members/m2/statement", cursor=page["next_cursor"])
    assert [x["available_after"] for x in rest["lines"]] == [-20, 5, 0]
    assert rest["next_cursor"] is None
    window = reader.get("/v1/members/m2/statement", **{"from": "2026-02-01T00:00:00Z"})
    assert [x["type"] for x in window["lines"]] == ["PointsAdjusted", "PointsExpired"]
    assert reader.get("/v1/members/m1/expiring") == {"lots": []}
    reader.get("/v1/members/nobody/statement", status=404)
    reader.get("/v1/members/m1/statement", cursor="garbage", status=422)


def test_roles(reader: Reader) -> None:
    reader.get("/v1/members/m1/balance", min_position=reader.head)
    partner = reader.key("partner", "air")
    assert reader.get("/v1/members/m1/balance", token=partner)["member_id"] == "m1"
    statement = reader.get("/v1/members/m1/statement", token=partner, status=403)
    assert statement["detail"] == (
        "Role partner may not do this; roles that may: auditor, finance, admin."
    )
    for role in ("auditor", "finance"):
        reader.get("/v1/members/m1/statement", token=reader.key(role))
    reader.get("/v1/members/m1", token="nonsense", status=401)


def test_a_partner_till_reads_member_balance_tier_and_expiring(reader: Reader) -> None:
    partner = reader.key("partner", "cafe")
    head = {"min_position": reader.head}
    assert reader.get("/v1/members/m3", token=partner, **head) == {
        "member_id": "m3",
        "status": "closed",
        "enrolled_at": "2026-01-15T12:00:00.000000Z",
        "tier": "basic",
    }
    assert reader.get("/v1/members/m2/balance", token=partner)["available"] == 0
    tier = reader.get("/v1/members/m1/tier", token=partner)
    assert (tier["tier"], tier["next_tier"]) == ("basic", "silver")
    reader.ledger.execute(Enroll(member_id="m4", partner_id="cafe"))  # at 2027-01-16
    outcome = reader.ledger.execute(
        Adjust(adjustment_id="adj4", member_id="m4", points=40, reason="welcome")
    )
    expiring = reader.get("/v1/members/m4/expiring", token=partner, min_position=outcome.position)
    assert expiring == {"lots": [{"expires_at": "2027-03-01T00:00:00.000000Z", "points": 90}]}
    assert reader.get("/v1/members/m4/expiring", token=partner, within_days=30) == {"lots": []}
    for path in ("/v1/members/m1/statement", "/v1/members/m1/events"):
        body = reader.get(path, token=partner, status=403)
        assert body["type"] == "https://loyalty-ledger.dev/problems/forbidden"
        assert "roles that may: auditor" in body["detail"]


def test_min_position_not_applied_in_time_is_lagging(reader: Reader) -> None:
    reader.app.extensions["settings"] = Settings(
        database_url=reader.app.extensions["settings"].database_url,
        admin_key=ADMIN,
        read_wait_seconds=0,
    )
    response = reader.http.get(
        f"/v1/members/m1/balance?min_position={reader.head}",
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["type"].endswith("/projection-lagging")


def test_min_position_beyond_the_head_is_refused_at_once(reader: Reader) -> None:
    # No write answered a position beyond the head: waiting 5 s for it held a thread.
    response = reader.http.get(
        f"/v1/members/m1/balance?min_position={reader.head + 1}",
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert response.status_code == 422
    detail = f"min_position {reader.head + 1} is beyond the log's head ({reader.head})."
    assert response.get_json() == {
        "type": "https://loyalty-ledger.dev/problems/validation-error",
        "title": "The request is not valid",
        "status": 422,
        "detail": detail,
        "errors": {"min_position": [detail]},
    }
