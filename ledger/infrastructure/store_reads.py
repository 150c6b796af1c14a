"""The event store reads the write side needs and the library's recorders do not offer.

`Ledger` builds one for its recorder (`store_reads_for`): the log position of a stored event
(a replay answers it), the latest stored version of aggregates (a key still standing, the
aggregates another process changed) and the events of many aggregates in one query (the
prefetch of a command or a batch chunk).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar, cast
from uuid import UUID

from eventsourcing.persistence import (
    ApplicationRecorder,
    InterfaceError,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import retry

# Up to this many aggregates a PostgreSQL prefetch looks each one up (see `select_after`).
FEW_AGGREGATES = 200
# Aggregates per SQLite statement: two parameters each, under SQLite's historical limit of
# 999 parameters a statement.
_SQLITE_CHUNK = 400

F = TypeVar("F", bound=Callable[..., Any])
_retry = retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)


def retried(read: F) -> F:
    """As the library's own reads: a pooled connection the server dropped (a restart) fails
    its first use and is discarded, so the call is tried again, on another."""
    return cast(F, _retry(read))


class StoreReads(Protocol):
    def position_of(self, originator_id: UUID, originator_version: int) -> int | None:
        """The log position of a stored event, None if there is no such event."""
        ...

    def version_of(self, originator_id: UUID) -> int | None:
        """The version of an aggregate's latest stored event, None if it has none."""
        ...

    def versions_of(self, originator_ids: Iterable[UUID]) -> dict[UUID, int]:
        """The latest stored version of each aggregate that has events (the others are
        left out)."""
        ...

    def select_after(self, versions: dict[UUID, int]) -> list[StoredEvent]:
        """Events of many aggregates, each after a given version, in one query; each
        aggregate's in version order."""
        ...


def store_reads_for(recorder: ApplicationRecorder) -> StoreReads:
    if isinstance(recorder, PostgresApplicationRecorder):
        return PostgresStoreReads(recorder)
    if isinstance(recorder, SQLiteApplicationRecorder):
        return SQLiteStoreReads(recorder)
    raise TypeError(f"no store reads for {type(recorder).__name__}")


class PostgresStoreReads:
    def __init__(self, recorder: PostgresApplicationRecorder) -> None:
        self.datastore = recorder.datastore
        events = recorder.events_table_name
        self._position = (
            f"SELECT notification_id FROM {events} "
            "WHERE originator_id = %s AND originator_version = %s"
        )
        self._version = (
            f"SELECT max(originator_version) AS version FROM {events} WHERE originator_id = %s"
        )
        # A scalar max per id, so each is one probe of the primary key however long the
        # aggregate's history (a max over a join would read every version).
        self._versions = (
            "SELECT k.id, (SELECT max(x.originator_version) FROM "
            f"{events} x WHERE x.originator_id = k.id) AS version FROM unnest(%b::uuid[]) AS k(id)"
        )
        # The prefetch: a lookup per aggregate for a few, one join for many. OFFSET 0 keeps
        # the lateral subquery from being flattened into a join.
        selected = "SELECT e.originator_id, e.originator_version, e.topic, e.state "
        in_order = " ORDER BY e.originator_id, e.originator_version"
        self._few_after = (
            f"{selected}FROM unnest(%b::uuid[], %b::int[]) AS k(id, v) CROSS JOIN LATERAL ("
            f"SELECT * FROM {events} x "
            f"WHERE x.originator_id = k.id AND x.originator_version > k.v OFFSET 0) e{in_order}"
        )
        self._many_after = (
            f"{selected}FROM {events} e JOIN unnest(%b::uuid[], %b::int[]) AS k(id, v) "
            f"ON e.originator_id = k.id AND e.originator_version > k.v{in_order}"
        )

    @retried
    def position_of(self, originator_id: UUID, originator_version: int) -> int | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._position, (originator_id, originator_version))
            row = curs.fetchone()
            return int(row["notification_id"]) if row else None

    @retried
    def version_of(self, originator_id: UUID) -> int | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._version, (originator_id,))
            row = curs.fetchone()
            return None if row is None or row["version"] is None else int(row["version"])

    @retried
    def versions_of(self, originator_ids: Iterable[UUID]) -> dict[UUID, int]:
        wanted = list(originator_ids)
        if not wanted:
            return {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._versions, (wanted,))
            return {
                row["id"]: int(row["version"])
                for row in curs.fetchall()
                if row["version"] is not None
            }

    @retried
    def select_after(self, versions: dict[UUID, int]) -> list[StoredEvent]:
        if not versions:
            return []
        # A few aggregates (a command, a group of concurrent requests): one index lookup each,
        # whatever the planner knows. Joined plainly, a young events table (never analysed)
        # was read whole for every prefetch, a hash join over a sequential scan. Many
        # aggregates (a batch chunk): the plain join, cheaper there (docs/PERFORMANCE.md).
        statement = self._few_after if len(versions) <= FEW_AGGREGATES else self._many_after
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (list(versions), list(versions.values())))
            return [
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]


class SQLiteStoreReads:
    def __init__(self, recorder: SQLiteApplicationRecorder) -> None:
        self.datastore = recorder.datastore
        self.events = events = recorder.events_table_name
        self._position = (
            f"SELECT rowid FROM {events} WHERE originator_id = ? AND originator_version = ?"
        )
        self._version = f"SELECT max(originator_version) FROM {events} WHERE originator_id = ?"

    @retried
    def position_of(self, originator_id: UUID, originator_version: int) -> int | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._position, (originator_id.hex, originator_version))
            row = curs.fetchone()
            return int(row[0]) if row else None

    @retried
    def version_of(self, originator_id: UUID) -> int | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._version, (originator_id.hex,))
            row = curs.fetchone()
            return None if row is None or row[0] is None else int(row[0])

    @retried
    def versions_of(self, originator_ids: Iterable[UUID]) -> dict[UUID, int]:
        wanted = [originator_id.hex for originator_id in originator_ids]
        found: dict[UUID, int] = {}
        with self.datastore.transaction(commit=False) as curs:
            for start in range(0, len(wanted), _SQLITE_CHUNK):
                chunk = wanted[start : start + _SQLITE_CHUNK]
                # A scalar max per id: one probe of the primary key each (see PostgreSQL's).
                listed = ", ".join(["(?)"] * len(chunk))
                curs.execute(
                    f"WITH k(id) AS (VALUES {listed}) SELECT id, (SELECT max(originator_version) "
                    f"FROM {self.events} WHERE originator_id = k.id) FROM k",
                    chunk,
                )
                found.update(
                    (UUID(row[0]), int(row[1])) for row in curs.fetchall() if row[1] is not None
                )
        return found

    @retried
    def select_after(self, versions: dict[UUID, int]) -> list[StoredEvent]:
        found: list[StoredEvent] = []
        items = list(versions.items())
        with self.datastore.transaction(commit=False) as curs:
            for start in range(0, len(items), _SQLITE_CHUNK):
                chunk = items[start : start + _SQLITE_CHUNK]
                where = " OR ".join(["(originator_id = ? AND originator_version > ?)"] * len(chunk))
                params: list[Any] = []
                for aggregate_id, version in chunk:
                    params += [aggregate_id.hex, version]
                curs.execute(
                    "SELECT originator_id, originator_version, topic, state "
                    f"FROM {self.events} WHERE {where} "
                    "ORDER BY originator_id, originator_version",
                    params,
                )
                found += [
                    StoredEvent(
                        originator_id=UUID(row[0]),
                        originator_version=row[1],
                        topic=row[2],
                        state=bytes(row[3]),
                    )
                    for row in curs.fetchall()
                ]
        return found
