"""Projection groups (projections.definitions.GROUPS) on both backends: each group keeps its
own tracking rows and lock, runs alone to the same rows as all together, and the runner
copes with groups standing at different positions."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.clock import ManualClock
from ledger.config import Settings
from projections import reads
from projections.definitions import ALL, GROUPS
from projections.runner import ProjectionRunner, ensure_applied
from projections.store import Target, open_target, scratch_target
from projections.sweeps import run_sweep
from projections.worker import ProjectionWorker
from tests.integration.ledger_helpers import accrual, open_shop, stored_events
from tests.integration.test_projections import build_coalition

GROUP_NAMES = [name for name, _ in GROUPS]


def _snapshot(runner: ProjectionRunner) -> dict[str, list[dict[str, Any]]]:
    return {t.name: list(runner.target.iter_rows(t)) for t in runner.tables.values()}


def _replayed(ledger: Ledger) -> dict[str, list[dict[str, Any]]]:
    scratch = scratch_target()
    try:
        runner = ProjectionRunner(ledger, scratch)
        runner.catch_up()
        return _snapshot(runner)
    finally:
        scratch.close()


def test_groups_partition_the_projections_and_their_tables() -> None:
    grouped = [name for _, names in GROUPS for name in names]
    assert sorted(grouped) == sorted(p.name for p in ALL)
    assert len(set(grouped)) == len(grouped)
    assert GROUP_NAMES == ["members", "finance"]


def test_each_group_alone_gives_the_rows_of_all_together(
    ledger: Ledger, clock: ManualClock, target: Target
) -> None:
    build_coalition(ledger, clock)
    runner = ProjectionRunner(ledger, target)
    head = runner.head()
    # One group far ahead of the other (each reads only its own tables: a foreign read fails).
    assert runner.catch_up(groups=["finance"], batch_size=4) == head
    assert runner.group_positions() == {"members": 0, "finance": head}
    assert runner.position() == 0
    assert runner.catch_up(until=9, groups=["members"]) == 9
    assert runner.catch_up(batch_size=5) == head
    assert runner.group_positions() == {"members": head, "finance": head}
    assert _snapshot(runner) == _replayed(ledger)
    assert set(target.positions().values()) == {head}


def test_groups_at_one_position_advance_together_and_split_when_one_moves(
    ledger: Ledger, clock: ManualClock, target: Target
) -> None:
    build_coalition(ledger, clock)
    runner = ProjectionRunner(ledger, target)
    assert runner.catch_up(until=12) == 12
    assert runner.group_positions() == {"members": 12, "finance": 12}
    runner.catch_up(until=20, groups=["members"])
    assert runner.catch_up(until=30) == 30
    assert runner.group_positions() == {"members": 30, "finance": 30}


def test_a_group_whose_names_disagree_is_refused(
    ledger: Ledger, clock: ManualClock, target: Target
) -> None:
    build_coalition(ledger, clock)
    runner = ProjectionRunner(ledger, target)
    runner.catch_up(until=5)
    target.commit_batch({}, {}, ["postings"], 5, 6)  # tracking the runner never writes
    with pytest.raises(RuntimeError, match="finance split over positions"):
        runner.catch_up()


def test_reset_registers_every_projection_at_zero(
    ledger: Ledger, clock: ManualClock, target: Target
) -> None:
    build_coalition(ledger, clock)
    runner = ProjectionRunner(ledger, target)
    runner.catch_up(groups=["members"])
    assert set(target.positions()) == {p.name for p in ALL if p.name in dict(GROUPS)["members"]}
    target.reset(runner.names)
    assert target.positions() == {p.name: 0 for p in ALL}


def test_ensure_applied_catches_up_free_groups_and_waits_for_locked_ones(
    ledger: Ledger, clock: ManualClock, target: Target
) -> None:
    build_coalition(ledger, clock)
    head = ProjectionRunner(ledger, target).head()
    other = open_target(ledger.settings)  # another process's runner, active for finance
    try:
        assert other.try_lock("finance")
        assert not ensure_applied(ledger, target, head, timeout=0.3)
        runner = ProjectionRunner(ledger, target)
        assert runner.group_positions() == {"members": head, "finance": 0}
        other.unlock("finance")
        assert ensure_applied(ledger, target, head, timeout=30)
        assert runner.group_positions() == {"members": head, "finance": head}
    finally:
        other.close()


def test_the_worker_registers_every_projection_and_catches_up(
    ledger: Ledger, clock: ManualClock, target: Target
) -> None:
    build_coalition(ledger, clock)
    worker = ProjectionWorker(Settings(database_url=ledger.settings.database_url), ledger)
    try:
        if ledger.settings.backend == "postgres":
            assert (worker.groups, worker.helper_groups) == (("members",), ("finance",))
        else:
            assert (worker.groups, worker.helper_groups) == (("members", "finance"), ())
        worker._open()
        assert target.positions() == {p.name: 0 for p in ALL}
        head = worker._open().head()
        assert worker.catch_up() == head  # on PostgreSQL, finance in a helper process
        assert set(target.positions().values()) == {head}
        assert worker.wait_for(head, timeout=1)
        assert _snapshot(ProjectionRunner(ledger, target)) == _replayed(ledger)
    finally:
        worker.stop()


class _Exited:
    """A helper process that has already exited."""

    returncode = 1
    stdin = None

    def poll(self) -> int:
        return self.returncode


def test_a_failing_helper_is_restarted_with_growing_pauses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from projections import worker as worker_module

    now = [1000.0]
    monkeypatch.setattr(worker_module.time, "monotonic", lambda: now[0])
    worker = ProjectionWorker(Settings(database_url="postgresql://nowhere/none"))
    spawned: list[float] = []

    def spawn(group: str, once: bool) -> Any:
        assert (group, once) == ("finance", False)
        spawned.append(now[0])
        return _Exited()

    monkeypatch.setattr(worker, "_spawn", spawn)
    for _ in range(200):  # a round every 0.25 s for 50 s
        worker._keep_helpers()
        now[0] += 0.25
    gaps = [later - earlier for earlier, later in itertools.pairwise(spawned)]
    assert gaps == [1.0, 2.0, 4.0, 8.0, 16.0]
    now[0] = spawned[-1] + 30.0  # it ran long enough to count as healthy again
    worker._keep_helpers()
    assert worker._failures["finance"] == 1


def test_concurrent_waits_on_one_shared_target_each_catch_up_once(
    ledger: Ledger, clock: ManualClock, target: Target
) -> None:
    """An HTTP worker's threads share one target: with no runner active, many `min_position`
    reads at once each call `ensure_applied` on it (a 500 "cannot start a transaction
    within a transaction" on SQLite, when they all wrote through its one connection)."""
    open_shop(ledger, "m1")
    readers = 16
    for round_ in range(1, 6):
        ledger.execute(accrual(f"t{round_}", "10.00", clock.now()))
        position = stored_events(ledger)
        start = threading.Barrier(readers)

        def read(_: int, position: int = position, start: threading.Barrier = start) -> Any:
            start.wait()
            applied = ensure_applied(ledger, target, position, timeout=30)
            found = reads.balance(target, "m1")
            return applied, found and found["available"]

        with ThreadPoolExecutor(readers) as pool:
            answers = list(pool.map(read, range(readers)))
        assert answers == [(True, 10 * round_)] * readers
    runner = ProjectionRunner(ledger, target)
    assert runner.group_positions() == dict.fromkeys(GROUP_NAMES, stored_events(ledger))
    assert _snapshot(runner) == _replayed(ledger)


def test_a_stopped_sweep_gives_up_waiting_for_a_held_projection_and_emits_nothing(
    ledger: Ledger, clock: ManualClock, target: Target
) -> None:
    # A process shutting down must not wait out a projection another runner cannot apply,
    # nor fall back to sweeping every member on its way out.
    open_shop(ledger, "m1")
    ledger.execute(accrual("t1", "10.00", clock.now(), pending_days=1))
    clock.advance(timedelta(days=2))
    head = ProjectionRunner(ledger, target).head()
    other = open_target(ledger.settings)  # another process's runner, stuck on finance
    try:
        assert other.try_lock("finance")
        stop = threading.Event()
        stop.set()
        report = run_sweep(ledger, target=target, stop=stop)
        assert (report.members_touched, report.activated_points) == (0, 0)
        assert ProjectionRunner(ledger, target).head() == head
        other.unlock("finance")
        report = run_sweep(ledger, target=target)
        assert (report.members_touched, report.activated_points) == (1, 10)
    finally:
        other.close()
