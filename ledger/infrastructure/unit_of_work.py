"""Many commands, one database transaction, each command still all-or-nothing.

Aggregates loaded in a unit of work stay in memory between operations. Each operation runs in
`operation()`: if it raises, every aggregate it changed is put back as it was (rebuilt from
the store plus the events queued by earlier operations), so a rejected command leaves nothing
behind, not even due events; if it succeeds, its new events are queued in order. `commit()`
writes the whole queue in one `Application.save`, i.e. one transaction. If that save loses
to another writer, `rebuild()` gives the pipeline fresh copies of the aggregates concerned
(`ledger/infrastructure/pipeline.py`) so it can run again only the commands that need it.

Command methods change state only by triggering events, so an aggregate whose version did
not move during a failed operation is untouched and needs no rebuilding.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Recording

from ledger.infrastructure.aggregate_cache import AggregateCache
from ledger.infrastructure.store_reads import StoreReads
from ledger.transaction_key import TransactionKey

A = TypeVar("A", bound=Aggregate)
Positions = dict[tuple[UUID, int], int]
_NOT_LOADED: Any = object()


@dataclass
class OperationMark:
    """The events an operation queued, which event's log position answers for it, and the
    aggregates it read or wrote (whether it succeeded or not)."""

    events: list[Any] = field(default_factory=list)
    anchor: tuple[UUID, int] | None = None
    touched: list[UUID] = field(default_factory=list)


class UnitOfWork:
    def __init__(
        self,
        app: Application[UUID],
        cache: AggregateCache | None = None,
        bulk: StoreReads | None = None,
    ) -> None:
        self._app = app
        self._cache = cache
        self._bulk = bulk
        self._aggregates: dict[UUID, Aggregate | None] = {}
        self._borrowed: dict[UUID, Aggregate] = {}
        self._prefetched: dict[UUID, list[Any]] = {}
        self._op_versions: dict[UUID, int | None] | None = None
        self._touched: list[UUID] = []
        self.events: list[Any] = []

    # ------------------------------------------------------------------ loading

    def get(self, aggregate_id: UUID, cls: type[A]) -> A | None:
        # One lookup where a test and a read took two: UUID hashing is a Python call, and
        # a batch does about fifty of them per command.
        found = self._aggregates.get(aggregate_id, _NOT_LOADED)
        if found is _NOT_LOADED:
            found = self._aggregates[aggregate_id] = self._load(aggregate_id)
        self._remember(aggregate_id, found)
        if found is not None and not isinstance(found, cls):
            raise TypeError(f"{aggregate_id} is a {type(found).__name__}, not {cls.__name__}")
        return found

    def add(self, aggregate: Aggregate) -> None:
        self._remember(aggregate.id, self._aggregates.get(aggregate.id))
        self._aggregates[aggregate.id] = aggregate

    def prefetch(self, aggregate_ids: Iterable[UUID]) -> None:
        """Load many aggregates with one query before the operations that need them."""
        if self._bulk is None:
            return
        versions: dict[UUID, int] = {}
        for aggregate_id in aggregate_ids:
            if aggregate_id in self._aggregates or aggregate_id in versions:
                continue
            cached = self._borrow(aggregate_id)
            versions[aggregate_id] = cached.version if cached is not None else 0
        if not versions:
            return
        for stored in self._bulk.select_after(versions):
            originator_id = stored.originator_id
            assert isinstance(originator_id, UUID)
            self._prefetched.setdefault(originator_id, []).append(
                self._app.mapper.to_domain_event(stored)
            )
        for aggregate_id in versions:
            # Found nothing newer: a cached aggregate is current, an uncached one is absent.
            self._prefetched.setdefault(aggregate_id, [])
            self._aggregates[aggregate_id] = self._load(aggregate_id)

    def _borrow(self, aggregate_id: UUID) -> Aggregate | None:
        if self._cache is None:
            return None
        if aggregate_id in self._borrowed:
            return self._borrowed[aggregate_id]
        cached = self._cache.borrow(aggregate_id)
        if isinstance(cached, Aggregate):
            self._borrowed[aggregate_id] = cached
            return cached
        return None

    def _load(self, aggregate_id: UUID) -> Aggregate | None:
        # Prefetched events continue whatever prefetch() decided: from the borrowed
        # aggregate's version, or from nothing if it was not borrowed then.
        prefetched = self._prefetched.pop(aggregate_id, None)
        cached = self._borrowed.get(aggregate_id)
        if cached is None and prefetched is None:
            cached = self._borrow(aggregate_id)
        if cached is not None:
            if prefetched is None:
                prefetched = list(self._app.events.get(aggregate_id, gt=cached.version))
            for domain_event in prefetched:
                domain_event.mutate(cached)
            return cached
        if prefetched is not None:
            loaded = _project(None, prefetched)
        else:
            try:
                loaded = self._app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                loaded = None
        if loaded is not None and self._cache is not None and self._cache.adopt(loaded):
            self._borrowed[aggregate_id] = loaded
        return loaded

    # --------------------------------------------------------------- operations

    def _remember(self, aggregate_id: UUID, current: Aggregate | None) -> None:
        versions = self._op_versions
        if versions is None:
            raise RuntimeError("aggregates are read and written inside operation()")
        if aggregate_id not in versions:
            versions[aggregate_id] = None if current is None else current.version
            self._touched.append(aggregate_id)

    def operation(self) -> _Operation:
        """One command's reads and writes: all kept if the block succeeds, none if it raises."""
        return _Operation(self)

    def _begin_operation(self) -> None:
        self._op_versions, self._touched = {}, []

    def _end_operation(self, mark: OperationMark, failed: bool) -> None:
        mark.touched = self._touched
        try:
            if failed:
                assert self._op_versions is not None
                self._roll_back(self._op_versions)
            else:
                self._queue_events(mark)
        finally:
            self._op_versions, self._touched = None, []

    def _queue_events(self, mark: OperationMark) -> None:
        # Transaction keys go last so their event is the operation's last event.
        keys: list[Aggregate] = []
        for aggregate_id in self._touched:
            aggregate = self._aggregates.get(aggregate_id)
            if isinstance(aggregate, TransactionKey):
                keys.append(aggregate)
            elif aggregate is not None:
                mark.events.extend(aggregate.collect_events())
        for key in keys:
            mark.events.extend(key.collect_events())
        self.events.extend(mark.events)
        if mark.events and mark.anchor is None:
            last = mark.events[-1]
            mark.anchor = (last.originator_id, last.originator_version)

    def _roll_back(self, versions: dict[UUID, int | None]) -> None:
        for aggregate_id, version in versions.items():
            current = self._aggregates.get(aggregate_id)
            if current is None or current.version == version:
                continue
            self._evict(aggregate_id)
            if version is None:
                self._aggregates.pop(aggregate_id, None)
                continue
            queued = [e for e in self.events if e.originator_id == aggregate_id]
            try:
                stored: Aggregate | None = self._app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                stored = None
            self._aggregates[aggregate_id] = _project(stored, queued)

    def _evict(self, aggregate_id: UUID) -> None:
        borrowed = self._borrowed.pop(aggregate_id, None)
        if borrowed is not None and self._cache is not None:
            self._cache.give_back(aggregate_id, None)

    def rebuild(self, aggregate_ids: Iterable[UUID], kept: list[Any]) -> None:
        """Queue only `kept` (events of earlier operations, in order) and make each of
        `aggregate_ids` what the store holds now plus its kept events.

        The copies in memory carry events that will not be saved, so they are dropped (and
        evicted from the cache); the store's events are read in one query where possible.
        """
        wanted = list(dict.fromkeys(aggregate_ids))
        for aggregate_id in wanted:
            self._evict(aggregate_id)
            self._aggregates.pop(aggregate_id, None)
        stored: dict[UUID, list[Any]] = {aggregate_id: [] for aggregate_id in wanted}
        if self._bulk is not None:
            for event in self._bulk.select_after(dict.fromkeys(wanted, 0)):
                domain_event = self._app.mapper.to_domain_event(event)
                stored[domain_event.originator_id].append(domain_event)
        else:
            for aggregate_id in wanted:
                stored[aggregate_id] = list(self._app.events.get(aggregate_id))
        for event in kept:
            queued = stored.get(event.originator_id)
            if queued is not None:
                queued.append(event)
        for aggregate_id, domain_events in stored.items():
            aggregate = _project(None, domain_events)
            self._aggregates[aggregate_id] = aggregate
            if aggregate is not None and self._cache is not None and self._cache.adopt(aggregate):
                self._borrowed[aggregate_id] = aggregate
        self.events = list(kept)

    # ------------------------------------------------------------------- saving

    def commit(self) -> Positions:
        """Save every queued event in one transaction; return their log positions.

        The unit of work stays open, so that after a save lost to another writer (an
        IntegrityError) what conflicted can run again (`rebuild`) and be committed; leaving
        the `with` block closes it, as failed if by an error.
        """
        if not self.events:
            return {}
        positions = log_positions(self._app.save(*self.events))
        self.events = []
        return positions

    def close(self, failed: bool = False) -> None:
        """Give cached aggregates back (evicted if anything unsaved may be in them)."""
        if self._cache is not None:
            for aggregate_id, aggregate in self._borrowed.items():
                keep = (
                    not failed
                    and not self.events
                    and aggregate is self._aggregates.get(aggregate_id)
                )
                self._cache.give_back(aggregate_id, aggregate if keep else None)
        self._borrowed = {}

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(failed=exc_type is not None)


class _Operation:
    """The context manager of `UnitOfWork.operation` (a class: a generator-based one cost
    several µs per command, and a batch runs one per command)."""

    __slots__ = ("_mark", "_uow")

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._mark = OperationMark()

    def __enter__(self) -> OperationMark:
        self._uow._begin_operation()
        return self._mark

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self._uow._end_operation(self._mark, failed=exc_type is not None)


def log_positions(recordings: list[Recording[UUID]]) -> Positions:
    """The log position of each saved event, by (aggregate id, version)."""
    return {
        (r.domain_event.originator_id, r.domain_event.originator_version): r.notification.id
        for r in recordings
    }


def _project(aggregate: Aggregate | None, domain_events: list[Any]) -> Aggregate | None:
    for domain_event in domain_events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate
