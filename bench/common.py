"""Shared bench plumbing: a fresh PostgreSQL database per figure, timing, peak RSS."""

from __future__ import annotations

import os
import resource
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

ADMIN_URL = os.environ.get("LEDGER_BENCH_PG_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres")


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    note: str = ""


@contextmanager
def fresh_database(prefix: str = "ll_bench") -> Iterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory of this process (or, with RUSAGE_CHILDREN, of its largest
    finished child)."""
    return resource.getrusage(who).ru_maxrss / 1024


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.start
