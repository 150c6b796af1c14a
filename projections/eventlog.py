"""Direct reads of the ledger's event table that the library's API does not offer."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

from ledger.application import Ledger


class EventLog:
    """Positions of stored events, by originator: for idempotent replays and audit listings."""

    def __init__(self, ledger: Ledger) -> None:
        self.recorder: Any = ledger.recorder

    def position_of(self, originator_id: UUID, originator_version: int) -> int | None:
        if isinstance(self.recorder, PostgresApplicationRecorder):
            statement = (
                f"SELECT notification_id FROM {self.recorder.events_table_name} "
                "WHERE originator_id = %s AND originator_version = %s"
            )
            with self.recorder.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(statement, (originator_id, originator_version))
                row = curs.fetchone()
                return int(row["notification_id"]) if row else None
        assert isinstance(self.recorder, SQLiteApplicationRecorder)
        statement = (
            f"SELECT rowid FROM {self.recorder.events_table_name} "
            "WHERE originator_id = ? AND originator_version = ?"
        )
        with self.recorder.datastore.transaction(commit=False) as curs:
            curs.execute(statement, (originator_id.hex, originator_version))
            row = curs.fetchone()
            return int(row[0]) if row else None


def open_ledger(**kwargs: Any) -> Ledger:
    """A ledger wired with the event log it needs to answer replays with their position."""
    ledger = Ledger(**kwargs)
    ledger.positions = EventLog(ledger)
    return ledger
