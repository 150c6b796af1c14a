"""The runner: follows the ledger's notification log and applies every projection exactly once.

Each batch of events is applied in memory (`BatchRows`), then its rows and the new tracking
position are written in one transaction. The tracking update is a compare-and-set on the
position the batch started from, so a batch can never be applied twice, even if two runners
overlap; the PostgreSQL advisory lock (a lock file on SQLite) just keeps the second one idle.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Notification

from ledger.application import Ledger
from projections.definitions import ALL
from projections.model import Change, Fact, Insert, Projection, RowKey, Table
from projections.store import Row, Target

CATCH_UP_BATCH = 5000


class BatchRows:
    """The projection tables as one batch sees them: committed rows plus its own changes."""

    def __init__(self, target: Target, tables: Mapping[str, Table]) -> None:
        self._target = target
        self._tables = tables
        self._rows: dict[str, dict[tuple[Any, ...], Row | None]] = defaultdict(dict)
        self._waiting: dict[str, dict[tuple[Any, ...], list[Any]]] = defaultdict(dict)
        self._dirty: dict[str, dict[tuple[Any, ...], None]] = defaultdict(dict)
        self.inserts: dict[str, list[Row]] = defaultdict(list)

    def prefetch(self, wanted: Iterable[RowKey]) -> None:
        by_table: dict[str, dict[tuple[Any, ...], None]] = defaultdict(dict)
        for name, key in wanted:
            if key not in self._rows[name]:
                by_table[name][key] = None
        for name, keys in by_table.items():
            self._load(name, list(keys))

    def _load(self, name: str, keys: list[tuple[Any, ...]]) -> None:
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
        if isinstance(change, Insert):
            self.inserts[change.table].append(dict(change.row))
            return
        name, key = change.table, change.key
        self._dirty[name][key] = None
        known = self._rows[name]
        if key in known:
            row = known[key]
            if row is None:
                row = known[key] = self._tables[name].new_row(key)
            change.merge_into(row)
        else:
            # Not read yet: remember the change, fetch the row with the others at the end.
            self._waiting[name].setdefault(key, []).append(change)

    def upserts(self) -> dict[Table, list[Row]]:
        for name, waiting in list(self._waiting.items()):
            if waiting:
                self._load(name, list(waiting))
        result: dict[Table, list[Row]] = {}
        for name, keys in self._dirty.items():
            rows = [self._rows[name][key] for key in keys]
            result[self._tables[name]] = [row for row in rows if row is not None]
        return result


class ProjectionRunner:
    """Applies `projections` to `target` from the log of `ledger`."""

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
        self._position: int | None = None

    # ------------------------------------------------------------------ state

    def position(self) -> int:
        """The position every projection has applied (0 before the first event)."""
        positions = self.target.positions()
        return min((positions.get(name, 0) for name in self.names), default=0)

    def head(self) -> int:
        return int(self.ledger.recorder.max_notification_id() or 0)

    # ---------------------------------------------------------------- running

    def catch_up(
        self,
        until: int | None = None,
        deadline: float | None = None,
        batch_size: int = CATCH_UP_BATCH,
        recorded_until: datetime | None = None,
    ) -> int:
        """Apply batches until the log head (or `until`, or `deadline` on time.monotonic()).

        With `recorded_until`, only events recorded at or before that instant count (as-of
        replays into a scratch target). Returns the position reached."""
        position = self.position()
        while until is None or position < until:
            if deadline is not None and time.monotonic() > deadline:
                break
            notifications = self.ledger.recorder.select_notifications(
                start=position + 1, limit=batch_size, stop=until
            )
            if not notifications:
                break
            if not self._apply_batch(notifications, position, recorded_until):
                position = self.position()
                continue
            position = notifications[-1].id
        return position

    def rebuild(self) -> int:
        """Truncate every projection and replay the whole log."""
        self.target.reset(self.names)
        return self.catch_up()

    def _apply_batch(
        self,
        notifications: Sequence[Notification],
        old: int,
        recorded_until: datetime | None,
    ) -> bool:
        facts = self._facts(notifications, decode_all=recorded_until is not None)
        if recorded_until is not None:
            facts = [f for f in facts if f.event.timestamp <= recorded_until]
        rows = BatchRows(self.target, self.tables)
        by_kind: dict[str, list[Projection]] = {}
        handlers = []
        for fact in facts:
            if fact.kind not in by_kind:
                by_kind[fact.kind] = [p for p in self.projections if p.handles(fact.kind)]
            handlers.append((fact, by_kind[fact.kind]))
        rows.prefetch(key for fact, ps in handlers for p in ps for key in p.reads(fact))
        for fact, projections in handlers:
            for projection in projections:
                for change in projection.apply(fact, rows):
                    rows.apply(change)
        inserts = {self.tables[name]: rows_ for name, rows_ in rows.inserts.items()}
        return self.target.commit_batch(
            rows.upserts(), inserts, self.names, old, notifications[-1].id
        )

    def _facts(self, notifications: Sequence[Notification], decode_all: bool) -> list[Fact]:
        decoded_kinds = {
            kind for p in self.projections if p.needs_decoding for kind in p.topics
        }
        to_domain_event = self.ledger.mapper.to_domain_event
        facts = []
        for n in notifications:
            kind = n.topic.rpartition(".")[2]
            event = to_domain_event(n) if decode_all or kind in decoded_kinds else None
            facts.append(Fact(n.id, n.originator_id, n.originator_version,  # type: ignore[arg-type]
                              n.topic, n.state, event))
        return facts


def replay_into(
    ledger: Ledger, target: Target, recorded_until: datetime | None = None
) -> ProjectionRunner:
    """Every projection rebuilt from the whole log into `target` (a scratch one, usually)."""
    runner = ProjectionRunner(ledger, target)
    runner.catch_up(recorded_until=recorded_until)
    return runner


def ensure_applied(ledger: Ledger, target: Target, position: int, timeout: float) -> bool:
    """Make sure the projections have applied `position`, within `timeout` seconds.

    If no runner is active (nobody holds the lock) the caller catches up itself; otherwise it
    waits for the active runner. Either way the result is exactly-once (tracking CAS)."""
    runner = ProjectionRunner(ledger, target)
    deadline = time.monotonic() + timeout
    while runner.position() < position:
        if time.monotonic() >= deadline:
            return False
        if target.try_lock():
            try:
                runner.catch_up(until=max(position, runner.head()), deadline=deadline)
            finally:
                target.unlock()
        else:
            time.sleep(0.02)
    return True
