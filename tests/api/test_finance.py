"""Finance reports over HTTP: the hand-computed coalition numbers, as strings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.clock import ManualClock
from tests.api.test_queries import Reader, open_reader


@pytest.fixture
def reader(database_url: str, clock: ManualClock) -> Iterator[Reader]:
    yield from open_reader(database_url, clock)


def test_settlement(reader: Reader) -> None:
    body = reader.get(
        "/v1/reports/settlement",
        min_position=reader.head,
        **{"from": "2026-01-01", "to": "2026-02-01T00:00:00Z"},
    )
    assert body["currency"] == "EUR"
    assert body["totals"] == {
        "points_issued": 7800,
        "amount_funded": "78.60",
        "points_redeemed": 70,
        "amount_reimbursed": "0.56",
        "net": "78.04",
    }
    assert body["partners"][0] == {
        "partner_id": "air",
        "points_issued": 7500,
        "amount_funded": "75.00",
        "points_redeemed": 70,
        "amount_reimbursed": "0.56",
        "net": "74.44",
    }
    assert body["from"] == "2026-01-01T00:00:00.000000Z"
    later = reader.get(
        "/v1/reports/settlement", **{"from": "2026-01-15T12:00:00+01:00", "to": "2026-02-01"}
    )
    assert later["totals"] == body["totals"]  # everything was recorded from 12:00Z on
    reader.get("/v1/reports/settlement", status=422)


def test_liability_breakage_trial_balance_tiers(reader: Reader) -> None:
    now = reader.get("/v1/reports/liability", min_position=reader.head)
    assert now["outstanding_points"] == 0 and now["value"] == "0.00"
    then = reader.get("/v1/reports/liability", as_of="2026-01-31T23:00:00Z")
    assert (
        then["outstanding_points"],
        then["pending_points"],
        then["debt_points"],
        then["value"],
    ) == (7900, 300, 20, "79.00")
    breakage = reader.get("/v1/reports/breakage", **{"from": "2026-01-01", "to": "2027-01-01"})
    assert breakage["total_points"] == 7905
    trial = reader.get("/v1/reports/trial-balance")
    assert trial["total"] == 0
    assert {"account": "operator:breakage", "debit": 0, "credit": 7905} in trial["accounts"]
    assert reader.get("/v1/reports/tiers") == {"tiers": [{"code": "basic", "members": 2}]}


def test_finance_roles(reader: Reader) -> None:
    for role in ("finance", "auditor"):
        reader.get("/v1/reports/tiers", token=reader.key(role))
    reader.get("/v1/reports/tiers", token=reader.key("partner", "air"), status=403)
