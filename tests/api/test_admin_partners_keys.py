"""v1.1 administration over HTTP: partner and key lists, a partner's changed terms,
reactivation, and a closing reason (also for members closed before reasons existed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.clock import ManualClock
from ledger.member import Member
from ledger.program import ProgramRules
from tests.api.write_support import PARTNER_TERMS, WriteClient, open_client, problem_slug


@pytest.fixture
def api(database_url: str, clock: ManualClock) -> Iterator[WriteClient]:
    yield from open_client(database_url, clock)


def partner_body(partner_id: str, **terms: Any) -> dict[str, Any]:
    return {"partner_id": partner_id, **PARTNER_TERMS, **terms, "status": "active"}


def test_partners_are_listed_in_pages(api: WriteClient) -> None:
    for partner_id in ("shop", "air", "cafe"):
        api.partner(partner_id)
    first = api.ok("GET", "/v1/partners?limit=2", status=200)
    assert first["partners"] == [partner_body("shop"), partner_body("air")]
    rest = api.ok("GET", f"/v1/partners?cursor={first['next_cursor']}", status=200)
    assert rest == {"partners": [partner_body("cafe")], "next_cursor": None}
    assert api.ok("GET", "/v1/partners", status=200)["next_cursor"] is None
    for query in ("limit=0", "limit=1001", "cursor=garbage"):
        assert problem_slug(api.get(f"/v1/partners?{query}")) == "validation-error"
    forbidden = api.get("/v1/partners", token=api.key("finance"))
    assert forbidden.status_code == 403
    assert forbidden.get_json()["detail"].endswith("roles that may: admin.")


def test_changed_terms_apply_from_then_on(api: WriteClient) -> None:
    token = api.partner("shop")
    api.enroll(token, "m1")
    before = api.accrue(token, "t1", "m1", amount="100.00")
    changed = api.ok(
        "PATCH",
        "/v1/partners/shop",
        {"name": "Shop & Co", "earn_rate": "3", "funding_rate": "0.02", "pending_days": 7},
        status=200,
    )
    assert changed == partner_body(
        "shop", name="Shop & Co", earn_rate="3", funding_rate="0.02", pending_days=7
    )
    assert api.ok("GET", "/v1/partners/shop", status=200) == changed
    after = api.accrue(token, "t2", "m1", amount="100.00")
    assert (before["points"], before["status"]) == (100, "available")
    assert (after["points"], after["status"]) == (300, "pending")
    position = after["position"]
    settlement = api.ok(
        "GET",
        f"/v1/reports/settlement?from=2026-01-01&to=2100-01-01&min_position={position}",
        status=200,
    )
    assert settlement["totals"]["amount_funded"] == "7.00"  # 100 x 0.01 + 300 x 0.02
    events = api.ok("GET", "/v1/events?limit=1000", status=200)["events"]
    (recorded,) = [e for e in events if e["type"] == "PartnerTermsChanged"]
    assert recorded["data"] == {
        "name": "Shop & Co",
        "earn_rate": "3",
        "funding_rate": "0.02",
        "reimbursement_rate": "0.008",
        "pending_days": 7,
    }
    # The same terms again change nothing and record nothing.
    api.ok("PATCH", "/v1/partners/shop", {"earn_rate": "3"}, status=200)
    again = api.ok("GET", "/v1/events?limit=1000", status=200)["events"]
    assert [e["type"] for e in again].count("PartnerTermsChanged") == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "_schema"),
        ({"currency": "USD"}, "currency"),
        ({"partner_id": "other"}, "partner_id"),
        ({"status": "active"}, "status"),
        ({"earn_rate": "-1"}, "earn_rate"),
        ({"pending_days": 36501}, "pending_days"),
        ({"name": ""}, "name"),
    ],
)
def test_a_bad_change_is_refused_and_records_nothing(
    api: WriteClient, body: dict[str, Any], field: str
) -> None:
    api.partner("shop")
    head = api.app.extensions["ledger"].recorder.max_notification_id()
    response = api.call("PATCH", "/v1/partners/shop", body)
    assert (response.status_code, problem_slug(response)) == (422, "validation-error")
    assert list(response.get_json()["errors"]) == [field]
    assert api.app.extensions["ledger"].recorder.max_notification_id() == head


def test_change_of_an_unknown_partner_and_by_a_partner_key(api: WriteClient) -> None:
    token = api.partner("shop")
    assert problem_slug(api.call("PATCH", "/v1/partners/nope", {"name": "X"})) == "not-found"
    assert api.call("PATCH", "/v1/partners/shop", {"name": "X"}, token=token).status_code == 403


def test_a_suspended_partner_is_reactivated(api: WriteClient) -> None:
    token = api.partner("shop")
    api.enroll(token, "m1")
    suspended = api.ok("POST", "/v1/partners/shop/suspend", status=200)
    assert suspended["status"] == "suspended"
    refused = api.call(
        "POST",
        "/v1/accruals",
        {
            "transaction_id": "t1",
            "member_id": "m1",
            "amount": "10.00",
            "currency": "EUR",
            "occurred_at": api.now(),
        },
        token,
    )
    assert problem_slug(refused) == "partner-not-active"
    assert api.ok("POST", "/v1/partners/shop/reactivate", status=200) == partner_body("shop")
    assert api.ok("POST", "/v1/partners/shop/reactivate", status=200)["status"] == "active"
    assert api.accrue(token, "t1", "m1", amount="10.00")["points"] == 10
    assert problem_slug(api.post("/v1/partners/nope/reactivate")) == "not-found"
    assert problem_slug(api.post("/v1/partners/shop/reactivate", {"x": 1})) == "validation-error"


def test_keys_are_listed_without_secrets(api: WriteClient) -> None:
    token = api.partner("shop")  # issues a partner key
    finance = api.ok("POST", "/v1/keys", {"role": "finance", "name": "books"})
    api.call("DELETE", f"/v1/keys/{finance['key_id']}")
    first = api.ok("GET", "/v1/keys?limit=1", status=200)
    (partner_key,) = first["keys"]
    assert {k: v for k, v in partner_key.items() if k not in ("key_id", "created_at")} == {
        "role": "partner",
        "partner_id": "shop",
        "name": "partner key",
        "revoked": False,
    }
    assert partner_key["created_at"] == api.now()
    rest = api.ok("GET", f"/v1/keys?cursor={first['next_cursor']}", status=200)
    assert rest["next_cursor"] is None
    assert rest["keys"] == [
        {
            "key_id": finance["key_id"],
            "role": "finance",
            "partner_id": None,
            "name": "books",
            "revoked": True,
            "created_at": api.now(),
        }
    ]
    listing = api.get("/v1/keys").get_data(as_text=True)
    assert finance["key"] not in listing and token not in listing and "sha256" not in listing
    one = api.ok("GET", f"/v1/keys/{finance['key_id']}", status=200)
    assert one == rest["keys"][0]
    assert problem_slug(api.get("/v1/keys/nope")) == "not-found"
    assert api.get("/v1/keys", token=token).status_code == 403


def test_close_with_a_reason_shows_it_in_the_statement(api: WriteClient) -> None:
    token = api.partner("shop")
    api.enroll(token, "m1")
    api.accrue(token, "t1", "m1", amount="40.00")
    closed = api.ok("POST", "/v1/members/m1/close", {"reason": "fraud case 17"}, status=200)
    assert (closed["status"], closed["balance"]["available"]) == ("closed", 0)
    lines = api.ok(
        "GET", f"/v1/members/m1/statement?min_position={closed['position']}", status=200
    )["lines"]
    assert (lines[-1]["type"], lines[-1]["points"]) == ("MemberClosed", -40)
    assert lines[-1]["detail"]["reason"] == "fraud case 17"
    api.enroll(token, "m2")
    assert api.ok("POST", "/v1/members/m2/close", status=200)["status"] == "closed"
    assert problem_slug(api.post("/v1/members/m2/close", {"reason": ""})) == "validation-error"
    assert problem_slug(api.post("/v1/members/m2/close", {"why": "x"})) == "validation-error"


def test_a_member_closed_before_reasons_existed_still_replays(api: WriteClient) -> None:
    """Its MemberClosed was stored without `reason`: replay, statement and as-of all answer."""
    ledger = api.app.extensions["ledger"]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    member = Member(
        timestamp=now,
        member_id="old",
        enrolled_at=now,
        birth_date=None,
        enrolled_by="operator",
        tier="basic",
    )
    member.grant_enrollment_bonus(now, ProgramRules(enrollment_bonus_points=30))
    member.close(now)
    stored = [ledger.mapper.to_stored_event(e) for e in member.collect_events()]
    state = json.loads(stored[-1].state)
    del state["reason"]
    stored[-1] = stored[-1].__class__(
        originator_id=stored[-1].originator_id,
        originator_version=stored[-1].originator_version,
        topic=stored[-1].topic,
        state=json.dumps(state).encode(),
    )
    ledger.recorder.insert_events(stored)
    replayed = ledger.member("old")
    assert (replayed.status, replayed.lifetime_expired) == ("closed", 30)
    head = ledger.recorder.max_notification_id()
    lines = api.ok("GET", f"/v1/members/old/statement?min_position={head}", status=200)["lines"]
    assert [line["type"] for line in lines] == ["MemberEnrolled", "BonusGranted", "MemberClosed"]
    assert "reason" not in lines[-1]["detail"]
    balance = api.ok("GET", "/v1/members/old/balance?as_of=2026-01-02T00:00:00Z", status=200)
    assert (balance["available"], balance["lifetime_expired"]) == (0, 30)
