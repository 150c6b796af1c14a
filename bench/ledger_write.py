"""The ledger's own write path without HTTP: single commands, batches, and cost with history."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from decimal import Decimal

from bench.common import Figure, fresh_database, percentile
from bench.cpu import measured
from ledger.application import Ledger
from ledger.commands import Accrue, Enroll
from ledger.config import Settings
from ledger.partner import PartnerTerms

PARTNER = PartnerTerms(
    "bench-shop", "Bench Shop", "EUR", Decimal("1"), Decimal("0.01"), Decimal("0.008"), 0
)


def _accrue(member: str, n: int) -> Accrue:
    return Accrue(
        partner_id=PARTNER.partner_id,
        transaction_id=f"{member}-t{n}",
        member_id=member,
        amount=Decimal("12.34"),
        currency="EUR",
        occurred_at=datetime.now(UTC),
    )


def batch_throughput(url: str, members: int = 1000, per_member: int = 10) -> Figure:
    ledger = Ledger(settings=Settings(database_url=url))
    ledger.register_partner(PARTNER)
    ledger.execute_batch([Enroll(member_id=f"bm{i}") for i in range(members)])
    commands = [_accrue(f"bm{i % members}", i) for i in range(members * per_member)]
    with measured(url) as cpu:
        results = ledger.execute_batch(commands)
    assert all(not isinstance(r, Exception) for r in results)
    ledger.close()
    return Figure(
        "Ledger.execute_batch accruals",
        len(commands) / cpu.wall,
        "accruals/s",
        f"{len(commands)} accruals over {members} members; {cpu.per(len(commands))}",
    )


def latencies_with_history(
    url: str, histories: tuple[int, ...], samples: int = 200
) -> dict[int, tuple[float, float]]:
    """p50 and p99 in ms of one accrual for a member with each number of prior events.

    The members' accruals take turns, so a change in the machine's speed (which moves a lot
    here from one minute to the next) weighs on every member alike."""
    ledger = Ledger(settings=Settings(database_url=url))
    ledger.register_partner(PARTNER)
    for history in histories:
        member = f"hist{history}"
        ledger.execute(Enroll(member_id=member))
        for start in range(0, history, 1000):
            ledger.execute_batch(
                [_accrue(member, n) for n in range(start, min(history, start + 1000))]
            )
    timings: dict[int, list[float]] = {history: [] for history in histories}
    for n in range(samples):
        for history in histories:
            started = time.perf_counter()
            ledger.execute(_accrue(f"hist{history}", history + n))
            timings[history].append(time.perf_counter() - started)
    ledger.close()
    return {
        history: (percentile(t, 0.5) * 1000, percentile(t, 0.99) * 1000)
        for history, t in timings.items()
    }


def batch_throughput_figure() -> Figure:
    with fresh_database() as url:
        return batch_throughput(url)


def history_figures(history: int = 10_000) -> list[Figure]:
    with fresh_database() as url:
        latencies = latencies_with_history(url, (10, history))
    small, large = latencies[10], latencies[history]
    return [
        Figure(
            "accrual latency p50, member with 10 prior events",
            small[0],
            "ms",
            f"p99 {small[1]:.1f} ms",
        ),
        Figure(
            f"accrual latency p50, member with {history:,} prior events",
            large[0],
            "ms",
            f"p99 {large[1]:.1f} ms; ratio {large[0] / small[0]:.2f} (target <= 1.5)",
        ),
    ]


def measure(history: int = 10_000) -> list[Figure]:
    return [batch_throughput_figure(), *history_figures(history)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--batch-only", action="store_true", help="skip the history figures")
    args = parser.parse_args()
    figures = [batch_throughput_figure()] if args.batch_only else measure(args.history)
    for figure in figures:
        print(f"{figure.name}: {figure.value:,.2f} {figure.unit} {figure.note}")
