"""Group commit: concurrent commands in one process share one database transaction.

The event store takes a table lock per transaction (so log order is commit order), which
serialises commits: throughput comes from putting many commands' events in one transaction,
not from more writers. Each command still computes its events alone and waits until they are
durable; a group whose save loses to another writer is saved again one command at a time, so
only the conflicting command sees the conflict (and retries from fresh state).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, Recording

Positions = dict[tuple[UUID, int], int]
SaveFunction = Callable[..., list[Recording[UUID]]]


@dataclass
class _Unit:
    events: Sequence[Any]
    done: threading.Event = field(default_factory=threading.Event)
    positions: Positions | None = None
    error: BaseException | None = None


def _positions(recordings: list[Recording[UUID]]) -> Positions:
    return {
        (r.domain_event.originator_id, r.domain_event.originator_version): r.notification.id
        for r in recordings
    }


class GroupCommitter:
    def __init__(self, save: SaveFunction, max_group: int = 256) -> None:
        self._save = save
        self._max_group = max_group
        self._queue: queue.SimpleQueue[_Unit] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, events: Sequence[Any]) -> Positions:
        """Save `events` atomically (with whatever else is waiting); block until durable."""
        unit = _Unit(events)
        self._ensure_thread()
        self._queue.put(unit)
        unit.done.wait()
        if unit.error is not None:
            raise unit.error
        assert unit.positions is not None
        return unit.positions

    def _ensure_thread(self) -> None:
        # Started on first use, so a process forked after construction gets its own thread.
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="group-commit", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            group = [self._queue.get()]
            while len(group) < self._max_group:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._commit(group)

    def _commit(self, group: list[_Unit]) -> None:
        try:
            recordings = self._save(*[e for unit in group for e in unit.events])
        except IntegrityError as error:
            if len(group) == 1:
                self._finish(group[0], error=error)
                return
            for unit in group:
                self._commit([unit])
            return
        except BaseException as error:  # the database is down: every waiter hears it
            for unit in group:
                self._finish(unit, error=error)
            return
        positions = _positions(recordings)
        for unit in group:
            self._finish(unit, positions=positions)

    @staticmethod
    def _finish(
        unit: _Unit, positions: Positions | None = None, error: BaseException | None = None
    ) -> None:
        unit.positions, unit.error = positions, error
        unit.done.set()
