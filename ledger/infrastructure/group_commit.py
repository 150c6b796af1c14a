"""Group commit: concurrent commands in one process share one database transaction.

The event store takes a table lock per transaction (so log order is commit order), which
serialises commits: throughput comes from putting many commands' events in one transaction,
not from more writers. Each command still computes its events alone and waits until they are
durable; a group whose save loses to another writer is saved again one command at a time, so
only the conflicting command sees the conflict (and retries from fresh state).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, Recording

from ledger.infrastructure.grouping import Grouper, Waiting

Positions = dict[tuple[UUID, int], int]
SaveFunction = Callable[..., list[Recording[UUID]]]
Events = Sequence[Any]


def log_positions(recordings: list[Recording[UUID]]) -> Positions:
    """The log position of each saved event, by (aggregate id, version)."""
    return {
        (r.domain_event.originator_id, r.domain_event.originator_version): r.notification.id
        for r in recordings
    }


class GroupCommitter(Grouper[Events]):
    thread_name = "group-commit"

    def __init__(self, save: SaveFunction, max_group: int = 256) -> None:
        super().__init__(max_group)
        self._save = save

    def submit(self, events: Events) -> Positions:
        """Save `events` atomically (with whatever else is waiting); block until durable."""
        positions: Positions = self._submit(events)
        return positions

    def _process(self, group: list[Waiting[Events]]) -> None:
        try:
            recordings = self._save(*[e for waiting in group for e in waiting.item])
        except IntegrityError as error:
            if len(group) == 1:
                group[0].finish(error=error)
                return
            for waiting in group:
                self._process([waiting])
            return
        positions = log_positions(recordings)
        for waiting in group:
            waiting.finish(positions)
