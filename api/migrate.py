"""`loyalty-ledger migrate`: apply the SQL in migrations/<backend>/ with yoyo-migrations.

yoyo records what it applied (`_yoyo_migration`) and holds its lock row (`yoyo_lock`) while it
applies, so two hosts migrating at once apply each file exactly once: the second waits, then
finds nothing left to do.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from eventsourcing.postgres import PostgresApplicationRecorder
from yoyo import get_backend, read_migrations
from yoyo.backends import DatabaseBackend
from yoyo.migrations import MigrationList

import migrations
from ledger.config import Settings, database_backend, sqlite_path

MIGRATIONS_ROOT = Path(migrations.__file__).resolve().parent
DIRECTORY_BY_BACKEND = {"postgres": "postgresql", "sqlite": "sqlite"}
LOCK_TIMEOUT_SECONDS = 120
CONNECT_TIMEOUT_SECONDS = 5

log = logging.getLogger("api.migrate")


def migrations_dir(database_url: str) -> Path:
    return MIGRATIONS_ROOT / DIRECTORY_BY_BACKEND[database_backend(database_url)]


def yoyo_url(database_url: str) -> str:
    """The same database as yoyo names it: psycopg 3 for PostgreSQL, the file for SQLite."""
    if database_backend(database_url) == "sqlite":
        path = sqlite_path(database_url)
        if path == ":memory:":
            raise ValueError("an in-memory SQLite database cannot be migrated")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    parts = urlsplit(database_url)
    query = parts.query or f"connect_timeout={CONNECT_TIMEOUT_SECONDS}"
    return urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, query, parts.fragment))


def known_migrations(database_url: str) -> MigrationList:
    return read_migrations(str(migrations_dir(database_url)))


def migration_ids(database_url: str) -> list[str]:
    """Every migration shipped for this backend, in the order they apply."""
    return [migration.id for migration in known_migrations(database_url)]


def migrate(settings: Settings) -> list[str]:
    """Apply every migration not yet applied; return their ids (empty when up to date)."""
    if not log.isEnabledFor(logging.DEBUG):
        # yoyo writes a line per step of each file at INFO (about 30 on a new database), which
        # buried the admin key `serve` prints next; the line below says what was applied.
        logging.getLogger("yoyo").setLevel(logging.WARNING)
    backend: DatabaseBackend = get_backend(yoyo_url(settings.database_url))
    try:
        migrations = known_migrations(settings.database_url)
        with backend.lock(timeout=LOCK_TIMEOUT_SECONDS):
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        applied = [migration.id for migration in pending]
    finally:
        backend.connection.close()
    log.info("migrations applied", extra={"fields": {"applied": applied}})
    return applied


def applied_migration_ids(recorder: Any) -> list[str]:
    """What yoyo recorded as applied, read through the ledger's own connections."""
    if isinstance(recorder, PostgresApplicationRecorder):
        with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute("SELECT to_regclass('_yoyo_migration') IS NOT NULL AS present")
            row = curs.fetchone()
            if not row or not row["present"]:
                return []
            curs.execute("SELECT migration_id FROM _yoyo_migration")
            return [r["migration_id"] for r in curs.fetchall()]
    with recorder.datastore.transaction(commit=False) as curs:
        curs.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_yoyo_migration'"
        )
        if curs.fetchone() is None:
            return []
        curs.execute("SELECT migration_id FROM _yoyo_migration")
        return [r[0] for r in curs.fetchall()]


def unapplied_migration_ids(settings: Settings, recorder: Any) -> list[str]:
    applied = set(applied_migration_ids(recorder))
    return [m for m in migration_ids(settings.database_url) if m not in applied]
