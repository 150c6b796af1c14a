"""Batches and the aggregate cache: each command all-or-nothing, even inside one transaction."""

from __future__ import annotations

from datetime import timedelta

from ledger.application import Ledger
from ledger.clock import ManualClock
from ledger.config import Settings
from ledger.errors import InsufficientPoints
from tests.integration.ledger_helpers import accrual, open_shop, redemption, stored_events


def test_rejected_command_in_a_batch_rolls_back_its_due_events(
    ledger: Ledger, clock: ManualClock
) -> None:
    open_shop(ledger, "m1")
    ledger.execute(accrual("t1", "100", clock.now()))  # 100 points, expire 2028-02-01
    clock.set(clock.now().replace(year=2028, month=3))
    before = stored_events(ledger)

    results = ledger.execute_batch(
        [
            accrual("t2", "30", clock.now()),  # expiry of the first lot is due first
            redemption("r1", 50, clock.now()),  # only 30 left: rejected, saves nothing
            redemption("r2", 20, clock.now()),
        ]
    )

    assert [type(r).__name__ for r in results] == ["Outcome", "InsufficientPoints", "Outcome"]
    assert isinstance(results[1], InsufficientPoints)
    member = ledger.member("m1")
    assert member.full_balance() | {"member_id": "m1"} == {
        "member_id": "m1",
        "available": 10,
        "pending": 0,
        "lifetime_earned": 130,
        "lifetime_adjusted": 0,
        "lifetime_redeemed": 20,
        "lifetime_expired": 100,
        "lifetime_reversed": 0,
        "tier": "basic",
    }
    # t2: PointsExpired + PointsAccrued + key; r2: PointsRedeemed + key.
    assert stored_events(ledger) == before + 5


def test_cached_member_sees_writes_from_another_instance(
    database_url: str, clock: ManualClock
) -> None:
    first = Ledger(settings=Settings(database_url=database_url), clock=clock)
    second = Ledger(settings=Settings(database_url=database_url), clock=clock)
    try:
        open_shop(first, "m1")
        first.execute(accrual("t1", "40", clock.now()))  # cached in `first`
        second.execute(accrual("t2", "25", clock.now()))  # written behind its back
        outcome = first.execute(redemption("r1", 65, clock.now()))
        assert outcome.body["balance"] == {"available": 0, "pending": 0, "tier": "basic"}
        clock.advance(timedelta(seconds=1))
        assert second.member("m1").available == 0
    finally:
        first.close()
        second.close()
