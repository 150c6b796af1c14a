"""The write pipeline: every write of a process in one queue, groups of commands in one
transaction, and a conflict with another writer re-running only what it affected."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import PersistenceError

from ledger import ids
from ledger.application import Handled, Ledger, Outcome
from ledger.clock import ManualClock
from ledger.commands import Command, ReverseAccrual
from ledger.config import Settings, sqlite_path
from ledger.errors import InsufficientPoints, LedgerError
from ledger.infrastructure.unit_of_work import UnitOfWork
from tests.integration.ledger_helpers import accrual, open_shop, redemption, stored_events
from tests.unit.member_helpers import SHOP, T0


class CountingLedger(Ledger):
    """Counts each command's runs; `before` runs ahead of a command's first run, and a
    command in `faulty` raises a plain error (a bug, not a ledger rule) once handled."""

    name = Ledger.name  # the ledger's tables, not ones of its own

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.runs: Counter[str] = Counter()
        self.before: dict[str, Callable[[], object]] = {}
        self.faulty: set[str] = set()

    def handle(self, uow: UnitOfWork, now: datetime, command: Command) -> Handled:
        transaction_id = getattr(command, "transaction_id", None)
        if transaction_id is not None:
            self.runs[transaction_id] += 1
            hook = self.before.pop(transaction_id, None)
            if hook is not None:
                hook()
        handled = super().handle(uow, now, command)
        if transaction_id in self.faulty:
            raise ValueError("a bug in one command")
        return handled


def open_counting(url: str, clock: ManualClock) -> CountingLedger:
    return CountingLedger(settings=Settings(database_url=url), clock=clock)


@pytest.fixture
def counting(database_url: str, clock: ManualClock) -> Iterator[CountingLedger]:
    ledger = open_counting(database_url, clock)
    yield ledger
    ledger.close()


@pytest.fixture
def other(database_url: str, clock: ManualClock) -> Iterator[CountingLedger]:
    """A second ledger on the same database: another process, as far as the first knows."""
    ledger = open_counting(database_url, clock)
    yield ledger
    ledger.close()


def key_position(ledger: Ledger, transaction_id: str) -> int | None:
    """The log position of a partner operation's transaction key (its last event)."""
    return ledger.store_reads.position_of(
        ids.transaction_key_id(SHOP.partner_id, transaction_id), 1
    )


def hold_then_queue(ledger: CountingLedger, calls: list[Callable[[], Any]]) -> list[Any]:
    """Run calls[0] and hold the committer inside it until every other call (each on its
    own thread, in order) waits in the queue; so those all run as the next group."""
    release = threading.Event()
    started = threading.Event()
    results: list[Any] = [None] * len(calls)

    def gate() -> None:
        started.set()
        assert release.wait(10)

    def run(index: int) -> None:
        try:
            results[index] = calls[index]()
        except Exception as error:
            results[index] = error

    ledger.before["gate"] = gate
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    threads[0].start()
    assert started.wait(10)
    for queued, thread in enumerate(threads[1:], start=1):
        thread.start()
        while len(ledger.pipeline._waiting) < queued:  # keep the arrival order
            time.sleep(0.001)
    groups = ledger.pipeline.groups
    release.set()
    for thread in threads:
        thread.join(10)
    assert ledger.pipeline.groups == groups + 1  # after the held one, all the others at once
    return results


def test_waiting_writes_run_as_one_group_each_answered_as_if_alone(
    counting: CountingLedger,
) -> None:
    open_shop(counting, "m1", "m2")
    repeated = accrual("a2", "20.00", T0, member_id="m2")

    results = hold_then_queue(
        counting,
        [
            lambda: counting.execute(accrual("gate", "1.00", T0)),
            lambda: counting.execute(accrual("a1", "10.00", T0)),
            lambda: counting.execute_batch([repeated, redemption("r1", 500, T0)]),
            lambda: counting.execute(repeated),  # the same request again: a replay
            lambda: counting.execute(redemption("r2", 5, T0)),
        ],
    )

    gate, a1, (a2, r1), a2_again, r2 = results
    assert [gate.body["points"], a1.body["points"], a2.body["points"]] == [1, 10, 20]
    assert isinstance(r1, InsufficientPoints)
    assert (a2.replayed, a2_again.replayed) == (False, True)
    assert a2_again.body == a2.body and a2_again.position == a2.position
    assert r2.body["points"] == 5 and r2.body["balance"]["available"] == 6
    assert counting.member("m1").available == 6
    assert counting.member("m2").available == 20
    for outcome, transaction_id in [(gate, "gate"), (a1, "a1"), (a2, "a2"), (r2, "r2")]:
        assert outcome.position == key_position(counting, transaction_id)
    assert r2.position == stored_events(counting)  # the group's last event
    assert counting.pipeline.conflicts == 0


def test_concurrent_writers_in_one_process_never_conflict(counting: CountingLedger) -> None:
    members = [f"m{n}" for n in range(10)]
    open_shop(counting, *members)
    writers, rounds = 8, 20
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            for n in range(rounds):
                member = members[n % len(members)]
                if writer % 2:
                    counting.execute(accrual(f"w{writer}-{n}", "2.00", T0, member_id=member))
                else:
                    results = counting.execute_batch(
                        [
                            accrual(f"w{writer}-{n}-{i}", "1.00", T0, member_id=m)
                            for i, m in enumerate(members)
                        ]
                    )
                    assert all(isinstance(r, Outcome) for r in results)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert failures == []
    assert counting.pipeline.conflicts == 0
    # 4 batch writers x 20 rounds x 1 point on each member; 4 single writers x 20 accruals
    # of 2 points, 2 on each member.
    assert {m: counting.member(m).available for m in members} == dict.fromkeys(
        members, 4 * 20 + 4 * 2 * 2
    )
    assert set(counting.runs.values()) == {1}


def test_a_conflict_with_another_writer_runs_again_only_what_it_changed(
    counting: CountingLedger, other: CountingLedger
) -> None:
    open_shop(counting, "m1", "m2", "m3")
    counting.execute(accrual("seed", "100.00", T0, member_id="m2"))
    # While the group works, another process accrues to m2 and commits first.
    counting.before["a1"] = lambda: other.execute(accrual("x1", "7.00", T0, member_id="m2"))
    original = ReverseAccrual(
        partner_id=SHOP.partner_id,
        transaction_id="v2",
        original_transaction_id="a2",
        occurred_at=T0,
    )

    results = counting.execute_batch(
        [
            accrual("a1", "10.00", T0, member_id="m1"),
            accrual("a2", "20.00", T0, member_id="m2"),
            accrual("a3", "30.00", T0, member_id="m3"),
            accrual("a2", "20.00", T0, member_id="m2"),  # a replay of a2, in the same group
            original,  # reads a2's transaction key, written by a command that ran again
            redemption("r2", 107, T0, member_id="m2"),  # 100 + 20 - 20 + 7: x1 is needed
            accrual("a4", "40.00", T0, member_id="m1"),
        ]
    )

    outcomes = [r for r in results if isinstance(r, Outcome)]
    assert len(outcomes) == len(results), results
    a1, a2, a3, a2_again, v2, r2, a4 = outcomes
    assert counting.pipeline.conflicts == 1
    # Only the commands on m2, and those reading what they wrote, ran twice.
    assert {tx: counting.runs[tx] for tx in ["a1", "a2", "a3", "r2", "v2", "a4"]} == {
        "a1": 1,
        "a2": 4,
        "a3": 1,
        "r2": 2,
        "v2": 2,
        "a4": 1,
    }  # a2 twice as itself and twice as its replay: both count under its transaction id
    assert counting.pipeline.reruns == 4
    assert r2.body["points"] == 107 and r2.body["balance"]["available"] == 0
    assert a2_again.replayed and a2_again.body == a2.body
    assert v2.body["points_reversed"] == 20 and v2.body["balance"]["available"] == 107
    assert [a1.body["balance"]["available"], a4.body["balance"]["available"]] == [10, 50]
    assert a3.body["balance"]["available"] == 30
    assert {m: other.member(m).available for m in ["m1", "m2", "m3"]} == {
        "m1": 50,
        "m2": 0,
        "m3": 30,
    }
    for outcome, tx in [(a1, "a1"), (a2, "a2"), (a3, "a3"), (r2, "r2"), (v2, "v2"), (a4, "a4")]:
        assert outcome.position == key_position(other, tx)
    assert a2_again.position == a2.position
    assert a4.position == stored_events(other)


def test_repeated_conflicts_keep_the_answers_right(
    counting: CountingLedger, other: CountingLedger, database_url: str
) -> None:
    """The other writer accrues to m2 at each of the first three runs of a2. On SQLite each
    of those gets in first; on PostgreSQL the re-run holds the table lock, so the second
    waits for it and comes after the group, and there is no third run."""
    open_shop(counting, "m1", "m2")
    on_sqlite = database_url.startswith("sqlite")
    late: list[threading.Thread] = []
    writes = iter(range(3))

    def interfere() -> None:
        n = next(writes, None)
        if n is None:
            return

        def write() -> None:
            other.execute(accrual(f"x{n}", "5.00", T0, member_id="m2"))

        if on_sqlite or n == 0:
            write()
        else:
            late.append(threading.Thread(target=write))
            late[-1].start()
        counting.before["a2"] = interfere

    counting.before["a2"] = interfere

    results = counting.execute_batch(
        [accrual("a1", "1.00", T0, member_id="m1"), accrual("a2", "2.00", T0, member_id="m2")]
    )
    for thread in late:
        thread.join(10)

    a1, a2 = results
    assert isinstance(a1, Outcome) and isinstance(a2, Outcome)
    assert (counting.runs["a1"], counting.runs["a2"]) == ((1, 4) if on_sqlite else (1, 2))
    assert counting.pipeline.conflicts == (3 if on_sqlite else 1)
    assert a2.body["balance"]["available"] == (17 if on_sqlite else 7)
    assert other.member("m2").available == (17 if on_sqlite else 12)
    assert a1.position == key_position(other, "a1")
    assert a2.position == key_position(other, "a2")
    if on_sqlite:
        assert a2.position == stored_events(other)


def test_a_faulty_or_refused_command_leaves_nothing_and_fails_no_other(
    counting: CountingLedger, database_url: str, clock: ManualClock
) -> None:
    open_shop(counting, "m1")
    before = stored_events(counting)
    counting.faulty.add("bug")

    results = hold_then_queue(
        counting,
        [
            lambda: counting.execute(accrual("gate", "1.00", T0)),
            lambda: counting.execute(accrual("a1", "10.00", T0)),
            lambda: counting.execute(accrual("bug", "50.00", T0)),
            lambda: counting.execute(redemption("r1", 100, T0)),
            lambda: counting.execute_batch([redemption("r2", 11, T0), accrual("bug", "50.00", T0)]),
        ],
    )

    gate, a1, bug, r1, batch = results
    assert gate.body["balance"]["available"] == 1
    assert isinstance(bug, ValueError) and isinstance(batch, ValueError)
    assert isinstance(r1, InsufficientPoints)
    assert a1.body["balance"]["available"] == 11
    assert counting.runs["bug"] == 2
    reopened = Ledger(settings=Settings(database_url=database_url), clock=clock)
    try:
        # gate, a1 and r2 (an accrual or redemption and its key each); the refused r1 and
        # both faulty commands left nothing.
        assert reopened.member("m1").available == 0
        assert reopened.recorder.max_notification_id() == before + 3 * 2
    finally:
        reopened.close()


def _break_and_mend_the_store(
    ledger: Ledger, url: str
) -> tuple[Callable[[], None], Callable[[], None]]:
    """Rename the events table away and back, as an outage of the store would look."""
    table = ledger.recorder.events_table_name  # type: ignore[attr-defined]

    def run(statement: str) -> None:
        if url.startswith("sqlite"):
            with sqlite3.connect(sqlite_path(url)) as conn:
                conn.execute(statement)
        else:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(statement)

    return (
        lambda: run(f"ALTER TABLE {table} RENAME TO moved_away"),
        lambda: run(f"ALTER TABLE moved_away RENAME TO {table}"),
    )


def test_a_failing_store_reaches_every_caller_of_the_group(
    counting: CountingLedger, database_url: str
) -> None:
    open_shop(counting, "m1")
    counting.execute(accrual("a0", "9.00", T0))
    break_store, mend_store = _break_and_mend_the_store(counting, database_url)
    counting.before["a1"] = break_store

    results = hold_then_queue(
        counting,
        [
            lambda: counting.execute(accrual("gate", "1.00", T0)),
            lambda: counting.execute(accrual("a1", "10.00", T0)),
            lambda: counting.execute(redemption("r1", 100, T0)),  # refused, yet not answered
            lambda: counting.execute_batch([accrual("a2", "2.00", T0)]),
        ],
    )
    mend_store()

    gate, *group = results
    assert isinstance(gate, Outcome)
    assert all(isinstance(r, PersistenceError | psycopg.Error | sqlite3.Error) for r in group)
    assert not any(isinstance(r, LedgerError) for r in group)
    # The next write finds the store again, and nothing of the failed group was saved.
    assert counting.execute(accrual("a3", "3.00", T0)).body["balance"]["available"] == 13
