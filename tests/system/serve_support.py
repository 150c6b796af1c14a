"""A real `loyalty-ledger serve` on a private PostgreSQL cluster, driven over HTTP, every
response counted: for the tests that restart or break the database under it."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import requests

from tests.system.pg_cluster import PrivateCluster, free_port
from tests.system.test_serve_http import cli, service_env

ADMIN_KEY = "restart-admin-key-0123456789"
POINTS_PER_ACCRUAL = 10


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    base: str
    url: str
    stderr: Path
    statuses: Counter[int] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def request(self, method: str, path: str, body: Any = None) -> requests.Response:
        """One HTTP call, its status counted (a connection error counts as status 0)."""
        try:
            response = requests.request(
                method,
                self.base + path,
                json=body,
                timeout=60,
                headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            )
        except requests.ConnectionError:
            with self._lock:
                self.statuses[0] += 1
            raise
        with self._lock:
            self.statuses[response.status_code] += 1
        return response

    def until_accepted(self, method: str, path: str, body: Any) -> requests.Response:
        """Retry a write (idempotent by its id) through 503s until it is accepted."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            response = self.request(method, path, body)
            if response.status_code in (200, 201):
                return response
            assert response.status_code == 503, (path, response.status_code, response.text)
            assert response.headers["Content-Type"] == "application/problem+json"
            assert response.json()["type"].endswith("/unavailable"), response.text
            assert int(response.headers["Retry-After"]) > 0
            time.sleep(0.1)
        raise AssertionError(f"{path} never accepted")

    def metrics(self) -> dict[str, float]:
        """`/metrics` samples by their exposition name with labels (`name{a="b"}`)."""
        text = self.request("GET", "/metrics").text
        found = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                found[name] = float(value)
        return found

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        """Run a statement on the service's database, from outside (committed at once)."""
        if self.url.startswith("sqlite"):
            conn = sqlite3.connect(self.url.split("sqlite:///", 1)[1], timeout=30)
            try:
                with conn:
                    return conn.execute(statement).fetchall()
            finally:
                conn.close()
        with psycopg.connect(self.url, autocommit=True) as pg:
            cursor = pg.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def close(self) -> None:
        """After a failed test: stop the service and every process it started (the
        background process outlives a master killed with SIGKILL)."""
        if self.process.poll() is not None:
            return
        family = _descendants(self.process.pid)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def serve_on(cluster: PrivateCluster, cwd: Path, workers: int = 2, **env: str) -> Served:
    """`serve` on a fresh database `ledger` of `cluster`, with partner p1 (1 point per EUR)."""
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE ledger")
    return serve(cluster.url.rsplit("/", 1)[0] + "/ledger", cwd, workers, **env)


def serve(url: str, cwd: Path, workers: int = 2, **env: str) -> Served:
    """`serve` on the database at `url`, with partner p1 (1 point per EUR)."""
    port = free_port()
    stderr = cwd / "serve.err"
    with (cwd / "serve.out").open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [*cli(), "serve", "--port", str(port), "--workers", str(workers)],
            cwd=cwd,
            env=service_env(
                url,
                LEDGER_ADMIN_KEY=ADMIN_KEY,
                LEDGER_PROJECTION_POLL_SECONDS="0.1",
                **env,
            ),
            stdout=out,
            stderr=err,
        )
    served = Served(process, f"http://127.0.0.1:{port}", url, stderr)
    try:
        wait_until(lambda: served.request("GET", "/readyz").ok, 60, "serve to be ready")
        served.until_accepted("POST", "/v1/partners", partner("p1"))
    except BaseException:
        served.close()
        raise
    return served


def partner(partner_id: str) -> dict[str, Any]:
    return {
        "partner_id": partner_id,
        "name": f"Partner {partner_id}",
        "currency": "EUR",
        "earn_rate": "1",
        "funding_rate": "0.01",
        "reimbursement_rate": "0.01",
        "pending_days": 0,
    }


def accrual(member_id: str, transaction_id: str, partner_id: str = "p1") -> dict[str, str]:
    return {
        "transaction_id": transaction_id,
        "member_id": member_id,
        "partner_id": partner_id,
        "amount": f"{POINTS_PER_ACCRUAL}.00",
        "currency": "EUR",
        "occurred_at": datetime.now(UTC).isoformat(),
    }


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> float:
    """Poll until `condition()`; the seconds it took. Connection errors count as not yet."""
    started = time.monotonic()
    while True:
        try:
            if condition():
                return time.monotonic() - started
        except requests.ConnectionError:
            pass
        if time.monotonic() - started > seconds:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.1)
