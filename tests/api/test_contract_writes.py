"""API.md's write rules over HTTP: idempotency, partner isolation, money rounded per event."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.writes import REPLAYED_HEADER
from ledger.clock import ManualClock
from tests.api.write_support import WriteClient, open_client, problem_slug


@pytest.fixture
def api(database_url: str, clock: ManualClock) -> Iterator[WriteClient]:
    yield from open_client(database_url, clock)


def test_enrollment_is_idempotent_on_member_id_whichever_partner_enrolls(
    api: WriteClient,
) -> None:
    shop, other = api.partner("shop"), api.partner("other")
    first = api.post("/v1/members", {"member_id": "m1", "birth_date": "1990-05-01"}, shop)
    assert first.status_code == 201
    again = api.post("/v1/members", {"member_id": "m1", "birth_date": "1990-05-01"}, other)
    assert again.status_code == 200 and again.headers[REPLAYED_HEADER] == "true"
    assert again.get_json() == first.get_json()
    conflict = api.post("/v1/members", {"member_id": "m1", "birth_date": "1991-05-01"}, other)
    assert conflict.status_code == 409 and problem_slug(conflict) == "idempotency-conflict"


def test_redemption_reversal_isolation_and_once_only(api: WriteClient) -> None:
    shop, other = api.partner("shop"), api.partner("other")
    api.enroll(shop)
    api.accrue(shop)
    api.redeem(shop, "r1", points=30)
    body = {"transaction_id": "c1", "occurred_at": api.now()}
    foreign = api.post("/v1/redemptions/r1/reversals", body, other)
    assert foreign.status_code == 404 and problem_slug(foreign) == "not-found"
    done = api.ok("POST", "/v1/redemptions/r1/reversals", body, shop)
    assert (done["redemption_transaction_id"], done["points_restored"]) == ("r1", 30)
    assert done["balance"] == {"available": 100, "pending": 0, "tier": "basic"}
    second = api.post("/v1/redemptions/r1/reversals", {**body, "transaction_id": "c2"}, shop)
    assert second.status_code == 409 and problem_slug(second) == "already-reversed"
    # The same id for another operation type is another request: 409, not a replay.
    clash = api.post("/v1/accruals/t1/reversals", body, shop)
    assert clash.status_code == 409 and problem_slug(clash) == "idempotency-conflict"


def test_a_rejection_does_not_consume_the_transaction_id(api: WriteClient) -> None:
    shop = api.partner("shop")
    api.enroll(shop)
    refused = api.post(
        "/v1/redemptions",
        {"transaction_id": "r1", "member_id": "m1", "points": 10, "occurred_at": api.now()},
        shop,
    )
    assert refused.status_code == 422 and problem_slug(refused) == "insufficient-points"
    api.accrue(shop)
    assert api.redeem(shop, "r1", points=10)["points"] == 10


def test_computed_amounts_round_half_up_per_event_and_reports_sum_them(
    api: WriteClient,
) -> None:
    shop = api.partner("shop", funding_rate="0.005", reimbursement_rate="0.005")
    api.enroll(shop)
    for n in range(3):
        api.accrue(shop, f"t{n}", amount="1.00")  # 1 point each: 0.005 -> 0.01
    redemption = api.redeem(shop, "r1", points=1)
    assert redemption["reimbursement_amount"] == "0.01"
    report = api.ok(
        "GET",
        "/v1/reports/settlement?from=2026-01-01&to=2026-02-01"
        f"&min_position={redemption['position']}",
        status=200,
    )
    assert report["partners"] == [
        {
            "partner_id": "shop",
            "points_issued": 3,
            "amount_funded": "0.03",
            "points_redeemed": 1,
            "amount_reimbursed": "0.01",
            "net": "0.02",
        }
    ]
