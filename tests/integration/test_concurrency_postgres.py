"""Concurrent writers on one member through two Ledger instances, on PostgreSQL only."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TypeVar

import pytest

from ledger.application import Ledger, Outcome
from ledger.clock import ManualClock
from ledger.config import Settings
from ledger.errors import InsufficientPoints
from tests.integration.ledger_helpers import accrual, open_shop, redemption
from tests.unit.member_helpers import T0

pytestmark = pytest.mark.postgres

R = TypeVar("R")


@pytest.fixture
def two_ledgers(pg_url: str, clock: ManualClock) -> Iterator[tuple[Ledger, Ledger]]:
    first = Ledger(settings=Settings(database_url=pg_url), clock=clock)
    second = Ledger(settings=Settings(database_url=pg_url), clock=clock)
    yield first, second
    first.close()
    second.close()


def run_together(count: int, task: Callable[[int], R]) -> list[R | Exception]:
    """Run task(0..count-1) on `count` threads released at the same instant."""
    barrier = threading.Barrier(count)

    def attempt(index: int) -> R | Exception:
        barrier.wait()
        try:
            return task(index)
        except Exception as error:
            return error

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(attempt, range(count)))


@pytest.mark.parametrize(("points_each", "succeeding"), [(40, 25), (30, 30)])
def test_postgres_concurrent_redemptions_never_overdraw(
    two_ledgers: tuple[Ledger, Ledger], points_each: int, succeeding: int
) -> None:
    first, second = two_ledgers
    open_shop(first, "m1")
    for day in range(4):  # four lots of 250, consumed L1 first
        first.execute(accrual(f"a{day}", "250.00", T0 - timedelta(days=3 - day)))

    results = run_together(
        30,
        lambda i: (first, second)[i % 2].execute(redemption(f"r{i}", points_each, T0)),
    )

    successes = [r for r in results if isinstance(r, Outcome)]
    failures = [r for r in results if not isinstance(r, Outcome)]
    assert all(isinstance(f, InsufficientPoints) for f in failures), failures
    assert len(successes) == succeeding
    redeemed = points_each * len(successes)
    assert redeemed == min(30 * points_each, 1000)

    taken: Counter[str] = Counter()
    for outcome in successes:
        lots = outcome.body["lots"]
        assert sum(lot["points"] for lot in lots) == points_each
        taken.update({lot["lot_id"]: lot["points"] for lot in lots})
    member = second.member("m1")
    assert (member.available, member.lifetime_redeemed) == (1000 - redeemed, redeemed)
    assert {lot_id: lot.points - lot.remaining for lot_id, lot in member.lots.items()} == {
        lot_id: taken[lot_id] for lot_id in member.lots
    }
    expected_remaining = {40: [0, 0, 0, 0], 30: [0, 0, 0, 100]}[points_each]
    assert [member.lots[f"L{n}"].remaining for n in range(1, 5)] == expected_remaining


def test_postgres_concurrent_identical_accruals_record_one(
    two_ledgers: tuple[Ledger, Ledger],
) -> None:
    first, second = two_ledgers
    open_shop(first, "m1")
    command = accrual("same", "75.00", T0)

    results = run_together(12, lambda i: (first, second)[i % 2].execute(command))

    assert all(isinstance(r, Outcome) for r in results), results
    outcomes = [r for r in results if isinstance(r, Outcome)]
    assert sorted(o.replayed for o in outcomes) == [False] + [True] * 11
    original = next(o for o in outcomes if not o.replayed)
    assert all(o.body == original.body and o.position == original.position for o in outcomes)
    member = first.member("m1")
    assert list(member.lots) == ["L1"]
    assert (member.available, member.lifetime_earned) == (75, 75)
