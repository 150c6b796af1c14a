"""Many commands, one database transaction, each command still all-or-nothing.

Aggregates loaded in a unit of work stay in memory between operations. Each operation runs in
`operation()`: if it raises, every aggregate it touched is put back as it was (so a rejected
command leaves nothing behind, not even due events); if it succeeds, its new events are queued
in order. `commit()` writes the whole queue in one `Application.save`, i.e. one transaction.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Recording

from ledger.transaction_key import TransactionKey

A = TypeVar("A", bound=Aggregate)

_UNLOADED = object()
_MISSING = object()


@dataclass
class OperationMark:
    """Which event's log position answers for an operation, once it is known."""

    events: list[Any] = field(default_factory=list)
    anchor: tuple[UUID, int] | None = None


class UnitOfWork:
    def __init__(self, app: Application[UUID]) -> None:
        self._app = app
        self._aggregates: dict[UUID, Aggregate | None] = {}
        self._backups: dict[UUID, object] | None = None
        self._touched: list[UUID] = []
        self.events: list[Any] = []

    def get(self, aggregate_id: UUID, cls: type[A]) -> A | None:
        if aggregate_id not in self._aggregates:
            self._remember(aggregate_id, _UNLOADED)
            try:
                loaded: Aggregate | None = self._app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                loaded = None
            self._aggregates[aggregate_id] = loaded
        else:
            self._remember(aggregate_id, self._aggregates[aggregate_id])
        found = self._aggregates[aggregate_id]
        if found is not None and not isinstance(found, cls):
            raise TypeError(f"{aggregate_id} is a {type(found).__name__}, not {cls.__name__}")
        return found

    def add(self, aggregate: Aggregate) -> None:
        self._remember(aggregate.id, self._aggregates.get(aggregate.id, _MISSING))
        self._aggregates[aggregate.id] = aggregate

    def _remember(self, aggregate_id: UUID, current: object) -> None:
        if self._backups is None:
            raise RuntimeError("aggregates are read and written inside operation()")
        if aggregate_id not in self._backups:
            self._backups[aggregate_id] = (
                current if current in (_UNLOADED, _MISSING, None) else copy.deepcopy(current)
            )
            self._touched.append(aggregate_id)

    @contextmanager
    def operation(self) -> Iterator[OperationMark]:
        mark = OperationMark()
        self._backups, self._touched = {}, []
        try:
            yield mark
        except BaseException:
            for aggregate_id, backup in self._backups.items():
                if backup is _UNLOADED or backup is _MISSING:
                    self._aggregates.pop(aggregate_id, None)
                else:
                    self._aggregates[aggregate_id] = backup  # type: ignore[assignment]
            raise
        else:
            # Transaction keys go last so their event is the operation's last event.
            touched = sorted(
                self._touched,
                key=lambda i: isinstance(self._aggregates.get(i), TransactionKey),
            )
            for aggregate_id in touched:
                aggregate = self._aggregates.get(aggregate_id)
                if aggregate is not None:
                    mark.events.extend(aggregate.collect_events())
            self.events.extend(mark.events)
            if mark.events and mark.anchor is None:
                last = mark.events[-1]
                mark.anchor = (last.originator_id, last.originator_version)
        finally:
            self._backups, self._touched = None, []

    def commit(self) -> dict[tuple[UUID, int], int]:
        """Save every queued event in one transaction; return their log positions."""
        if not self.events:
            return {}
        recordings: list[Recording[UUID]] = self._app.save(*self.events)
        self.events = []
        return {
            (r.domain_event.originator_id, r.domain_event.originator_version): r.notification.id
            for r in recordings
        }
