"""The read side's direct reads of the event table, which the library's API does not offer.

The write side's own reads (log positions, versions, prefetch) are in
`ledger/infrastructure/store_reads.py`."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.rows import tuple_row

from ledger.application import Ledger
from ledger.infrastructure.store_reads import retried


class LoggedEvent(NamedTuple):
    position: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes


_logged_event = functools.partial(tuple.__new__, LoggedEvent)


class EventLog:
    """The log as the read side follows it: pages of events, rows as stored, one stream."""

    def __init__(self, ledger: Ledger) -> None:
        recorder: Any = ledger.recorder  # typed by backend at each use
        self.recorder = recorder

    @retried
    def read(self, start: int, limit: int, stop: int | None = None) -> list[LoggedEvent]:
        """Up to `limit` events from position `start` (to `stop`, inclusive), in log order.

        What `recorder.select_notifications` answers, as plain tuples: the runner reads the
        log in large pages, and building a `Notification` per event shows in its profile."""
        if isinstance(self.recorder, PostgresApplicationRecorder):
            # The columns are LoggedEvent's, in its order: tuple.__new__ spares the
            # Python-level `_make` per row.
            return list(map(_logged_event, self._postgres_rows(start, limit, stop)))
        return [
            LoggedEvent(n.id, n.originator_id, n.originator_version, n.topic, n.state)  # type: ignore[arg-type]
            for n in self.recorder.select_notifications(start=start, limit=limit, stop=stop)
        ]

    @retried
    def stored_rows(self, start: int, limit: int, stop: int) -> list[tuple[Any, ...]]:
        """Up to `limit` rows of the events table from position `start` to `stop`, as stored:
        (position, originator id, originator version, topic, state), nothing converted or
        checked, so an auditor's tool can judge a malformed row instead of failing on it."""
        if isinstance(self.recorder, PostgresApplicationRecorder):
            return self._postgres_rows(start, limit, stop)
        assert isinstance(self.recorder, SQLiteApplicationRecorder)
        statement = (
            "SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {self.recorder.events_table_name} "
            "WHERE rowid >= ? AND rowid <= ? ORDER BY rowid LIMIT ?"
        )
        with self.recorder.datastore.transaction(commit=False) as curs:
            curs.execute(statement, (start, stop, limit))
            return [tuple(row) for row in curs.fetchall()]

    def _postgres_rows(self, start: int, limit: int, stop: int | None) -> list[tuple[Any, ...]]:
        """The events table's rows from `start` (to `stop`), as psycopg loads them."""
        statement = (
            "SELECT notification_id, originator_id, originator_version, topic, state "
            f"FROM {self.recorder.events_table_name} WHERE notification_id >= %s"
            + (" AND notification_id <= %s" if stop is not None else "")
            + " ORDER BY notification_id LIMIT %s"
        )
        params = (start, stop, limit) if stop is not None else (start, limit)
        with (
            self.recorder.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row) as curs,
        ):
            curs.execute(statement, params, prepare=True, binary=True)
            rows: list[tuple[Any, ...]] = curs.fetchall()
            return rows

    @retried
    def stream_notifications(
        self, originator_id: UUID, after_version: int = 0, limit: int | None = None
    ) -> list[Notification]:
        """One aggregate's stored events with their log positions, in version order: those
        after `after_version`, at most `limit` of them."""
        if isinstance(self.recorder, PostgresApplicationRecorder):
            statement = (
                "SELECT notification_id, originator_version, topic, state "
                f"FROM {self.recorder.events_table_name} "
                "WHERE originator_id = %s AND originator_version > %s "
                "ORDER BY originator_version LIMIT %s"
            )
            with self.recorder.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(statement, (originator_id, after_version, limit))
                rows = [
                    (
                        r["notification_id"],
                        r["originator_version"],
                        r["topic"],
                        stored_bytes(r["state"]),
                    )
                    for r in curs.fetchall()
                ]
        else:
            statement = (
                f"SELECT rowid, originator_version, topic, state "
                f"FROM {self.recorder.events_table_name} "
                "WHERE originator_id = ? AND originator_version > ? "
                "ORDER BY originator_version LIMIT ?"
            )
            with self.recorder.datastore.transaction(commit=False) as curs:
                # SQLite's LIMIT -1 is no limit.
                curs.execute(statement, (originator_id.hex, after_version, limit or -1))
                rows = [(r[0], r[1], r[2], r[3]) for r in curs.fetchall()]
        return [
            Notification(
                id=int(position),
                originator_id=originator_id,
                originator_version=int(version),
                topic=topic,
                state=state,
            )
            for position, version, topic, state in rows
        ]


def stored_bytes(state: Any) -> Any:
    # A tampered row's state may be null: the auditor's listing still shows the row.
    return None if state is None else bytes(state)
