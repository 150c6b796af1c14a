"""Audit endpoints: the event log with hashes, digest, verification, roles."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.clock import ManualClock
from tests.api.test_queries import Reader, open_reader


@pytest.fixture
def reader(database_url: str, clock: ManualClock) -> Iterator[Reader]:
    yield from open_reader(database_url, clock)


def test_events_pages_and_hashes(reader: Reader) -> None:
    first = reader.get("/v1/events", min_position=reader.head, limit=5)
    assert [e["position"] for e in first["events"]] == [1, 2, 3, 4, 5]
    assert all(len(e["hash"]) == 64 for e in first["events"])
    second = reader.get("/v1/events", cursor=first["next_cursor"], limit=5)
    assert second["events"][0]["position"] == 6
    tail = reader.get("/v1/events", after=reader.head - 1)
    assert len(tail["events"]) == 1 and tail["next_cursor"] is None
    digest = reader.get("/v1/audit/digest")
    assert digest == {"position": reader.head, "hash": tail["events"][0]["hash"]}


def test_member_events(reader: Reader) -> None:
    body = reader.get("/v1/members/m2/events", min_position=reader.head)
    versions = [e["stream_version"] for e in body["events"]]
    assert versions == sorted(versions) and versions[0] == 1
    assert body["events"][0]["type"] == "MemberEnrolled"
    assert body["events"][0]["data"]["member_id"] == "m2"
    reader.get("/v1/members/nobody/events", status=404)


def test_member_events_in_pages(reader: Reader) -> None:
    everything = reader.get("/v1/members/m2/events", min_position=reader.head)
    types = [e["type"] for e in everything["events"]]
    assert types == [
        "MemberEnrolled",
        "BonusGranted",
        "PointsAccrued",
        "PointsRedeemed",
        "AccrualReversed",
        "PointsAdjusted",
        "PointsExpired",
    ]
    assert everything["next_cursor"] is None
    pages, cursor = [], None
    while True:
        query = {"limit": 3} if cursor is None else {"limit": 3, "cursor": cursor}
        page = reader.get("/v1/members/m2/events", **query)
        pages.append([e["stream_version"] for e in page["events"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [[1, 2, 3], [4, 5, 6], [7]]
    assert [e["type"] for e in reader.get("/v1/members/m2/events", limit=1)["events"]] == [
        "MemberEnrolled"
    ]
    first = reader.get("/v1/members/m2/events", limit=3)
    other = reader.get("/v1/members/m1/events", cursor=first["next_cursor"], status=422)
    assert list(other["errors"]) == ["cursor"]
    reader.get("/v1/members/m2/events", cursor="garbage", status=422)
    for limit in (0, 1001):
        reader.get("/v1/members/m2/events", limit=limit, status=422)


def test_verify(reader: Reader) -> None:
    body = reader.get("/v1/audit/verify", min_position=reader.head)
    assert body["ok"] and body["chain_ok"]
    assert body["checked_events"] == reader.head
    assert {p["name"] for p in body["projections"] if p["ok"]} == {
        "members",
        "member_tiers",
        "partner_positions",
        "postings",
        "event_hashes",
    }


def test_audit_roles(reader: Reader) -> None:
    reader.get("/v1/audit/digest", token=reader.key("auditor"))
    reader.get("/v1/audit/digest", token=reader.key("finance"), status=403)
