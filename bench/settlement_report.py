"""How long settlement and breakage take for a year, a day and an hour cut at any instant,
on a database of N events spread evenly over a year (PostgreSQL, or SQLite with --sqlite).

    .venv/bin/python bench/settlement_report.py --events 200000 [--sqlite]

The events are those of bench/projections_catchup.py (members enroll, earn at three
partners, redeem, return), recorded from 2026-01-01 on, so that a year from
2026-01-01T16:00Z to 2027-01-01T16:00Z (a Shanghai business year) covers them all: its
whole UTC days come from the day buckets, its two partial days event by event. Each report
is timed over several runs after the projections caught up; the best and the median are
printed (milliseconds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.migrate import migrate  # noqa: E402
from bench.common import fresh_database  # noqa: E402
from bench.projections_catchup import generate  # noqa: E402
from ledger.application import Ledger  # noqa: E402
from ledger.config import Settings  # noqa: E402
from projections import reads  # noqa: E402
from projections.runner import ProjectionRunner  # noqa: E402
from projections.store import Target, open_target  # noqa: E402

YEAR = timedelta(days=365)
START = datetime(2026, 1, 1, 16, tzinfo=UTC)


@contextmanager
def database(sqlite: bool) -> Iterator[str]:
    if sqlite:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.sqlite"
    else:
        with fresh_database("ll_bench_settle") as url:
            yield url


def timed(call: Callable[[], Any], runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return {"best_ms": round(min(samples), 2), "median_ms": round(statistics.median(samples), 2)}


def measure(target: Target, runs: int) -> dict[str, Any]:
    periods = {
        "year": (START, START + YEAR),
        "day": (START + timedelta(days=100), START + timedelta(days=101)),
        "hour": (START + timedelta(days=200), START + timedelta(days=200, hours=1)),
    }
    figures: dict[str, Any] = {}
    for name, (start, end) in periods.items():
        figures[f"settlement_{name}"] = timed(
            partial(reads.settlement, target, start, end, "EUR"), runs
        )
        figures[f"breakage_{name}"] = timed(partial(reads.breakage, target, start, end), runs)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with database(args.sqlite) as url:
        settings = Settings(database_url=url)
        migrate(settings)
        ledger = Ledger(settings=settings)
        target = open_target(settings)
        try:
            # About 8 steps per member: spread the events' steps over the year.
            stored = generate(ledger, args.events, spacing=YEAR / args.events * 0.999)
            ProjectionRunner(ledger, target).catch_up()
            movements = target.query("SELECT COUNT(*) AS n FROM partner_movements")[0]["n"]
            report = {
                "backend": settings.backend,
                "events": stored,
                "partner_movements": int(movements),
                **measure(target, args.runs),
            }
        finally:
            target.close()
            ledger.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
