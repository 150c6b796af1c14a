"""The reference write path: the stock eventsourcing library, one event per save."""

from __future__ import annotations

import threading
import time
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.common import Figure, fresh_database
from ledger.config import persistence_env


class Counter(Aggregate):
    @event("Started")
    def __init__(self) -> None:
        self.count = 0


class Counters(Application[UUID]):
    name = "BenchStock"


def measure(seconds: float = 10.0, threads: int = 8) -> list[Figure]:
    with fresh_database() as url:
        app = Counters(env={**persistence_env(url), "POSTGRES_POOL_SIZE": str(threads)})
        stop = time.perf_counter() + seconds
        saved = [0] * threads

        def work(slot: int) -> None:
            while time.perf_counter() < stop:
                app.save(Counter())
                saved[slot] += 1

        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - started
        app.close()
    return [
        Figure(
            f"stock eventsourcing single-event saves ({threads} threads)",
            sum(saved) / elapsed,
            "saves/s",
        )
    ]


if __name__ == "__main__":
    for figure in measure():
        print(f"{figure.name}: {figure.value:,.0f} {figure.unit}")
