"""`migrate`: idempotent, safe from two processes at once, append-only, least privilege."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest

from api.migrate import migrate, migration_ids
from ledger.application import Ledger
from ledger.config import Settings
from ledger.partner import PartnerTerms

MIGRATE_IN_SUBPROCESS = (
    "import sys; from api.migrate import migrate; from ledger.config import Settings; "
    "print(','.join(migrate(Settings(database_url=sys.argv[1]))))"
)
TERMS = PartnerTerms("p1", "P", "EUR", Decimal("1"), Decimal("0.01"), Decimal("0.01"), 0)


def _insert_one_event(url: str) -> None:
    ledger = Ledger(settings=Settings(database_url=url, create_tables=False))
    try:
        ledger.register_partner(TERMS)
    finally:
        ledger.close()


def test_migrate_is_idempotent(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    assert migrate(settings) == migration_ids(database_url)
    assert migrate(settings) == []


def test_two_concurrent_migrate_processes_apply_each_migration_once(database_url: str) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE_IN_SUBPROCESS, database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [p.returncode for p in processes] == [0, 0], [err[-2000:] for _, err in outputs]
    applied = sorted(out.strip().splitlines()[-1] if out.strip() else "" for out, _ in outputs)
    assert applied == ["", ",".join(migration_ids(database_url))]
    assert migrate(Settings(database_url=database_url)) == []


def test_service_works_when_tables_pre_exist(database_url: str) -> None:
    migrate(Settings(database_url=database_url))
    ledger = Ledger(settings=Settings(database_url=database_url))  # library creates too
    try:
        assert ledger.register_partner(TERMS).position == 1
    finally:
        ledger.close()


def test_sqlite_events_reject_update_and_delete(sqlite_url: str) -> None:
    migrate(Settings(database_url=sqlite_url))
    _insert_one_event(sqlite_url)
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM stored_events").fetchone() == (1,)
        for statement in ("UPDATE stored_events SET topic = 'x'", "DELETE FROM stored_events"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)
        assert conn.execute("SELECT count(*) FROM stored_events").fetchone() == (1,)


@pytest.fixture
def migrated_pg(pg_url: str) -> str:
    migrate(Settings(database_url=pg_url))
    return pg_url


@pytest.fixture
def service_login_url(migrated_pg: str) -> Iterator[str]:
    """A login role that holds exactly what ledger_app holds, as the service would run."""
    role = f"ll_svc_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(migrated_pg, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN IN ROLE ledger_app')
    base, _, dbname = migrated_pg.rpartition("/")
    yield f"postgresql://{role}@{base.rpartition('@')[2]}/{dbname}"
    with psycopg.connect(migrated_pg, autocommit=True) as conn:
        conn.execute(f'DROP OWNED BY "{role}"')
        conn.execute(f'DROP ROLE "{role}"')


@pytest.mark.parametrize(
    "statement",
    ["UPDATE ledger_events SET topic = 'x'", "DELETE FROM ledger_events", "TRUNCATE ledger_events"],
)
def test_postgres_events_reject_changes_even_for_the_owner(
    migrated_pg: str, statement: str
) -> None:
    _insert_one_event(migrated_pg)
    with psycopg.connect(migrated_pg, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement)
        assert conn.execute("SELECT count(*) FROM ledger_events").fetchone() == (1,)


def test_postgres_ledger_app_holds_only_insert_and_select_on_events(migrated_pg: str) -> None:
    with psycopg.connect(migrated_pg) as conn:
        rows = conn.execute(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = 'ledger_app' AND table_name = 'ledger_events'"
        ).fetchall()
        assert sorted(r[0] for r in rows) == ["INSERT", "SELECT"]
        role = conn.execute(
            "SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = 'ledger_app'"
        ).fetchone()
        assert role == (False, False)


def test_postgres_service_role_appends_reads_and_nothing_else(service_login_url: str) -> None:
    _insert_one_event(service_login_url)
    ledger = Ledger(settings=Settings(database_url=service_login_url, create_tables=False))
    try:
        assert ledger.register_partner(TERMS).replayed
    finally:
        ledger.close()
    for statement in (
        "UPDATE ledger_events SET topic = 'x'",
        "DELETE FROM ledger_events",
        "TRUNCATE ledger_events",
        "LOCK TABLE ledger_events IN EXCLUSIVE MODE",
    ):
        with (
            psycopg.connect(service_login_url) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute(statement)
