"""The ledger, opened on first use, so the service starts while its database is down.

On PostgreSQL, constructing an eventsourcing application connects (it reads the composite
type it inserts with). The app factory therefore holds this stand-in: the first request that
needs the ledger opens it; while the database is unreachable that request fails with the
store's OperationalError (503 `unavailable`) and the next one tries again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from eventsourcing.persistence import OperationalError

from ledger.application import Ledger
from ledger.config import Settings


class LazyLedger:
    def __init__(self, settings: Settings, open_ledger: Callable[[], Ledger]) -> None:
        self.settings = settings
        # Shared with the ledger once it is open, so observers may register at any time.
        self.save_observers: list[Callable[[Sequence[Any]], None]] = []
        self._open_ledger = open_ledger
        self._ledger: Ledger | None = None
        self._lock = threading.Lock()

    def get(self) -> Ledger:
        ledger = self._ledger
        if ledger is not None:
            return ledger
        with self._lock:
            if self._ledger is None:
                check_reachable(self.settings)
                opened = self._open_ledger()
                opened.save_observers = self.save_observers
                self._ledger = opened
            return self._ledger

    def close(self) -> None:
        with self._lock:
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


def check_reachable(settings: Settings) -> None:
    """Fail fast, without starting a connection pool, when PostgreSQL does not answer."""
    if settings.backend != "postgres":
        return
    env = settings.persistence_env()
    try:
        psycopg.connect(
            dbname=env["POSTGRES_DBNAME"],
            host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"],
            connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"]),
        ).close()
    except psycopg.OperationalError as error:
        raise OperationalError("database unreachable") from error
