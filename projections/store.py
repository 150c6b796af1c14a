"""Where projection rows live: the ledger's own database (SQLite or PostgreSQL), or a scratch
SQLite database for verification and as-of replays. Only the runner writes through a Target.

Values cross this boundary as Python values (int, str, Decimal, datetime in UTC, date, bool);
SQLite stores money and times as text, converted here and nowhere else.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, TextIO

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from ledger.config import Settings, sqlite_path
from projections.definitions import TABLES
from projections.model import Column, Table

TRACKING = "projection_tracking"
LOCK_NAME = "loyalty-ledger projections"
PG_TYPES = {
    "int": "bigint",
    "text": "text",
    "decimal": "numeric",
    "time": "timestamptz",
    "date": "date",
    "bool": "boolean",
}
# Column name -> type, for converting query results (names are used consistently across tables).
COLUMN_TYPES: dict[str, str] = {c.name: c.type for t in TABLES for c in t.columns}
Row = dict[str, Any]
Values = tuple[Any, ...]  # a row's values in its table's column order
# Rows of merged tables (`Table.merged`) by the set of columns their changes assigned.
Merges = Mapping[Table, Mapping[frozenset[str], list[Values]]]
NO_MERGES: Merges = MappingProxyType({})
# What a connection the server dropped (a restart, a crash, the network) fails with; it is
# of no further use, while after any other error it is still fine.
CONNECTION_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)


SCHEMA_MIGRATIONS = (
    "0002_projections.sql",
    "0003_member_accounts.sql",
    "0004_settlement_movements.sql",
)
NEWEST_TABLE = "partner_movements"  # present once every file of SCHEMA_MIGRATIONS has run


def merge_sql(table: Table, assigned: frozenset[str], add: Callable[[Column], str]) -> str:
    """The `ON CONFLICT (key) DO ...` clause that merges a proposed row (`excluded`) into the
    stored one: assigned columns take the new value, numbers not assigned are added to (the
    proposed row holds what the batch added to the column's default, 0), the rest stay.
    `add(column)` is the dialect's exact sum of the stored and the proposed value."""
    updates = []
    for column in table.columns:
        if column.name in table.key:
            continue
        if column.name in assigned:
            updates.append(f"{column.name} = excluded.{column.name}")
        elif column.additive:
            updates.append(f"{column.name} = {add(column)}")
    conflict = f"ON CONFLICT ({', '.join(table.key)})"
    return f"{conflict} DO UPDATE SET {', '.join(updates)}" if updates else f"{conflict} DO NOTHING"


def schema_sql(dialect: str) -> str:
    """The projection tables' DDL, from the migration files (idempotent)."""
    folder = "postgresql" if dialect == "postgres" else "sqlite"
    return "\n".join(_migration_text(folder, name) for name in SCHEMA_MIGRATIONS)


def _migration_text(folder: str, name: str) -> str:
    path = Path(__file__).resolve().parent.parent / "migrations" / folder / name
    if path.exists():
        return path.read_text()
    return resources.files("migrations").joinpath(folder, name).read_text()


class Target(ABC):
    backend: str
    # Whether `load` may run while another thread is in `commit_batch` (then the runner
    # writes one batch while it works out the next).
    concurrent: bool = False

    def __init__(self) -> None:
        # The runner side (its connection, its transaction, the locks it holds) is one
        # session: threads sharing this target (an HTTP worker's) take turns using it.
        self.runner_side = threading.Lock()

    # --------------------------------------------------------------- runner side

    @abstractmethod
    def ensure_schema(self) -> None: ...

    @abstractmethod
    def try_lock(self, group: str) -> bool:
        """Become the one active runner of a projection group for this database (released
        when the process dies)."""

    @abstractmethod
    def unlock(self, group: str) -> None: ...

    @abstractmethod
    def unlock_all(self) -> None: ...

    @abstractmethod
    def load(self, table: Table, keys: Sequence[tuple[Any, ...]]) -> dict[tuple[Any, ...], Row]:
        """Committed rows for the given keys (absent keys are left out)."""

    @abstractmethod
    def commit_batch(
        self,
        upserts: Mapping[Table, list[Values]],
        inserts: Mapping[Table, list[Values]],
        names: Sequence[str],
        old: int,
        new: int,
        merges: Merges = NO_MERGES,
    ) -> bool:
        """Write rows (`upserts` replace whole rows; `inserts` are new; both as value tuples;
        `merges` go into the stored row of their key, or into a new one, by `merge_sql`)
        and move tracking from `old` to `new`, all in one transaction.

        Returns False (writing nothing) if tracking was no longer at `old`: another runner
        got there first, so this batch must not be applied twice."""

    @abstractmethod
    def reset(self, names: Sequence[str]) -> None:
        """Empty every projection table and put tracking back to 0, in one transaction."""

    @abstractmethod
    def register(self, names: Sequence[str]) -> None:
        """Tracking rows at 0 for the projections that have none: each group creates its
        rows with its first batch, and until then a reader of the table alone would take
        the groups that already ran for all of them."""

    @abstractmethod
    def recover(self) -> None:
        """Drop the connections the runner side holds, so the next call opens fresh ones
        (after any database error: a restarted server leaves them all broken). The locks
        they held are gone with them: `try_lock` takes them again."""

    @abstractmethod
    def close(self) -> None: ...

    # ----------------------------------------------------------------- read side

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run a read with `?` placeholders; results converted to Python values by column."""

    def positions(self) -> dict[str, int]:
        rows = self.query(f"SELECT name, position FROM {TRACKING}")
        return {r["name"]: int(r["position"]) for r in rows}

    def iter_rows(self, table: Table) -> Iterator[Row]:
        """Every row of a table, ordered by key (byte order on both backends)."""
        order = ", ".join(self._ordered(k, table) for k in table.key)
        yield from self.query(
            f"SELECT {', '.join(table.column_names)} FROM {table.name} ORDER BY {order}"
        )

    def _ordered(self, column: str, table: Table) -> str:
        return column

    def dump_csv(self, table: Table, out: TextIO) -> int:
        import csv

        writer = csv.writer(out)
        writer.writerow(table.column_names)
        count = 0
        for row in self.iter_rows(table):
            writer.writerow([_csv_value(row[c]) for c in table.column_names])
            count += 1
        return count


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    if value is None:
        return ""
    return value


# ---------------------------------------------------------------------- SQLite


def _to_sqlite(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, Decimal | date):
        return str(value) if isinstance(value, Decimal) else value.isoformat()
    return value


def _from_sqlite(kind: str | None, value: Any) -> Any:
    if value is None or kind is None:
        return value
    if kind == "decimal":
        return Decimal(str(value))
    if kind == "time":
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "bool":
        return bool(value)
    return value


_DECIMAL_SUM = "ledger_decimal_sum"


def _decimal_sum(stored: str | None, added: str | None) -> str | None:
    """Exact sum of two amounts stored as text (NULL if either is, like SQL's `+`)."""
    if stored is None or added is None:
        return None
    return str(Decimal(stored) + Decimal(added))


class SQLiteTarget(Target):
    backend = "sqlite"

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.memory = path == ":memory:"
        self._conn = self._connect()
        self._lock_files: dict[str, Any] = {}

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.row_factory = sqlite3.Row
        # Amounts are stored as text: SQLite's own `+` would add them as floats.
        conn.create_function(_DECIMAL_SUM, 2, _decimal_sum, deterministic=True)
        if not self.memory:
            conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def ensure_schema(self) -> None:
        exists = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [NEWEST_TABLE]
        ).fetchone()
        if not exists:
            self._conn.executescript(schema_sql("sqlite"))

    def try_lock(self, group: str) -> bool:
        if self.memory:
            return True
        if group not in self._lock_files:
            handle = open(f"{self.path}.projections-{group}.lock", "a+")  # noqa: SIM115
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                return False
            self._lock_files[group] = handle
        return True

    def unlock(self, group: str) -> None:
        handle = self._lock_files.pop(group, None)
        if handle is not None:
            handle.close()

    def unlock_all(self) -> None:
        for group in list(self._lock_files):
            self.unlock(group)

    def load(self, table: Table, keys: Sequence[tuple[Any, ...]]) -> dict[tuple[Any, ...], Row]:
        found: dict[tuple[Any, ...], Row] = {}
        width = len(table.key)
        columns = ", ".join(table.column_names)
        for start in range(0, len(keys), 400):
            chunk = keys[start : start + 400]
            tuples = ", ".join(["(" + ", ".join("?" * width) + ")"] * len(chunk))
            sql = (
                f"SELECT {columns} FROM {table.name} WHERE ({', '.join(table.key)}) "
                f"IN (VALUES {tuples})"
            )
            params = [_to_sqlite(v) for key in chunk for v in key]
            for row in self._read(self._conn, sql, params):
                found[table.key_of(row)] = row
        return found

    def commit_batch(
        self,
        upserts: Mapping[Table, list[Values]],
        inserts: Mapping[Table, list[Values]],
        names: Sequence[str],
        old: int,
        new: int,
        merges: Merges = NO_MERGES,
    ) -> bool:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not self._advance(conn, names, old, new):
                conn.execute("ROLLBACK")
                return False
            for table, values in upserts.items():
                self._write(conn, "INSERT OR REPLACE", table, values)
            for table, values in inserts.items():
                self._write(conn, "INSERT", table, values)
            for table, by_columns in merges.items():
                for assigned, values in by_columns.items():
                    self._write(
                        conn, "INSERT", table, values, merge_sql(table, assigned, self._sum)
                    )
            conn.execute("COMMIT")
            return True
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _write(
        conn: sqlite3.Connection,
        verb: str,
        table: Table,
        values: Iterable[Values],
        conflict: str = "",
    ) -> None:
        cols = table.column_names
        conn.executemany(
            f"{verb} INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            f" {conflict}",
            ([_to_sqlite(v) for v in row] for row in values),
        )

    @staticmethod
    def _sum(column: Column) -> str:
        if column.type == "decimal":
            return f"{_DECIMAL_SUM}({column.name}, excluded.{column.name})"
        return f"{column.name} + excluded.{column.name}"

    @classmethod
    def _advance(cls, conn: sqlite3.Connection, names: Sequence[str], old: int, new: int) -> bool:
        now = _to_sqlite(datetime.now(UTC))
        cls._register(conn, names)
        cursor = conn.executemany(
            f"UPDATE {TRACKING} SET position = ?, updated_at = ? WHERE name = ? AND position = ?",
            [(new, now, name, old) for name in names],
        )
        return cursor.rowcount == len(names)

    def reset(self, names: Sequence[str]) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table in TABLES:
                conn.execute(f"DELETE FROM {table.name}")
            conn.execute(f"DELETE FROM {TRACKING}")
            self._register(conn, names)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def register(self, names: Sequence[str]) -> None:
        self._register(self._conn, names)

    @staticmethod
    def _register(conn: sqlite3.Connection, names: Sequence[str]) -> None:
        now = _to_sqlite(datetime.now(UTC))
        conn.executemany(
            f"INSERT OR IGNORE INTO {TRACKING} (name, position, updated_at) VALUES (?, 0, ?)",
            [(name, now) for name in names],
        )

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        if self.memory:
            return self._read(self._conn, sql, [_to_sqlite(p) for p in params])
        conn = self._connect()
        try:
            return self._read(conn, sql, [_to_sqlite(p) for p in params])
        finally:
            conn.close()

    @staticmethod
    def _read(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Row]:
        cursor = conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        kinds = [COLUMN_TYPES.get(n) for n in names]
        return [
            {n: _from_sqlite(k, v) for n, k, v in zip(names, kinds, row, strict=True)}
            for row in cursor.fetchall()
        ]

    def recover(self) -> None:
        # The lock files are separate handles: they stay held.
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()
        if not self.memory:  # (an in-memory database lives only in its connection)
            self._conn = self._connect()

    def close(self) -> None:
        self.unlock_all()
        self._conn.close()


# ------------------------------------------------------------------ PostgreSQL


class PostgresTarget(Target):
    backend = "postgres"
    concurrent = True

    def __init__(
        self, url: str, pool_size: int = 4, connect_timeout: int = 5, read_wait: float = 30.0
    ) -> None:
        super().__init__()
        self.url = url
        self._connect_timeout = connect_timeout
        self._read_wait = read_wait
        # Each opened on first use, and dropped after an error that may have broken it.
        self._conn: psycopg.Connection[Row] | None = None  # the runner's writes and locks
        self._loader: psycopg.Connection[Row] | None = None  # its reads (`load`)
        self._staged: set[str] = set()
        self._merge_stages: dict[tuple[str, frozenset[str]], str] = {}  # their names
        self._locked: set[str] = set()
        self._lock_key = _lock_key(LOCK_NAME)
        self._pool: ConnectionPool[psycopg.Connection[Row]] | None = None
        self._pool_size = pool_size

    def _connect(self) -> psycopg.Connection[Row]:
        return psycopg.connect(self.url, **self._connect_kwargs())

    def _connect_kwargs(self) -> dict[str, Any]:
        return {
            "autocommit": True,
            "row_factory": dict_row,
            "options": "-c timezone=UTC",
            "connect_timeout": self._connect_timeout,
        }

    @contextlib.contextmanager
    def _session(self) -> Iterator[psycopg.Connection[Row]]:
        """The runner's connection (writes, locks, staging tables): a broken one is dropped,
        with the locks and temporary tables that were its session's."""
        if self._conn is None:
            self._conn = self._connect()
        try:
            yield self._conn
        except CONNECTION_ERRORS:
            self._drop_session()
            raise

    def _drop_session(self) -> None:
        conn, self._conn = self._conn, None
        self._locked.clear()
        self._staged.clear()
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def _drop_loader(self) -> None:
        loader, self._loader = self._loader, None
        if loader is not None:
            with contextlib.suppress(psycopg.Error):
                loader.close()

    def recover(self) -> None:
        self._drop_loader()
        self._drop_session()
        if self._pool is not None:
            self._pool.check()

    def _reader(self) -> ConnectionPool[psycopg.Connection[Row]]:
        if self._pool is None:
            self._pool = ConnectionPool(
                self.url,
                min_size=1,
                max_size=self._pool_size,
                open=True,
                kwargs=self._connect_kwargs(),
                # How long a read waits for a connection, all busy or the database down
                # (then PoolTimeout: 503 `unavailable`).
                timeout=self._read_wait,
            )
        return self._pool

    def ensure_schema(self) -> None:
        # Serialised: several hosts may start at once, and CREATE ... IF NOT EXISTS can race.
        # (Normally `loyalty-ledger migrate` has created them; this covers a bare database.)
        with self._session() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key - 1,))
            row = conn.execute("SELECT to_regclass(%s) AS found", (NEWEST_TABLE,)).fetchone()
            if row is None or row["found"] is None:
                conn.execute(schema_sql("postgres"))

    def try_lock(self, group: str) -> bool:
        if group not in self._locked:
            with self._session() as conn:
                row = conn.execute(
                    "SELECT pg_try_advisory_lock(%s) AS ok", (_lock_key(f"{LOCK_NAME} {group}"),)
                ).fetchone()
            if row and row["ok"]:
                self._locked.add(group)
        return group in self._locked

    def unlock(self, group: str) -> None:
        if group in self._locked:
            self._locked.discard(group)
            with contextlib.suppress(psycopg.Error), self._session() as conn:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_lock_key(f"{LOCK_NAME} {group}"),))

    def unlock_all(self) -> None:
        for group in list(self._locked):
            self.unlock(group)

    def load(self, table: Table, keys: Sequence[tuple[Any, ...]]) -> dict[tuple[Any, ...], Row]:
        if not keys:
            return {}
        columns = ", ".join(f"t.{c}" for c in table.column_names)
        kinds = {c.name: c.type for c in table.columns}
        arrays = ", ".join(f"%s::{PG_TYPES[kinds[k]]}[]" for k in table.key)
        join = " AND ".join(f"t.{k} = k.{k}" for k in table.key)
        sql = (
            f"SELECT {columns} FROM {table.name} t "
            f"JOIN unnest({arrays}) AS k({', '.join(table.key)}) ON {join}"
        )
        params = [[key[i] for key in keys] for i in range(len(table.key))]
        if self._loader is None:
            self._loader = self._connect()
        try:
            rows = self._loader.execute(sql, params).fetchall()
        except CONNECTION_ERRORS:
            self._drop_loader()
            raise
        return {table.key_of(row): row for row in rows}

    def commit_batch(
        self,
        upserts: Mapping[Table, list[Values]],
        inserts: Mapping[Table, list[Values]],
        names: Sequence[str],
        old: int,
        new: int,
        merges: Merges = NO_MERGES,
    ) -> bool:
        try:
            self._write(upserts, inserts, names, old, new, merges)
        except _Lost:
            return False
        return True

    def _write(
        self,
        upserts: Mapping[Table, list[Values]],
        inserts: Mapping[Table, list[Values]],
        names: Sequence[str],
        old: int,
        new: int,
        merges: Merges,
    ) -> None:
        with self._session() as conn, conn.transaction(), conn.cursor() as cur:
            self._register(cur, names)
            cur.execute(
                f"UPDATE {TRACKING} SET position = %s, updated_at = now() "
                "WHERE name = ANY(%s) AND position = %s",
                (new, list(names), old),
            )
            if cur.rowcount != len(names):
                raise _Lost
            for table, values in inserts.items():
                if values:
                    self._copy(cur, table.name, table, values)
            for table, values in upserts.items():
                if values:
                    self._upsert(cur, table, values)
            for table, by_columns in merges.items():
                for assigned, values in by_columns.items():
                    self._merge(cur, table, assigned, values)

    def _copy(
        self, cur: psycopg.Cursor[Row], target: str, table: Table, values: Iterable[Values]
    ) -> None:
        cols = table.column_names
        with cur.copy(f"COPY {target} ({', '.join(cols)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([PG_TYPES[c.type] for c in table.columns])
            write_row = copy.write_row
            for row in values:
                write_row(row)

    def _upsert(self, cur: psycopg.Cursor[Row], table: Table, rows: list[Values]) -> None:
        stage = self._stage(cur, table, f"stage_{table.name}")
        self._copy(cur, stage, table, rows)
        cols = ", ".join(table.column_names)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in table.column_names if c not in table.key)
        cur.execute(
            f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {stage} "
            f"ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {updates}"
        )

    def _stage(self, cur: psycopg.Cursor[Row], table: Table, stage: str) -> str:
        """`stage`, a temporary table shaped like `table` and emptied at each commit, created
        on first use by this connection."""
        if stage not in self._staged:
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table.name}) ON COMMIT DELETE ROWS"
            )
            self._staged.add(stage)
        return stage

    def _merge(
        self,
        cur: psycopg.Cursor[Row],
        table: Table,
        assigned: frozenset[str],
        rows: list[Values],
    ) -> None:
        # One staging table per set of assigned columns: each needs its own statement.
        name = self._merge_stages.setdefault(
            (table.name, assigned), f"merge_{table.name}_{len(self._merge_stages)}"
        )
        stage = self._stage(cur, table, name)
        self._copy(cur, stage, table, rows)
        cols = ", ".join(table.column_names)
        merge = merge_sql(table, assigned, lambda c: f"{table.name}.{c.name} + excluded.{c.name}")
        cur.execute(f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {stage} {merge}")

    def reset(self, names: Sequence[str]) -> None:
        with self._session() as conn, conn.transaction(), conn.cursor() as cur:
            tables = ", ".join([t.name for t in TABLES] + [TRACKING])
            cur.execute(f"TRUNCATE {tables}")
            self._register(cur, names)

    def register(self, names: Sequence[str]) -> None:
        with self._session() as conn, conn.cursor() as cur:
            self._register(cur, names)

    @staticmethod
    def _register(cur: psycopg.Cursor[Row], names: Sequence[str]) -> None:
        cur.execute(
            f"INSERT INTO {TRACKING} (name, position, updated_at) "
            "SELECT unnest(%s::text[]), 0, now() ON CONFLICT (name) DO NOTHING",
            (list(names),),
        )

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        pool = self._reader()
        statement, values = sql.replace("?", "%s"), list(params)
        try:
            with pool.connection() as conn:
                return conn.execute(statement, values).fetchall()
        except PoolTimeout:
            raise  # the database is down: a second wait would not help
        except CONNECTION_ERRORS:
            # A pooled connection the server dropped (a restart) fails its first use; the
            # pool discards it. Check the others, then retry once on a working one.
            pool.check()
        with pool.connection() as conn:
            return conn.execute(statement, values).fetchall()

    def _ordered(self, column: str, table: Table) -> str:
        kind = next(c.type for c in table.columns if c.name == column)
        return f'{column} COLLATE "C"' if kind == "text" else column

    def close(self) -> None:
        self.unlock_all()
        if self._pool is not None:
            self._pool.close()
        self._drop_loader()
        self._drop_session()


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class _Lost(Exception):
    """Tracking moved under us: roll the batch back."""


def open_target(settings: Settings) -> Target:
    if settings.backend == "sqlite":
        return SQLiteTarget(sqlite_path(settings.database_url))
    timeout = max(settings.db_connect_timeout, 1)
    # A read waits about as long as a write does (the store tries a call 10 times).
    return PostgresTarget(settings.database_url, connect_timeout=timeout, read_wait=10.0 * timeout)


def scratch_target() -> Target:
    """An empty in-memory target with the projection tables (verification, as-of replays)."""
    target = SQLiteTarget(":memory:")
    target.ensure_schema()
    return target
