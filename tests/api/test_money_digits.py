"""Money in answers always carries the currency's minor digits ("0.00", never "0")."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.clock import ManualClock
from tests.api.write_support import WriteClient, open_client


@pytest.fixture
def api(database_url: str, clock: ManualClock) -> Iterator[WriteClient]:
    yield from open_client(database_url, clock)


def test_writes_and_reads_write_minor_digits(api: WriteClient) -> None:
    token = api.partner("shop", reimbursement_rate="0")
    api.enroll(token, "m1")
    accrual = api.accrue(token, "t1", "m1", amount="12.5")
    assert accrual["amount"] == "12.50"
    redemption = api.redeem(token, "r1", "m1", points=5)
    assert redemption["reimbursement_amount"] == "0.00"
    body = {"transaction_id": "ret1", "occurred_at": api.now(), "refund_amount": "5"}
    reversal = api.ok("POST", "/v1/accruals/t1/reversals", body, token)
    assert reversal["refund_amount"] == "5.00"
    replay = api.ok("GET", "/v1/transactions/t1", token=token, status=200)
    assert replay["amount"] == "12.50"
    position = reversal["position"]
    tier = api.ok("GET", f"/v1/members/m1/tier?min_position={position}", status=200)
    assert (tier["qualifying_spend"], tier["spend_to_next_tier"]) == ("7.50", "3592.50")
    enrolled = api.enroll(token, "m2")
    fresh = api.ok("GET", f"/v1/members/m2/tier?min_position={enrolled['position']}", status=200)
    assert (fresh["qualifying_spend"], fresh["spend_to_next_tier"]) == ("0.00", "3600.00")
    period = "from=2026-01-01T00:00:00Z&to=2100-01-01T00:00:00Z"
    settlement = api.ok("GET", f"/v1/reports/settlement?{period}", status=200)
    assert settlement["partners"] == [
        {
            "partner_id": "shop",
            "points_issued": 8,
            "amount_funded": "0.08",
            "points_redeemed": 5,
            "amount_reimbursed": "0.00",
            "net": "0.08",
        }
    ]
    empty = api.ok("GET", "/v1/reports/settlement?from=2000-01-01&to=2000-01-02", status=200)
    assert empty["totals"]["amount_funded"] == "0.00" and empty["totals"]["net"] == "0.00"
    assert api.ok("GET", "/v1/reports/liability", status=200)["value"] == "0.03"
