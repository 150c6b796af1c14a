"""The runner: follows the ledger's notification log and applies every projection exactly once.

Each batch of events is applied in memory (`BatchRows`), then its rows and the new tracking
position are written in one transaction. The tracking update is a compare-and-set on the
position the batch started from, so a batch can never be applied twice, even if two runners
overlap; the PostgreSQL advisory lock (a lock file on SQLite) just keeps the second one idle.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from ledger.application import Ledger
from ledger.infrastructure.collector import collector_paused
from projections.decoding import StateDecoder
from projections.definitions import ALL, GROUPS
from projections.eventlog import EventLog, LoggedEvent
from projections.model import (
    NOTHING,
    Change,
    Create,
    Fact,
    Insert,
    Projection,
    RowKey,
    Table,
    event_kind,
)
from projections.store import CONNECTION_ERRORS, Row, Target

CATCH_UP_BATCH = 5000
_new_tuple = tuple.__new__
_UNREAD: Any = object()
Carried = dict[str, dict[tuple[Any, ...], Row]]
Values = tuple[Any, ...]
T = TypeVar("T")


class BatchRows:
    """The projection tables as one batch sees them: committed rows plus its own changes."""

    def __init__(
        self, target: Target, tables: Mapping[str, Table], carried: Carried | None = None
    ) -> None:
        self._target = target
        self._tables = tables
        self._rows: dict[str, dict[tuple[Any, ...], Row | None]] = defaultdict(dict)
        for name, rows in (carried or {}).items():
            self._rows[name].update(rows)
        self._waiting: dict[str, dict[tuple[Any, ...], list[Any]]] = defaultdict(dict)
        self._dirty: dict[str, dict[tuple[Any, ...], None]] = defaultdict(dict)
        self.inserts: dict[str, list[Row]] = defaultdict(list)
        # Rows `Create`d by this batch, by table and key: written by the bulk insert, with
        # whatever later changes of the batch made of them.
        self._created: dict[str, dict[tuple[Any, ...], Row]] = defaultdict(dict)
        self._merged = {name for name, t in tables.items() if t.merged}
        # Per merged table and key: the row the batch's changes make from the column
        # defaults, and the columns they set (the others are kept, or added to, in the store).
        self._merges: dict[str, dict[tuple[Any, ...], tuple[Row, set[str]]]] = defaultdict(dict)

    def prefetch(self, wanted: Iterable[RowKey]) -> None:
        by_table: dict[str, dict[tuple[Any, ...], None]] = defaultdict(dict)
        for name, key in wanted:
            if key not in self._rows[name]:
                by_table[name][key] = None
        for name, keys in by_table.items():
            self._load(name, list(keys))

    def _load(self, name: str, keys: list[tuple[Any, ...]]) -> None:
        if name in self._merged:
            # Its stored rows lag behind the merges of the batch being written meanwhile.
            raise RuntimeError(f"{name} is a merged table: no projection may read it")
        found = self._target.load(self._tables[name], keys)
        known = self._rows[name]
        waiting = self._waiting[name]
        for key in keys:
            row = found.get(key)
            for change in waiting.pop(key, ()):
                row = row if row is not None else self._tables[name].new_row(key)
                change.merge_into(row)
            known[key] = row

    def get(self, table: str, key: tuple[Any, ...]) -> Mapping[str, Any] | None:
        if key not in self._rows[table]:
            self._load(table, [key])
        return self._rows[table][key]

    def apply(self, change: Change) -> None:
        if type(change) is Insert:
            self.inserts[change.table].append(change.row)  # type: ignore[arg-type]
            return
        if type(change) is Create:
            self._create(*change)
            return
        name, key, put, add = change  # type: ignore[misc]
        if name in self._merged:
            self._merge(name, key, put, add)
            return
        self._dirty[name][key] = None
        known = self._rows[name]
        row = known.get(key, _UNREAD)
        if row is None:
            row = known[key] = self._tables[name].new_row(key)
        elif row is _UNREAD:
            waiting = self._waiting[name]
            if key not in waiting and self._tables[name].values <= put.keys():
                # Sets every column: the stored row, if any, cannot matter.
                row = known[key] = self._tables[name].new_row(key)
            else:
                # Not read yet: remember the change, fetch the row with the others at the end.
                waiting.setdefault(key, []).append(change)
                return
        row.update(put)
        for column, delta in add.items():
            row[column] += delta

    def _create(self, name: str, key: tuple[Any, ...], put: Mapping[str, Any]) -> None:
        row = self._tables[name].new_row(key)
        row.update(put)
        self._created[name][key] = row
        if name not in self._merged:
            self._rows[name][key] = row  # later changes of the batch land on it

    def upserts(self) -> dict[Table, list[Values]]:
        """The stored rows this batch changed, as value tuples: a snapshot the writer can
        take while the next batch goes on changing the rows themselves (see `carry`)."""
        for name, waiting in list(self._waiting.items()):
            if waiting:
                self._load(name, list(waiting))
        result: dict[Table, list[Values]] = {}
        for name, keys in self._dirty.items():
            table = self._tables[name]
            rows = self._rows[name]
            created = self._created.get(name, {})
            values = table.row_values
            result[table] = [
                values(row) for key in keys if key not in created and (row := rows[key]) is not None
            ]
        return result

    def insert_values(self) -> dict[Table, list[Values]]:
        """The new rows, appended and created, as value tuples (a snapshot, as `upserts`)."""
        result: dict[Table, list[Values]] = {}
        for name, rows in self.inserts.items():
            table = self._tables[name]
            result[table] = list(map(table.row_values, rows))
        for name, created in self._created.items():
            table = self._tables[name]
            result.setdefault(table, []).extend(map(table.row_values, created.values()))
        return result

    def _merge(
        self, name: str, key: tuple[Any, ...], put: Mapping[str, Any], add: Mapping[str, Any]
    ) -> None:
        created = self._created.get(name)
        if created and (row := created.get(key)) is not None:
            row.update(put)  # the batch writes this row whole: nothing to merge into
            for column, delta in add.items():
                row[column] += delta
            return
        merges = self._merges[name]
        merge = merges.get(key)
        if merge is None:
            merge = merges[key] = (self._tables[name].new_row(key), set())
        row, assigned = merge
        if put:
            row.update(put)
            assigned.update(put)
        for column, delta in add.items():
            row[column] += delta

    def merges(self) -> dict[Table, dict[frozenset[str], list[Values]]]:
        """The merged tables' changes as value tuples, by the set of columns they assign
        (see `Target.commit_batch`)."""
        result: dict[Table, dict[frozenset[str], list[Values]]] = {}
        for name, merges in self._merges.items():
            table = self._tables[name]
            values = table.row_values
            by_columns: dict[frozenset[str], list[Values]] = defaultdict(list)
            for row, assigned in merges.values():
                by_columns[frozenset(assigned)].append(values(row))
            result[table] = dict(by_columns)
        return result

    def carry(self) -> Carried:
        """The rows this batch changed, for the next batch to start from while this one is
        still being written (the writer has its own tuples of them: `upserts`)."""
        carried: Carried = {}
        for name, keys in self._dirty.items():
            rows = self._rows[name]
            carried[name] = {key: row for key in keys if (row := rows[key]) is not None}
        for name, created in self._created.items():
            if name not in self._merged:
                carried.setdefault(name, {}).update(created)
        return carried


class Lane:
    """Projections applied together, one batch at a time, with one tracking CAS over all
    their names: one group, or several groups that stand at the same position."""

    def __init__(self, groups: frozenset[str], projections: Sequence[Projection]) -> None:
        self.groups = groups
        self.projections = tuple(projections)
        self.names = [p.name for p in self.projections]
        self.tables = {t.name: t for p in self.projections for t in p.tables}
        self.decoded = {kind for p in self.projections if p.needs_decoding for kind in p.topics}
        self.texts = {kind for p in self.projections if p.needs_text for kind in p.topics}
        self._by_kind: dict[str, tuple[Projection, ...]] = {}

    def handlers(self, kind: str) -> tuple[Projection, ...]:
        handlers = self._by_kind.get(kind)
        if handlers is None:
            handlers = self._by_kind[kind] = tuple(p for p in self.projections if p.handles(kind))
        return handlers


class ProjectionRunner:
    """Applies `projections` to `target` from the log of `ledger`.

    Each group of `GROUPS` keeps its own tracking position, so groups may be run by
    different processes; this runner applies the groups it covers, those at the same
    position together (one decode per event), the others one after another."""

    def __init__(
        self,
        ledger: Ledger,
        target: Target,
        projections: Sequence[Projection] = ALL,
    ) -> None:
        self.ledger = ledger
        self.target = target
        self.projections = tuple(projections)
        self.names = [p.name for p in self.projections]
        self.tables = {t.name: t for p in self.projections for t in p.tables}
        self.groups = {
            group: [p.name for p in self.projections if p.name in members]
            for group, members in GROUPS
        }
        self.groups = {group: names for group, names in self.groups.items() if names}
        ungrouped = set(self.names) - {n for names in self.groups.values() for n in names}
        assert not ungrouped, f"projections in no group: {sorted(ungrouped)}"
        self.log = EventLog(ledger)
        self.decoder = StateDecoder(ledger.mapper)
        self._lanes: dict[frozenset[str], Lane] = {}
        self._kinds: dict[str, str] = {}  # event class name by topic

    # ------------------------------------------------------------------ state

    def position(self, groups: Iterable[str] | None = None) -> int:
        """The position every projection (of `groups`) has applied (0 before the first event)."""
        positions = self.target.positions()
        names = self.names if groups is None else [n for g in groups for n in self.groups[g]]
        return min((positions.get(name, 0) for name in names), default=0)

    def group_positions(self) -> dict[str, int]:
        positions = self.target.positions()
        found = {}
        for group, names in self.groups.items():
            at = {positions.get(name, 0) for name in names}
            if len(at) != 1:
                # Its names only ever move together: a tracking CAS could never succeed.
                raise RuntimeError(f"projection group {group} split over positions {sorted(at)}")
            found[group] = at.pop()
        return found

    def head(self) -> int:
        return int(self.ledger.recorder.max_notification_id() or 0)

    def lane(self, groups: Iterable[str]) -> Lane:
        key = frozenset(groups)
        lane = self._lanes.get(key)
        if lane is None:
            names = {n for g in key for n in self.groups[g]}
            lane = self._lanes[key] = Lane(key, [p for p in self.projections if p.name in names])
        return lane

    # ---------------------------------------------------------------- running

    def catch_up(
        self,
        until: int | None = None,
        deadline: float | None = None,
        batch_size: int = CATCH_UP_BATCH,
        recorded_until: datetime | None = None,
        groups: Iterable[str] | None = None,
    ) -> int:
        """Apply batches until the log head (or `until`, or `deadline` on time.monotonic()).

        With `recorded_until`, only events recorded at or before that instant count (as-of
        replays into a scratch target); with `groups`, only those groups run. Returns the
        position reached (the lowest of the groups').

        Where the target allows it, batch n is written (in its own transaction, as always)
        while batch n+1 is read and applied in memory on top of batch n's rows; batch n+1 is
        only written once batch n committed, and dropped if batch n lost its tracking CAS."""
        wanted = set(self.groups) if groups is None else set(groups)
        while True:
            at = {g: p for g, p in self.group_positions().items() if g in wanted}
            lost = False
            for position in sorted(set(at.values())):
                lane = self.lane(g for g, p in at.items() if p == position)
                if (
                    self._follow(lane, position, until, deadline, batch_size, recorded_until)
                    is None
                ):
                    lost = True  # another runner moved a group: look at the positions again
            if not lost:
                return self.position(wanted)

    def _follow(
        self,
        lane: Lane,
        old: int,
        until: int | None,
        deadline: float | None,
        batch_size: int,
        recorded_until: datetime | None,
    ) -> int | None:
        """`catch_up` of one lane from `old`; None if another runner got in the way."""
        # A catch-up allocates millions of small acyclic objects (freed by reference counting),
        # and the rows a batch leaves to the next one stay alive across a collection; the cycle
        # collector would walk them again and again for nothing (a fifth of the time without a
        # pause; 2.5 µs per event when it paused for single batches only). It runs again when
        # the round ends: a worker's round lasts at most `projections.worker.ROUND_SECONDS`, and
        # a catch-up of 200,000 events leaves a few dozen cyclic objects to collect then.
        with _Pipeline(self.target.concurrent) as pipeline, collector_paused():
            carried: Carried = {}
            writing: Future[bool] | None = None
            page = pipeline.read(self.log.read, old + 1, batch_size, until)
            while until is None or old < until:
                if deadline is not None and time.monotonic() > deadline:
                    break
                logged = page.result()
                if not logged:
                    break
                new = logged[-1].position
                if until is None or new < until:
                    page = pipeline.read(self.log.read, new + 1, batch_size, until)
                rows = self._batch_rows(lane, logged, recorded_until, carried)
                upserts = rows.upserts()
                if writing is not None and not writing.result():
                    return None  # batch n was not applied, so n+1 must not be either
                writing = pipeline.write(
                    self.target.commit_batch,
                    upserts,
                    rows.insert_values(),
                    lane.names,
                    old,
                    new,
                    rows.merges(),
                )
                carried, old = rows.carry(), new
            return old if writing is None or writing.result() else None

    def rebuild(self) -> int:
        """Truncate every projection and replay the whole log."""
        self.target.reset(self.names)
        return self.catch_up()

    def _batch_rows(
        self,
        lane: Lane,
        logged: Sequence[LoggedEvent],
        recorded_until: datetime | None,
        carried: Carried,
    ) -> BatchRows:
        facts = self._facts(lane, logged, decode_all=recorded_until is not None)
        if recorded_until is not None:
            facts = [f for f in facts if f.data["timestamp"] <= recorded_until]
        rows = BatchRows(self.target, lane.tables, carried)
        handlers = [(fact, lane.handlers(fact.kind)) for fact in facts]
        rows.prefetch(key for fact, ps in handlers for p in ps for key in p.reads(fact))
        for fact, projections in handlers:
            for projection in projections:
                for change in projection.apply(fact, rows):
                    rows.apply(change)
        return rows

    def _facts(self, lane: Lane, logged: Sequence[LoggedEvent], decode_all: bool) -> list[Fact]:
        decode = self.decoder.decode
        decode_with_text = self.decoder.decode_with_text
        decoded, texts = lane.decoded, lane.texts
        kinds = self._kinds
        facts = []
        for position, originator_id, version, topic, state in logged:
            kind = kinds.get(topic)
            if kind is None:
                kind = kinds[topic] = event_kind(topic)
            text = None
            data: Mapping[str, Any]
            if kind in texts:
                data, text = decode_with_text(topic, state)
            elif decode_all or kind in decoded:
                data = decode(topic, state)
            else:
                data = NOTHING
            # tuple.__new__ skips the Python-level __new__ of a NamedTuple (a third of a
            # microsecond per event), with the fields in their declared order.
            facts.append(
                _new_tuple(
                    Fact,
                    (
                        position,
                        originator_id,
                        version,
                        topic,
                        state,
                        kind,
                        originator_id.hex,
                        data,
                        text,
                    ),
                )
            )
        return facts


class _Pipeline:
    """Reads the next page of the log and writes the previous batch in the background, or,
    for a target that cannot take that (SQLite), does both in place."""

    def __init__(self, concurrent: bool) -> None:
        self._pool = ThreadPoolExecutor(2, "projections") if concurrent else None

    def read(self, read: Callable[..., list[LoggedEvent]], *args: Any) -> Future[list[LoggedEvent]]:
        return self._run(read, *args)

    def write(self, commit: Callable[..., bool], *args: Any) -> Future[bool]:
        return self._run(commit, *args)

    def _run(self, call: Callable[..., T], *args: Any) -> Future[T]:
        if self._pool is not None:
            return self._pool.submit(call, *args)
        done: Future[T] = Future()
        done.set_result(call(*args))
        return done

    def __enter__(self) -> _Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def replay_into(
    ledger: Ledger, target: Target, recorded_until: datetime | None = None
) -> ProjectionRunner:
    """Every projection rebuilt from the whole log into `target` (a scratch one, usually)."""
    runner = ProjectionRunner(ledger, target)
    runner.catch_up(recorded_until=recorded_until)
    return runner


def ensure_applied(
    ledger: Ledger,
    target: Target,
    position: int,
    timeout: float,
    stop: threading.Event | None = None,
) -> bool:
    """Make sure the projections have applied `position`, within `timeout` seconds (or
    until `stop` is set: a process shutting down must not wait out a failing projection).

    A group no runner is active for (nobody holds its lock) the caller catches up itself;
    for the others it waits for their active runner. Either way the result is exactly-once
    (tracking CAS)."""
    runner = ProjectionRunner(ledger, target)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if runner.position() >= position:
                return True
            if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                return False
            behind = [g for g, at in runner.group_positions().items() if at < position]
            mine: list[str] = []
            # Another thread of this process catching up on the same target holds its
            # session, and the locks it took look held by us too: wait for it instead.
            if behind and target.runner_side.acquire(blocking=False):
                try:
                    mine = [g for g in behind if target.try_lock(g)]
                    try:
                        if mine:
                            until = max(position, runner.head())
                            runner.catch_up(until=until, deadline=deadline, groups=mine)
                    finally:
                        for group in mine:
                            target.unlock(group)
                finally:
                    target.runner_side.release()
        except CONNECTION_ERRORS:
            # The target dropped the broken connection; the next attempt opens a fresh one.
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)
            continue
        if len(mine) < len(behind):
            time.sleep(0.02)  # an active runner has the others
