"""Catch-up speed of every projection from N events on PostgreSQL (targets: >= 20,000 events/s,
peak RSS < 300 MB).

    .venv/bin/python bench/projections_catchup.py --events 1000000 [--url postgresql://...]

Without --url it creates (and afterwards drops) a database on the local server. The events are
real domain events (members enroll, earn at three partners with tier upgrades, redeem, return,
cancel), made by the aggregates in memory and stored in chunks through the ledger's recorder,
so writing them does not dominate. The catch-up then runs in a fresh process exactly as
`loyalty-ledger project --once` does (one process per projection group on PostgreSQL), which
reports the peak RSS of its processes and the CPU time per event they (user + system) and
the database's PostgreSQL backends spent.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.migrate import migrate  # noqa: E402
from bench.common import Figure, peak_rss_mb  # noqa: E402
from bench.cpu import backend_cpu_seconds, process_cpu_seconds  # noqa: E402
from ledger.application import Ledger  # noqa: E402
from ledger.config import Settings  # noqa: E402
from ledger.member import Member  # noqa: E402
from ledger.partner import PartnerTerms  # noqa: E402
from ledger.program import ProgramRules  # noqa: E402
from projections.worker import ProjectionWorker  # noqa: E402

ADMIN_URL = "postgresql://root@127.0.0.1:5432/postgres"
PARTNERS = (
    PartnerTerms("air", "Air", "EUR", Decimal("2"), Decimal("0.010"), Decimal("0.008"), 0),
    PartnerTerms("shop", "Shop", "EUR", Decimal("1"), Decimal("0.012"), Decimal("0.009"), 14),
    PartnerTerms("cafe", "Cafe", "EUR", Decimal("3"), Decimal("0.005"), Decimal("0.007"), 0),
)
CHUNK = 5000


def generate(
    ledger: Ledger, events: int, seed: int = 7, spacing: timedelta = timedelta(seconds=1)
) -> int:
    """Append about `events` member events, `spacing` apart; returns how many were stored."""
    rng = random.Random(seed)
    rules = ProgramRules(enrollment_bonus_points=50)
    ledger.configure_program(rules)
    for terms in PARTNERS:
        ledger.register_partner(terms)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    pending: list[object] = []
    stored = 0

    def flush() -> None:
        nonlocal stored
        if pending:
            ledger.recorder.insert_events(
                [
                    ledger.mapper.to_stored_event(e)  # type: ignore[arg-type]
                    for e in pending
                ]
            )
            stored += len(pending)
            pending.clear()

    number = 0
    while stored + len(pending) < events:
        number += 1
        member = Member(
            timestamp=now,
            member_id=f"bm{number}",
            enrolled_at=now,
            birth_date=None,
            enrolled_by="air",
            tier="basic",
        )
        member.grant_enrollment_bonus(now, rules)
        accruals: list[tuple[PartnerTerms, str]] = []
        for step in range(rng.randint(4, 12)):
            now += spacing
            partner = rng.choice(PARTNERS)
            roll = rng.random()
            if roll < 0.7 or not accruals:
                tx = f"{number}-{step}"
                member.accrue(
                    now,
                    rules,
                    partner,
                    str(uuid.uuid4()),
                    tx,
                    Decimal(rng.randint(100, 90000)) / 100,
                    "EUR",
                    now,
                    None,
                    rng.choice((0, 0, 0, 25)),
                )
                accruals.append((partner, tx))
            elif roll < 0.85 and member.available > 10:
                member.redeem(
                    now,
                    rules,
                    partner,
                    str(uuid.uuid4()),
                    f"{number}-{step}",
                    rng.randint(1, member.available),
                    now,
                    None,
                )
            else:
                partner, tx = accruals.pop(rng.randrange(len(accruals)))
                member.reverse_accrual(
                    now,
                    rules,
                    partner.partner_id,
                    str(uuid.uuid4()),
                    f"{number}-{step}r",
                    tx,
                    None,
                    now,
                    None,
                )
        pending.extend(member.collect_events())
        if len(pending) >= CHUNK:
            flush()
    flush()
    return stored


def catch_up(url: str) -> dict[str, float]:
    settings = Settings(database_url=url)
    ledger = Ledger(settings=settings)
    worker = ProjectionWorker(settings, ledger)
    head = int(worker.status()[0]["head"])
    backends = _BackendWatch(url.rsplit("/", 1)[1])
    own_before, helpers_before = _cpu_seconds()
    started = time.perf_counter()
    with backends:
        reached = worker.catch_up()
    seconds = time.perf_counter() - started
    own_after, helpers_after = _cpu_seconds()
    own_cpu, helpers_cpu = own_after - own_before, helpers_after - helpers_before
    assert reached == head, (reached, head)
    own, helpers = peak_rss_mb(), peak_rss_mb(resource.RUSAGE_CHILDREN)
    worker.stop()
    ledger.close()
    return {
        "events": head,
        "seconds": round(seconds, 2),
        "events_per_second": round(head / seconds),
        "cpu_us_per_event": round((own_cpu + helpers_cpu) / head * 1e6, 1),
        # The worker applies the first group, the helpers the others (GROUPS).
        "worker_cpu_us_per_event": round(own_cpu / head * 1e6, 1),
        "helpers_cpu_us_per_event": round(helpers_cpu / head * 1e6, 1),
        "postgres_cpu_us_per_event": round(backends.seconds() / head * 1e6, 1),
        "processes": 1 + len(worker.helper_groups),
        "peak_rss_mb": round(max(own, helpers), 1),
    }


class _BackendWatch(threading.Thread):
    """CPU of the database's PostgreSQL backends while the catch-up runs. They exit with the
    helper processes, before the catch-up returns, so they are read every half second (the
    last half second of each is missed; the server runs on this machine)."""

    def __init__(self, database: str) -> None:
        super().__init__(daemon=True)
        self._database = database
        self._done = threading.Event()
        self._before: dict[int, float] = {}
        self._last: dict[int, float] = {}

    def __enter__(self) -> _BackendWatch:
        self._before = backend_cpu_seconds(self._database)
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self.join()

    def run(self) -> None:
        while True:
            self._last.update(backend_cpu_seconds(self._database))
            for pid in list(self._last):
                self._last[pid] = max(self._last[pid], process_cpu_seconds(pid))
            if self._done.wait(0.5):
                return

    def seconds(self) -> float:
        return sum(cpu - self._before.get(pid, 0.0) for pid, cpu in self._last.items())


def _cpu_seconds() -> tuple[float, float]:
    """User + system time of this process, and of its finished children (the helpers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def run(events: int, url: str | None = None) -> dict[str, float]:
    """Generate `events` into `url` (default: a new database, dropped after) and catch up."""
    name = None
    if url is None:
        name = f"ll_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = ADMIN_URL.rpartition("/")[0] + "/" + name
    try:
        settings = Settings(database_url=url)
        migrate(settings)
        ledger = Ledger(settings=settings)
        started = time.perf_counter()
        stored = generate(ledger, events)
        print(
            f"generated {stored} events in {time.perf_counter() - started:.1f} s", file=sys.stderr
        )
        ledger.close()
        result = subprocess.run(
            [sys.executable, __file__, "--catch-up-only", "--url", url],
            check=True,
            capture_output=True,
            text=True,
        )
        figures: dict[str, float] = json.loads(result.stdout)
        return figures
    finally:
        if name is not None:
            with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure(events: int = 1_000_000) -> list[Figure]:
    result = run(events)
    return [
        Figure(
            f"projection catch-up from {int(result['events']):,} events",
            result["events_per_second"],
            "events/s",
            f"{result['seconds']} s; CPU per event {result['cpu_us_per_event']} µs in "
            f"{int(result['processes'])} processes (worker "
            f"{result['worker_cpu_us_per_event']}, helpers "
            f"{result['helpers_cpu_us_per_event']}) + "
            f"{result['postgres_cpu_us_per_event']} µs PostgreSQL",
        ),
        Figure("peak RSS of a catch-up process", result["peak_rss_mb"], "MB"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--url", help="an empty PostgreSQL database (default: a new one)")
    parser.add_argument("--catch-up-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.catch_up_only:
        print(json.dumps(catch_up(args.url)))
        return
    print(json.dumps(run(args.events, args.url)))


if __name__ == "__main__":
    main()
