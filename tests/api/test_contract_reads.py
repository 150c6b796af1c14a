"""API.md's read side over HTTP: statement lines and the event log, field by field."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from ledger.clock import ManualClock
from tests.api.write_support import WriteClient, open_client

HASH = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture
def api(database_url: str, clock: ManualClock) -> Iterator[WriteClient]:
    yield from open_client(database_url, clock)


def _times(value: Any) -> list[str]:
    """Every string in a JSON value that looks like a time (has a 'T' between date and clock)."""
    if isinstance(value, dict):
        return [t for v in value.values() for t in _times(v)]
    if isinstance(value, list):
        return [t for v in value for t in _times(v)]
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}T", value):
        return [value]
    return []


def test_statement_detail_writes_times_as_utc_microseconds_z(
    api: WriteClient, clock: ManualClock
) -> None:
    shop = api.partner("shop")
    api.enroll(shop, birth_date="1990-05-01")
    clock.advance(timedelta(seconds=1, microseconds=250))
    position = api.accrue(shop, occurred_at="2026-01-15T13:00:00.5+01:00")["position"]
    page = api.ok("GET", f"/v1/members/m1/statement?min_position={position}", status=200)
    enrolled, accrued = page["lines"]
    assert enrolled["detail"]["enrolled_at"] == "2026-01-15T12:00:00.000000Z"
    assert enrolled["detail"]["birth_date"] == "1990-05-01"
    assert accrued["detail"]["occurred_at"] == "2026-01-15T12:00:00.500000Z"
    assert accrued["detail"]["lot"] == {
        "lot_id": "L1",
        "source": "shop",
        "points": 100,
        "earned_at": "2026-01-15T12:00:00.500000Z",
        "available_at": "2026-01-15T12:00:00.500000Z",
        "expires_at": "2028-02-01T00:00:00.000000Z",
    }
    assert accrued["recorded_at"] == "2026-01-15T12:00:01.000250Z"
    for line in page["lines"]:
        for text in _times(line):
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", text), text


def _check_listed(events: list[dict[str, Any]]) -> None:
    for listed in events:
        assert set(listed) == {
            "position",
            "event_id",
            "stream_id",
            "stream_version",
            "type",
            "recorded_at",
            "data",
            "hash",
        }
        assert HASH.fullmatch(listed["hash"] or ""), listed


def test_event_listings_always_carry_the_chain_hash(api: WriteClient) -> None:
    shop = api.partner("shop")
    api.enroll(shop)
    api.accrue(shop)
    # No min_position: the listing itself makes sure the hashes it shows exist.
    first = api.ok("GET", "/v1/events?limit=3", status=200)
    assert [e["position"] for e in first["events"]] == [1, 2, 3]
    _check_listed(first["events"])
    rest = api.ok("GET", f"/v1/events?cursor={first['next_cursor']}&after=0", status=200)
    assert rest["events"][0]["position"] == 4 and rest["next_cursor"] is None
    _check_listed(rest["events"])
    member = api.ok("GET", "/v1/members/m1/events", status=200)
    assert [e["stream_version"] for e in member["events"]] == [1, 2]
    _check_listed(member["events"])
    digest = api.ok("GET", "/v1/audit/digest", status=200)
    assert digest == {
        "position": rest["events"][-1]["position"],
        "hash": rest["events"][-1]["hash"],
    }
