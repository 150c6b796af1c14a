"""Group execution: concurrent single commands run as one batch, each answered as if alone."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from ledger.application import Ledger, Outcome
from ledger.commands import Command
from ledger.errors import InsufficientPoints
from ledger.infrastructure.group_execution import GroupExecutor
from tests.integration.ledger_helpers import accrual, open_shop, redemption, stored_events
from tests.unit.member_helpers import T0


class HeldBatches:
    """A group's `execute_batch`, recording each group; the first waits to be released."""

    def __init__(self, execute_batch: Callable[[Sequence[Command]], list[Any]]) -> None:
        self.execute_batch = execute_batch
        self.groups: list[list[str]] = []
        self.first_started = threading.Event()
        self.release = threading.Event()

    def __call__(self, commands: Sequence[Command]) -> list[Any]:
        if not self.groups:
            self.first_started.set()
            self.release.wait(10)
        self.groups.append([c.transaction_id for c in commands])  # type: ignore[attr-defined]
        return self.execute_batch(commands)


def _run_queued(
    executor: GroupExecutor,
    batches: HeldBatches,
    commands: list[Command],
) -> list[Any]:
    """Execute each command on its own thread, in this order, the first holding the rest."""
    results: list[Any] = [None] * len(commands)

    def run(index: int) -> None:
        try:
            results[index] = executor.execute(commands[index])
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(commands))]
    threads[0].start()
    assert batches.first_started.wait(10)
    for queued, thread in enumerate(threads[1:], start=1):
        thread.start()
        while executor._queue.qsize() < queued:  # keep the arrival order
            threading.Event().wait(0.001)
    batches.release.set()
    for thread in threads:
        thread.join(10)
    return results


def test_waiting_commands_run_as_one_batch_each_answered_as_if_alone(ledger: Ledger) -> None:
    open_shop(ledger, "m1", "m2")
    batches = HeldBatches(lambda commands: ledger.execute_batch(commands, log_commands=False))
    executor = GroupExecutor(batches)
    first_accrual = accrual("a2", "20.00", T0, member_id="m2")

    results = _run_queued(
        executor,
        batches,
        [
            accrual("a0", "1.00", T0),
            accrual("a1", "10.00", T0),
            first_accrual,
            redemption("r1", 500, T0),
            accrual("a2", "20.00", T0, member_id="m2"),  # the same request again: a replay
            redemption("r2", 5, T0),
        ],
    )

    assert batches.groups == [["a0"], ["a1", "a2", "r1", "a2", "r2"]]
    a0, a1, a2, r1, a2_again, r2 = results
    assert [a0.body["points"], a1.body["points"], a2.body["points"]] == [1, 10, 20]
    assert isinstance(r1, InsufficientPoints)
    assert a2_again.replayed is True and a2.replayed is False
    assert a2_again.body == a2.body and a2_again.position == a2.position
    assert r2.body["points"] == 5 and r2.body["balance"]["available"] == 6
    assert ledger.member("m1").available == 6
    assert ledger.member("m2").available == 20
    # Every applied command's events are stored; the rejected and the replay add none.
    assert r2.position == stored_events(ledger)


def test_a_failing_store_reaches_every_command_of_the_group() -> None:
    def broken(commands: Sequence[Command]) -> list[Any]:
        raise ConnectionError("database down")

    executor = GroupExecutor(broken)
    with pytest.raises(ConnectionError):
        executor.execute(redemption("r1", 5, T0))
    with pytest.raises(ConnectionError):  # and the next group tries again
        executor.execute(redemption("r2", 5, T0))


def test_a_faulty_command_fails_alone_and_its_group_is_answered() -> None:
    """A command whose handling raises (a bug, not a LedgerError) does not fail its group."""
    poison = redemption("poison", 5, T0)

    def execute_batch(commands: Sequence[Command]) -> list[Any]:
        if poison in commands:
            raise ValueError("a bug in one command")
        return [Outcome({"done": c.transaction_id}) for c in commands]  # type: ignore[attr-defined]

    batches = HeldBatches(execute_batch)
    results = _run_queued(
        GroupExecutor(batches),
        batches,
        [
            redemption("first", 1, T0),
            redemption("a", 1, T0),
            poison,
            redemption("b", 1, T0),
        ],
    )

    assert batches.groups == [["first"], ["a", "poison", "b"], ["a"], ["poison"], ["b"]]
    assert [results[i].body["done"] for i in (0, 1, 3)] == ["first", "a", "b"]
    assert isinstance(results[2], ValueError)
