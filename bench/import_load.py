"""Bulk ingestion: POST /v1/batches through serve, and `loyalty-ledger import` of a file."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

from bench.common import Figure, fresh_database
from bench.cpu import measured, tree_cpu_seconds
from bench.http_load import CLI, running_server, seed


def accrual_operations(run: str, count: int, members: int) -> list[dict[str, str]]:
    now = datetime.now(UTC).isoformat()
    return [
        {
            "op": "accrue",
            "transaction_id": f"{run}{i}",
            "member_id": f"bm{i % members}",
            "amount": "12.34",
            "currency": "EUR",
            "occurred_at": now,
        }
        for i in range(count)
    ]


def wait_until_idle(server_pid: int, timeout: float = 300.0) -> None:
    """Until the server's processes (HTTP workers, projection worker) use under 5% of a core.

    Each figure is timed without the previous figure's projection backlog competing for the
    machine's two cores; its own projection work still runs while it is timed."""
    deadline = time.monotonic() + timeout
    before = tree_cpu_seconds(server_pid)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = tree_cpu_seconds(server_pid)
        if now - before < 0.05:
            return
        before = now


def measure(
    batches: int = 4, per_batch: int = 5000, members: int = 2000, file_lines: int = 20_000
) -> list[Figure]:
    figures = []
    with fresh_database() as url, running_server(url, workers=2) as (base, server):
        token = seed(base, members)
        headers = {"Authorization": f"Bearer {token}"}
        bodies = [accrual_operations(f"b{n}-", per_batch, members) for n in range(batches)]
        count = batches * per_batch
        wait_until_idle(server.pid)
        with measured(url, pid=server.pid) as cpu:
            for operations in bodies:
                response = requests.post(
                    base + "/v1/batches",
                    headers=headers,
                    timeout=600,
                    json={"operations": operations},
                )
                response.raise_for_status()
                assert all(r["status"] == 201 for r in response.json()["results"])
        figures.append(
            Figure(
                "POST /v1/batches accruals",
                count / cpu.wall,
                "accruals/s",
                f"{batches} batches of {per_batch}; server {cpu.per(count)}",
            )
        )

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "accruals.ndjson"
            with path.open("w") as handle:
                for operation in accrual_operations("f", file_lines, members):
                    handle.write(json.dumps(operation) + "\n")
            env = {**os.environ, "LEDGER_DATABASE_URL": url, "LEDGER_LOG_LEVEL": "WARNING"}
            wait_until_idle(server.pid)
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(
                [CLI, "import", "--partner", "bench-shop", "--chunk-size", "5000", str(path)],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            elapsed = time.perf_counter() - started
            used = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu_seconds = (used.ru_utime - children.ru_utime) + (used.ru_stime - children.ru_stime)
        figures.append(
            Figure(
                "loyalty-ledger import accruals",
                file_lines / elapsed,
                "accruals/s",
                f"{file_lines} lines, process start included; CPU per op of the import process "
                f"{cpu_seconds / file_lines * 1e6:,.0f} µs (postgres not counted)",
            )
        )
    return figures


if __name__ == "__main__":
    for figure in measure():
        print(json.dumps(figure.__dict__))
