"""Concurrent writers through `loyalty-ledger serve` on PostgreSQL: two `POST /v1/batches`
clients over the same members, with single-accrual connections beside them, all at once,
against one batch client alone in the same run.

    .venv/bin/python -m bench.contention [--per-batch 2000] [--members 500] [--connections 16]
                                         [--rounds 1] [--alone-rounds 3] [--deadline 30]
                                         [--delay-ms 0] [--workers 2]

Targets: the accruals/s of everyone together at least 0.9 x one batch client alone, and no
batch slower than 2 x a batch alone.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import psycopg
import requests
from eventsourcing.utils import get_topic

from bench.common import Figure, fresh_database
from bench.cpu import CpuUse, measured
from bench.http_load import parse_wrk, running_server, seed, wrk_command, wrk_env
from bench.import_load import accrual_operations, wait_until_idle
from ledger.application import Ledger
from ledger.member import PointsAccrued

# wrk runs until the batches are done and is then stopped; this only bounds a hung run.
WRK_LIMIT_SECONDS = 900


@dataclass
class BatchClient:
    """One partner posting its batches one after the other."""

    base: str
    token: str
    bodies: list[list[dict[str, str]]]
    seconds: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        for operations in self.bodies:
            started = time.perf_counter()
            response = requests.post(
                self.base + "/v1/batches",
                headers=headers,
                timeout=600,
                json={"operations": operations},
            )
            self.seconds.append(time.perf_counter() - started)
            response.raise_for_status()
            self.statuses.update(result["status"] for result in response.json()["results"])

    @property
    def accrued(self) -> int:
        return self.statuses[201]


def batch_clients(
    base: str, token: str, names: list[str], rounds: int, per_batch: int, members: int
) -> list[BatchClient]:
    """Clients whose bodies are built beforehand, so that building them is not timed."""
    return [
        BatchClient(
            base,
            token,
            [accrual_operations(f"{name}{n}-", per_batch, members) for n in range(rounds)],
        )
        for name in names
    ]


@dataclass
class Together:
    """What everyone together did from the batches' start until they were all done, or the
    deadline came first."""

    window: float
    accrued: int  # accruals recorded in the store, batches' and singles' alike
    singles: dict[str, float]  # wrk's figures
    done: bool  # every batch was answered within the window
    cpu: CpuUse


def accruals_recorded(url: str) -> int:
    # The library names the events table after the application.
    with psycopg.connect(url) as conn:
        row = conn.execute(
            f"SELECT count(*) FROM {Ledger.name.lower()}_events WHERE topic = %s",
            (get_topic(PointsAccrued),),
        ).fetchone()
    return int(row[0]) if row else 0


def together(
    url: str,
    server: int,
    base: str,
    token: str,
    members: int,
    connections: int,
    clients: list[BatchClient],
    deadline: float,
    delay_ms: int,
) -> Together:
    """All `clients` at once beside wrk posting single accruals on `connections` connections.

    The singles stop when the batches are done or at the deadline, whichever comes first;
    batches still running then finish without them (wrk prints its figures when interrupted)."""
    singles = None
    if connections:
        singles = subprocess.Popen(
            wrk_command(base, "accruals.lua", WRK_LIMIT_SECONDS, connections),
            env=wrk_env(token, members, "single", delay_ms),
            stdout=subprocess.PIPE,
            text=True,
        )
    with ThreadPoolExecutor(len(clients)) as pool:
        try:
            time.sleep(0.5)  # wrk's connections are open and posting when the batches start
            before = accruals_recorded(url)
            with measured(url, pid=server) as cpu:
                started = time.perf_counter()
                runs = [pool.submit(client.run) for client in clients]
                _, running = wait(runs, timeout=deadline)
                window = time.perf_counter() - started
            accrued = accruals_recorded(url) - before
        finally:
            figures = _stopped(singles)
        for run in runs:
            run.result()
    return Together(window, accrued, figures, not running, cpu)


def _stopped(singles: subprocess.Popen[str] | None) -> dict[str, float]:
    """wrk's figures once interrupted (it prints them then); zeros when there was none."""
    if singles is None:
        return dict.fromkeys(("rps", "requests", "p50", "p99", "non2xx", "socket_errors"), 0.0)
    singles.send_signal(signal.SIGINT)
    out, _ = singles.communicate(timeout=60)
    return parse_wrk(out)


def _successful_rate(figures: dict[str, float]) -> float:
    """wrk's requests/s less its non-2xx answers."""
    if not figures["requests"]:
        return 0.0
    return figures["rps"] * (1 - figures["non2xx"] / figures["requests"])


def _statuses(clients: list[BatchClient]) -> str:
    counted: Counter[int] = Counter()
    for client in clients:
        counted.update(client.statuses)
    return ", ".join(f"{status}: {n}" for status, n in sorted(counted.items()))


def measure(
    per_batch: int = 2000,
    members: int = 500,
    connections: int = 16,
    rounds: int = 1,
    alone_rounds: int = 3,
    workers: int = 2,
    deadline: float = 30.0,
    delay_ms: int = 0,
) -> list[tuple[Figure, str]]:
    """The figures, each beside the batch client alone of the same run."""
    with fresh_database() as url, running_server(url, workers) as (base, server):
        token = seed(base, members)
        [alone] = batch_clients(base, token, ["alone"], alone_rounds, per_batch, members)
        clients = batch_clients(base, token, ["first", "second"], rounds, per_batch, members)
        wait_until_idle(server.pid)
        with measured(url, pid=server.pid) as alone_cpu:
            alone.run()
        wait_until_idle(server.pid)
        run = together(
            url, server.pid, base, token, members, connections, clients, deadline, delay_ms
        )
    alone_batch = statistics.median(alone.seconds)
    alone_rate = per_batch / alone_batch
    total = run.accrued / run.window
    times = [seconds for client in clients for seconds in client.seconds]
    slowest = max(times)
    if run.done:
        against = f"{slowest / alone_batch:.2f} x a batch alone (target <= 2)"
        cut = ""
    else:
        against = f">= {run.window / alone_batch:.2f} x a batch alone (target <= 2)"
        cut = f"; still running when the singles stopped at {run.window:.0f} s"
    return [
        (
            Figure(
                "one POST /v1/batches client alone",
                alone_rate,
                "accruals/s",
                f"{alone_rounds} batches of {per_batch} over {members} members, median "
                f"{alone_batch:.2f} s a batch ({_listed(alone.seconds)} s); "
                f"server {alone_cpu.per(alone.accrued)}",
            ),
            "reference",
        ),
        (
            Figure(
                f"2 batch clients + {connections} single-accrual connections, total",
                total,
                "accruals/s",
                f"{run.accrued} accruals recorded in {run.window:.1f} s; singles "
                f"{_successful_rate(run.singles):,.0f}/s (p50 {run.singles['p50']:.0f} ms, "
                f"p99 {run.singles['p99']:.0f} ms, non-2xx {run.singles['non2xx']:.0f}); "
                f"server {run.cpu.per(max(run.accrued, 1))}",
            ),
            f"{total / alone_rate:.2f} x one batch client alone (target >= 0.9)",
        ),
        (
            Figure(
                "slowest of those batches",
                slowest,
                "s",
                f"batches took {_listed(times)} s ({_statuses(clients)}){cut}; "
                f"alone {alone_batch:.2f} s",
            ),
            against,
        ),
    ]


def _listed(seconds: list[float]) -> str:
    return ", ".join(f"{s:.2f}" for s in seconds)


def _arguments() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-batch", type=int, default=2000)
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument(
        "--connections", type=int, default=16, help="single-accrual connections (0: none)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="batches per concurrent client")
    parser.add_argument("--alone-rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--deadline",
        type=float,
        default=30.0,
        help="seconds after which the singles stop if the batches are still running",
    )
    parser.add_argument(
        "--delay-ms", type=int, default=0, help="pause of each single connection between requests"
    )
    return vars(parser.parse_args())


if __name__ == "__main__":
    for figure, comparison in measure(**_arguments()):
        print(json.dumps({**figure.__dict__, "against": comparison}))
