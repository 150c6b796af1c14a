"""The references: what PostgreSQL itself commits here, measured with pgbench."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from bench.common import Figure, fresh_database


def _pgbench(url: str, script: str, clients: int, seconds: int) -> float:
    parts = urlsplit(url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    out = subprocess.run(
        [
            "pgbench",
            "-n",
            "-h",
            parts.hostname or "127.0.0.1",
            "-p",
            str(parts.port or 5432),
            "-U",
            parts.username or "root",
            "-c",
            str(clients),
            "-j",
            str(min(clients, 4)),
            "-T",
            str(seconds),
            "-f",
            handle.name,
            parts.path.lstrip("/"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    Path(handle.name).unlink()
    match = re.search(r"tps = ([0-9.]+)", out.stdout)
    assert match, out.stdout + out.stderr
    return float(match.group(1))


def measure(seconds: int = 10) -> list[Figure]:
    with fresh_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE raw_events (id bigserial PRIMARY KEY, originator_id uuid, "
                "version int, topic text, state bytea)"
            )
        single = _pgbench(
            url,
            "INSERT INTO raw_events (originator_id, version, topic, state) "
            "VALUES (gen_random_uuid(), 1, 'bench', repeat('x', 300)::bytea);\n",
            clients=16,
            seconds=seconds,
        )
        hundred = _pgbench(
            url,
            "BEGIN;\nINSERT INTO raw_events (originator_id, version, topic, state) "
            "SELECT gen_random_uuid(), 1, 'bench', repeat('x', 300)::bytea "
            "FROM generate_series(1, 100);\nCOMMIT;\n",
            clients=4,
            seconds=seconds,
        )
    return [
        Figure("raw PostgreSQL single-row insert commits (16 clients)", single, "commits/s"),
        Figure("raw PostgreSQL rows in 100-row transactions (4 clients)", hundred * 100, "rows/s"),
    ]


if __name__ == "__main__":
    for figure in measure():
        print(f"{figure.name}: {figure.value:,.0f} {figure.unit}")
