"""CPU time spent on a piece of work, by this process, a process tree and PostgreSQL backends.

The benchmark machine is shared and its wall clock is noisy; CPU seconds per operation are
the figure that compares runs. PostgreSQL backends are found by database name and read from
/proc (the server runs on the same machine).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from bench.common import ADMIN_URL

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU of one process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def tree_cpu_seconds(root: int) -> float:
    """user + system CPU of a process and its live descendants."""
    total = 0.0
    pending = [root]
    while pending:
        pid = pending.pop()
        total += process_cpu_seconds(pid)
        pending.extend(_children(pid))
    return total


def _children(pid: int) -> list[int]:
    # Each thread lists the children it started; a server may start them from any thread.
    children: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return children
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/children", encoding="ascii") as handle:
                children.extend(int(child) for child in handle.read().split())
        except OSError:
            continue
    return children


def backend_cpu_seconds(database: str) -> dict[int, float]:
    """CPU of each PostgreSQL backend connected to `database`, by pid."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return {pid: process_cpu_seconds(pid) for (pid,) in rows}


@dataclass
class CpuUse:
    wall: float = 0.0
    client: float = 0.0  # this process, or the watched process tree
    postgres: float = 0.0  # backends of the database (those alive at the end)

    def per(self, count: int) -> str:
        return (
            f"CPU per op: {self.client / count * 1e6:,.0f} µs client + "
            f"{self.postgres / count * 1e6:,.0f} µs postgres; wall {self.wall:.2f} s"
        )


@contextmanager
def measured(database_url: str, pid: int | None = None) -> Iterator[CpuUse]:
    """CPU used while the block runs: by this process (or process tree `pid`) and PostgreSQL."""
    database = database_url.rsplit("/", 1)[1]
    use = CpuUse()
    backends = backend_cpu_seconds(database)
    client = tree_cpu_seconds(pid) if pid is not None else time.process_time()
    started = time.perf_counter()
    yield use
    use.wall = time.perf_counter() - started
    use.client = (tree_cpu_seconds(pid) if pid is not None else time.process_time()) - client
    after = backend_cpu_seconds(database)
    use.postgres = sum(cpu - backends.get(backend, 0.0) for backend, cpu in after.items())
