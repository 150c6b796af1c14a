"""Group commit: waiting commands share one save; a conflict fails only its own command."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from ledger.infrastructure.group_commit import GroupCommitter


@dataclass
class FakeEvent:
    originator_id: UUID
    originator_version: int


@dataclass
class FakeNotification:
    id: int


@dataclass
class FakeRecording:
    domain_event: FakeEvent
    notification: FakeNotification


class FakeStore:
    """Records each save's events; the first save blocks until released; rejects one id."""

    def __init__(self, conflicting: UUID | None = None) -> None:
        self.saves: list[list[FakeEvent]] = []
        self.release = threading.Event()
        self.first_save_started = threading.Event()
        self.conflicting = conflicting
        self.position = 0

    def save(self, *events: Any) -> list[FakeRecording]:
        if not self.saves:
            self.first_save_started.set()
            self.release.wait(5)
        if any(e.originator_id == self.conflicting for e in events):
            self.saves.append([])
            raise IntegrityError("duplicate key")
        self.saves.append(list(events))
        recordings = []
        for event in events:
            self.position += 1
            recordings.append(FakeRecording(event, FakeNotification(self.position)))
        return recordings


def _submit_all(committer: GroupCommitter, units: list[FakeEvent]) -> list[Any]:
    results: list[Any] = [None] * len(units)

    def submit(index: int) -> None:
        try:
            results[index] = committer.submit([units[index]])
        except IntegrityError as error:
            results[index] = error

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(units))]
    threads[0].start()
    return [results, threads]


def test_commands_waiting_behind_a_save_share_the_next_one() -> None:
    store = FakeStore()
    committer = GroupCommitter(store.save)
    units = [FakeEvent(uuid4(), 1) for _ in range(6)]
    results, threads = _submit_all(committer, units)
    assert store.first_save_started.wait(5)
    for thread in threads[1:]:
        thread.start()
    while committer._queue.qsize() < 5:  # all five queued behind the blocked first save
        threading.Event().wait(0.001)
    store.release.set()
    for thread in threads:
        thread.join(5)

    assert [len(events) for events in store.saves] == [1, 5]
    for unit, positions in zip(units, results, strict=True):
        assert (unit.originator_id, 1) in positions


def test_a_conflict_in_a_group_fails_only_its_own_command() -> None:
    loser = uuid4()
    store = FakeStore(conflicting=loser)
    committer = GroupCommitter(store.save)
    units = [
        FakeEvent(uuid4(), 1),
        FakeEvent(uuid4(), 1),
        FakeEvent(loser, 1),
        FakeEvent(uuid4(), 1),
    ]
    results, threads = _submit_all(committer, units)
    assert store.first_save_started.wait(5)
    for thread in threads[1:]:
        thread.start()
    while committer._queue.qsize() < 3:
        threading.Event().wait(0.001)
    store.release.set()
    for thread in threads:
        thread.join(5)

    assert isinstance(results[2], IntegrityError)
    assert all(isinstance(results[i], dict) for i in (0, 1, 3))
    # First alone; then the group of three fails; then each of the three alone.
    assert [len(events) for events in store.saves] == [1, 0, 1, 0, 1]


def test_a_database_error_reaches_every_waiting_command() -> None:
    def broken_save(*events: Any) -> list[Any]:
        raise ConnectionError("database down")

    committer = GroupCommitter(broken_save)
    with pytest.raises(ConnectionError):
        committer.submit([FakeEvent(uuid4(), 1)])
