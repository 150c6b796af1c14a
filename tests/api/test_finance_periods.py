"""Settlement and breakage cut at any instant, over HTTP, on both backends.

A partner in Shanghai settles its business day from local midnight to local midnight:
2026-12-01T16:00Z to 2026-12-02T16:00Z. Around that day (partner `sh`: earn 1, funding
0.010, reimbursement 0.008; times are recorded times):

    12-01 12:00      redeem r0 100 points (0.80)             before the day
    12-01 15:00      m3 closes: its 40 points forfeited     before the day
    12-01 15:59:59.999999  accrue t0 1000.00 (1000, 10.00)   before the day
    12-01 16:00      accrue t1 200.00 (200, 2.00)            the day's first instant
    12-01 20:00      redeem r1 300 points (2.40)
    12-02 03:00      return 250.00 of t0 (-250, -2.50)       its accrual was before the day
    12-02 08:00      cancel r0 (-100, -0.80)                 its redemption was before the day
    12-02 10:00      accrue t2 55.55 (55, 0.55)
    12-02 15:59:59.999999  m2 closes: its 30 points forfeited
    12-02 16:00      cancel r1 (-300, -2.40)                 the next day's first instant
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from api.migrate import migrate
from ledger.clock import ManualClock
from ledger.config import Settings, database_backend, sqlite_path
from tests.api.write_support import WriteClient, open_client

SHANGHAI_DAY = {"from": "2026-12-01T16:00:00Z", "to": "2026-12-02T16:00:00Z"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def client(database_url: str) -> Iterator[WriteClient]:
    migrate(Settings(database_url=database_url))
    for client in open_client(database_url, ManualClock(at("2026-11-30T09:00:00"))):
        write_history(client)
        yield client


def write_history(client: WriteClient) -> None:
    sh = client.partner("sh", name="Shanghai Mall")
    for member in ("m1", "m2", "m3"):
        client.enroll(sh, member)
    client.accrue(sh, "seed1", "m1", "1000.00")
    client.accrue(sh, "seed2", "m2", "30.00")
    client.accrue(sh, "seed3", "m3", "40.00")
    steps: list[tuple[str, Any]] = [
        ("2026-12-01T12:00:00", lambda: client.redeem(sh, "r0", "m1", 100)),
        ("2026-12-01T15:00:00", lambda: close(client, "m3")),
        ("2026-12-01T15:59:59.999999", lambda: client.accrue(sh, "t0", "m1", "1000.00")),
        ("2026-12-01T16:00:00", lambda: client.accrue(sh, "t1", "m1", "200.00")),
        ("2026-12-01T20:00:00", lambda: client.redeem(sh, "r1", "m1", 300)),
        ("2026-12-02T03:00:00", lambda: reverse(client, sh, "accruals", "t0", "250.00")),
        ("2026-12-02T08:00:00", lambda: reverse(client, sh, "redemptions", "r0")),
        ("2026-12-02T10:00:00", lambda: client.accrue(sh, "t2", "m1", "55.55")),
        ("2026-12-02T15:59:59.999999", lambda: close(client, "m2")),
        ("2026-12-02T16:00:00", lambda: reverse(client, sh, "redemptions", "r1")),
    ]
    for moment, step in steps:
        client.clock.set(at(moment))
        step()


def close(client: WriteClient, member_id: str) -> None:
    client.ok("POST", f"/v1/members/{member_id}/close", status=200)


def reverse(
    client: WriteClient, token: str, kind: str, original: str, refund: str | None = None
) -> None:
    body: dict[str, Any] = {"transaction_id": f"back-{original}", "occurred_at": client.now()}
    if refund is not None:
        body["refund_amount"] = refund
    client.ok("POST", f"/v1/{kind}/{original}/reversals", body, token)


def report(client: WriteClient, name: str, **period: str) -> dict[str, Any]:
    head = int(client.app.extensions["ledger"].recorder.max_notification_id())
    response = client.http.get(
        f"/v1/reports/{name}",
        query_string={**period, "min_position": head},
        headers={"Authorization": "Bearer test-admin"},
    )
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def sh_figures(body: dict[str, Any]) -> dict[str, Any]:
    (partner,) = body["partners"]
    assert partner["partner_id"] == "sh"
    assert body["totals"] == {k: v for k, v in partner.items() if k != "partner_id"}
    return {k: v for k, v in partner.items() if k != "partner_id"}


def test_settlement_of_a_shanghai_business_day(client: WriteClient) -> None:
    body = report(client, "settlement", **SHANGHAI_DAY)
    assert (body["from"], body["to"], body["currency"]) == (
        "2026-12-01T16:00:00.000000Z",
        "2026-12-02T16:00:00.000000Z",
        "EUR",
    )
    assert sh_figures(body) == {
        "points_issued": 5,
        "amount_funded": "0.05",
        "points_redeemed": 200,
        "amount_reimbursed": "1.60",
        "net": "-1.55",
    }


def test_the_same_instants_written_with_an_offset(client: WriteClient) -> None:
    body = report(
        client,
        "settlement",
        **{"from": "2026-12-02T00:00:00+08:00", "to": "2026-12-03T00:00+08:00"},
    )
    assert body["from"] == "2026-12-01T16:00:00.000000Z"
    assert sh_figures(body)["net"] == "-1.55"


def test_periods_mixing_whole_days_and_partial_ones(client: WriteClient) -> None:
    # 11-30 16:00 to 12-02 16:00: the whole UTC day 12-01 plus the Shanghai day's part of 12-02.
    two_days = report(
        client, "settlement", **{"from": "2026-11-30T16:00:00Z", "to": "2026-12-02T16:00:00Z"}
    )
    assert sh_figures(two_days) == {
        "points_issued": 1005,
        "amount_funded": "10.05",
        "points_redeemed": 300,
        "amount_reimbursed": "2.40",
        "net": "7.65",
    }
    utc_day = report(client, "settlement", **{"from": "2026-12-02", "to": "2026-12-03T00:00:00Z"})
    assert sh_figures(utc_day) == {
        "points_issued": -195,
        "amount_funded": "-1.95",
        "points_redeemed": -400,
        "amount_reimbursed": "-3.20",
        "net": "1.25",
    }
    # Within one day, down to the microsecond.
    last_instant = report(
        client,
        "settlement",
        **{"from": "2026-12-01T15:59:59.999999Z", "to": "2026-12-01T16:00:00.000001Z"},
    )
    assert sh_figures(last_instant)["points_issued"] == 1200
    empty = report(
        client, "settlement", **{"from": "2026-12-01T16:00:00Z", "to": "2026-12-01T16:00:00Z"}
    )
    assert empty["partners"] == []
    assert empty["totals"] == {
        "points_issued": 0,
        "amount_funded": "0.00",
        "points_redeemed": 0,
        "amount_reimbursed": "0.00",
        "net": "0.00",
    }


def test_breakage_of_a_shanghai_business_day(client: WriteClient) -> None:
    body = report(client, "breakage", **SHANGHAI_DAY)
    assert body == {
        "from": "2026-12-01T16:00:00.000000Z",
        "to": "2026-12-02T16:00:00.000000Z",
        "sources": [{"source": "sh", "points_expired": 0, "points_forfeited": 30, "points": 30}],
        "total_points": 30,
    }
    both = report(client, "breakage", **{"from": "2026-12-01T00:00:00Z", "to": "2026-12-03"})
    assert both["total_points"] == 70


def test_a_closed_period_stays_as_it_was(client: WriteClient) -> None:
    before = report(client, "settlement", **SHANGHAI_DAY)
    client.clock.set(at("2026-12-03T09:00:00"))
    sh = client.key("partner", "sh")
    client.accrue(sh, "t3", "m1", "500.00")
    reverse(client, sh, "accruals", "t1")
    assert report(client, "settlement", **SHANGHAI_DAY) == before


def test_periods_must_be_instants_with_an_offset(client: WriteClient) -> None:
    response = client.http.get(
        "/v1/reports/settlement",
        query_string={"from": "2026-12-01T16:00:00", "to": "2026-12-02T16:00:00Z"},
        headers={"Authorization": "Bearer test-admin"},
    )
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["from"]
    response = client.http.get(
        "/v1/reports/settlement",
        query_string={"from": "2026-12-02T16:00:00Z", "to": "2026-12-01T16:00:00Z"},
        headers={"Authorization": "Bearer test-admin"},
    )
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["to"]


def test_day_buckets_are_not_needed_inside_a_day(client: WriteClient) -> None:
    """The same figures come from the events alone: every hour summed one by one."""
    start = at("2026-12-01T16:00:00")
    issued = 0
    for hour in range(24):
        piece = report(
            client,
            "settlement",
            **{
                "from": (start + timedelta(hours=hour)).isoformat(),
                "to": (start + timedelta(hours=hour + 1)).isoformat(),
            },
        )
        issued += piece["totals"]["points_issued"]
    assert issued == 5


def execute(database_url: str, *statements: str) -> None:
    if database_backend(database_url) == "sqlite":
        with sqlite3.connect(sqlite_path(database_url)) as conn:
            for statement in statements:
                conn.execute(statement)
        return
    with psycopg.connect(database_url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def test_a_database_migrated_from_day_buckets_only_answers_exactly(client: WriteClient) -> None:
    """A database whose projections ran before the per-event rows existed: `migrate` adds
    them and has the finance projections replayed, which fills them."""
    url = client.app.extensions["settings"].database_url
    before = report(client, "settlement", **SHANGHAI_DAY)
    digest = client.ok("GET", "/v1/audit/digest", status=200)
    # What such a database looks like: the day buckets at the head of the log, and no
    # per-event tables nor their migration.
    execute(
        url,
        "DROP TABLE partner_movements",
        "DROP TABLE breakage_movements",
        "DELETE FROM _yoyo_migration WHERE migration_id = '0004_settlement_movements'",
    )
    assert migrate(Settings(database_url=url)) == ["0004_settlement_movements"]
    positions = client.app.extensions["projections"].positions()
    assert {positions[name] for name in ("partner_positions", "postings", "event_hashes")} == {0}
    assert report(client, "settlement", **SHANGHAI_DAY) == before
    assert report(client, "breakage", **SHANGHAI_DAY)["total_points"] == 30
    assert client.ok("GET", "/v1/audit/digest", status=200) == digest
