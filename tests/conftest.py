"""Shared fixtures: a real SQLite file and a fresh real PostgreSQL database per test.

PostgreSQL is found through LEDGER_TEST_PG_ADMIN_URL (default: the local server with trust
auth). Without it the PostgreSQL variants skip with a visible reason, unless
LEDGER_REQUIRE_POSTGRES=1 (CI), where they fail instead.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from ledger.application import Ledger
from ledger.clock import ManualClock
from ledger.config import Settings

PG_ADMIN_URL = os.environ.get(
    "LEDGER_TEST_PG_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("LEDGER_REQUIRE_POSTGRES") == "1"
START = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

_run_id = uuid.uuid4().hex[:8]
_counter = itertools.count()
_pg_error: str | None = None


def _admin_connection() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)


def postgres_available() -> bool:
    global _pg_error
    try:
        with _admin_connection():
            return True
    except psycopg.Error as error:
        _pg_error = str(error).strip()
        return False


def _pg_url_for(dbname: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{dbname}"


def create_pg_database() -> tuple[str, str]:
    """A new, empty database; returns (url, name)."""
    if not postgres_available():
        reason = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {_pg_error}"
        if REQUIRE_POSTGRES:
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"ll_test_{_run_id}_{next(_counter)}"
    with _admin_connection() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return _pg_url_for(name), name


def drop_pg_database(name: str) -> None:
    with _admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    url, name = create_pg_database()
    yield url
    drop_pg_database(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        return
    url, name = create_pg_database()
    yield url
    drop_pg_database(name)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def ledger(database_url: str, clock: ManualClock) -> Iterator[Ledger]:
    app = Ledger(settings=Settings(database_url=database_url), clock=clock)
    yield app
    app.close()
