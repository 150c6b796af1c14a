"""Aggregates kept in memory between commands, so a long history is not replayed every time.

An entry is lent to one unit of work at a time (a non-blocking lock): the borrower
fast-forwards it from the store, changes it, and gives it back after its save — or evicts it
if anything went wrong, so a half-applied change is never seen again. A unit of work that
finds an entry lent out reads its own copy from the store instead, so nobody waits and
nothing deadlocks. Cross-process races are still settled by the store's primary key.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from uuid import UUID

from eventsourcing.domain import Aggregate


@dataclass
class _Entry:
    aggregate: Aggregate
    lent: threading.Lock = field(default_factory=threading.Lock)


class AggregateCache:
    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[UUID, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def borrow(self, aggregate_id: UUID) -> Aggregate | bool | None:
        """The cached aggregate (now lent to the caller), None if absent, False if lent out."""
        with self._lock:
            entry = self._entries.get(aggregate_id)
            if entry is None:
                return None
            if not entry.lent.acquire(blocking=False):
                return False
            self._entries.move_to_end(aggregate_id)
            return entry.aggregate

    def adopt(self, aggregate: Aggregate) -> bool:
        """Cache a freshly loaded aggregate, lent to the caller; False if it cannot be."""
        with self._lock:
            if aggregate.id in self._entries:
                return False
            entry = _Entry(aggregate)
            entry.lent.acquire()
            self._entries[aggregate.id] = entry
            self._trim()
            return True

    def give_back(self, aggregate_id: UUID, aggregate: Aggregate | None) -> None:
        """Return a lent entry; with None (or a different object) the entry is evicted."""
        with self._lock:
            entry = self._entries.get(aggregate_id)
            if entry is None:
                return
            if aggregate is None or entry.aggregate is not aggregate:
                del self._entries[aggregate_id]
            entry.lent.release()

    def _trim(self) -> None:
        # Oldest first, skipping lent entries; stops as soon as enough are found, so a full
        # cache costs a few steps per adoption, not a pass over every entry.
        excess = len(self._entries) - self.maxsize
        if excess <= 0:
            return
        evicted: list[UUID] = []
        for aggregate_id, entry in self._entries.items():
            if entry.lent.acquire(blocking=False):
                evicted.append(aggregate_id)
                entry.lent.release()
                if len(evicted) == excess:
                    break
        for aggregate_id in evicted:
            del self._entries[aggregate_id]

    def __len__(self) -> int:
        return len(self._entries)
