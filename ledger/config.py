"""Settings from LEDGER_* environment variables, and the eventsourcing env they imply."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

DEFAULT_DATABASE_URL = "sqlite:///./var/ledger.sqlite"
RECORDER_TOPIC = "ledger.infrastructure.recorder:LedgerRecorder"
RESTRICTED_RECORDER_TOPIC = "ledger.infrastructure.restricted_recorder:RestrictedRoleRecorder"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    currency: str = "EUR"
    admin_key: str | None = None
    sweep_interval_seconds: float = 300.0
    projection_poll_seconds: float = 0.2
    # Under steady writes a projection round that found only a few events waits this long
    # before the next, so rounds share their fixed cost (projections/worker.py).
    projection_gather_seconds: float = 0.15
    read_wait_seconds: float = 5.0
    # `/readyz` answers 503 once a projection trails the log by more than this (0: never).
    ready_max_lag_seconds: float = 60.0
    pool_size: int = 5
    max_overflow: int = 10
    # Longest wait for a database connection; eventsourcing retries a call 10 times, so a
    # request during an outage answers 503 after about ten times this.
    db_connect_timeout: int = 2
    log_level: str = "INFO"
    aggregate_cache_size: int = 10_000
    http_threads: int = 16
    # False when `loyalty-ledger migrate` owns the schema and the service runs as ledger_app.
    create_tables: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            database_url=env.get("LEDGER_DATABASE_URL", DEFAULT_DATABASE_URL),
            currency=env.get("LEDGER_CURRENCY", "EUR"),
            admin_key=env.get("LEDGER_ADMIN_KEY") or None,
            sweep_interval_seconds=float(env.get("LEDGER_SWEEP_INTERVAL_SECONDS", "300")),
            projection_poll_seconds=float(env.get("LEDGER_PROJECTION_POLL_SECONDS", "0.2")),
            projection_gather_seconds=float(env.get("LEDGER_PROJECTION_GATHER_SECONDS", "0.15")),
            read_wait_seconds=float(env.get("LEDGER_READ_WAIT_SECONDS", "5")),
            ready_max_lag_seconds=float(env.get("LEDGER_READY_MAX_LAG_SECONDS", "60")),
            pool_size=int(env.get("LEDGER_DB_POOL_SIZE", "5")),
            max_overflow=int(env.get("LEDGER_DB_MAX_OVERFLOW", "10")),
            db_connect_timeout=int(env.get("LEDGER_DB_CONNECT_TIMEOUT", "2")),
            log_level=env.get("LEDGER_LOG_LEVEL", "INFO"),
            aggregate_cache_size=int(env.get("LEDGER_AGGREGATE_CACHE_SIZE", "10000")),
            http_threads=int(env.get("LEDGER_HTTP_THREADS", "16")),
            create_tables=_flag(env.get("LEDGER_CREATE_TABLES", "true")),
        )

    @property
    def backend(self) -> str:
        return database_backend(self.database_url)

    def persistence_env(self) -> dict[str, str]:
        env = persistence_env(self.database_url)
        if self.backend == "postgres":
            env["APPLICATION_RECORDER_TOPIC"] = RECORDER_TOPIC
            env["POSTGRES_POOL_SIZE"] = str(self.pool_size)
            env["POSTGRES_MAX_OVERFLOW"] = str(self.max_overflow)
            env["POSTGRES_CONNECT_TIMEOUT"] = str(self.db_connect_timeout)
        if not self.create_tables:
            env["CREATE_TABLE"] = "n"
            if self.backend == "postgres":
                env["APPLICATION_RECORDER_TOPIC"] = RESTRICTED_RECORDER_TOPIC
        env.update(self.extra_env)
        return env


def _flag(value: str) -> bool:
    return value.strip().lower() not in ("0", "false", "no", "n", "off")


def database_backend(url: str) -> str:
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgres", "postgresql"):
        return "postgres"
    raise ValueError(f"LEDGER_DATABASE_URL must be sqlite:/// or postgresql://, not {scheme!r}")


def sqlite_path(url: str) -> str:
    """sqlite:///relative/path, sqlite:////absolute/path, sqlite:///:memory:."""
    path = url.split("sqlite://", 1)[1]
    path = path[1:] if path.startswith("/") else path
    return path or ":memory:"


def persistence_env(url: str) -> dict[str, str]:
    """Map a database URL onto the settings eventsourcing's infrastructure factories read."""
    if database_backend(url) == "sqlite":
        path = sqlite_path(url)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path if path != ":memory:" else "file::memory:?cache=shared",
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    parts = urlsplit(url)
    # Left off on purpose: in 9.5.6 it skips the table lock and followers can miss events.
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_CONNECT_TIMEOUT": "5",
        # Off: a broken pooled connection fails its query, which the library retries anyway.
        "POSTGRES_PRE_PING": "n",
        "POSTGRES_LOCK_TIMEOUT": "10",
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
    }
