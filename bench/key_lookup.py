"""What looking an API key up on every request costs, back to back in one thread.

Two figures per backend: microseconds per `KeyCache.authenticate` (a partner key, the same one
each time, as the API checks a request), and `GET /v1/members/{id}/balance` per second through
the Flask app in process (the whole request: authentication, argument parsing, the projection
read, JSON).

    .venv/bin/python -m bench.key_lookup [--seconds 5] [--cpu]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from api.app import create_app
from api.key_cache import KeyCache
from bench.common import fresh_database
from ledger.application import Ledger
from ledger.commands import Enroll
from ledger.config import Settings
from ledger.partner import PartnerTerms
from projections.runner import ProjectionRunner
from projections.store import open_target


def _rate(call: Callable[[], object], seconds: float, clock: Callable[[], float]) -> float:
    """Calls per second of `call`, back to back, over about `seconds` of `clock`."""
    for _ in range(50):
        call()
    calls, start = 0, clock()
    while (elapsed := clock() - start) < seconds:
        for _ in range(100):
            call()
        calls += 100
    return calls / elapsed


@contextmanager
def _database(backend: str) -> Iterator[str]:
    if backend == "postgres":
        with fresh_database("ll_bench_keys") as url:
            yield url
    else:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'ledger.sqlite'}"


def measure(
    backend: str, seconds: float, clock: Callable[[], float] = time.perf_counter
) -> tuple[float, float]:
    """(µs per authenticate, balance reads per second) on a fresh database, timed by `clock`."""
    with _database(backend) as url:
        settings = Settings(database_url=url, log_level="WARNING")
        ledger = Ledger(settings=settings)
        try:
            ledger.register_partner(
                PartnerTerms(
                    "shop", "Shop", "EUR", Decimal(1), Decimal("0.01"), Decimal("0.008"), 0
                )
            )
            token, _ = ledger.issue_key("partner", "shop", "till")
            ledger.execute(Enroll(member_id="m1", partner_id="shop"))
            target = open_target(settings)
            target.ensure_schema()
            ProjectionRunner(ledger, target).catch_up()
            target.close()
            keys = KeyCache(ledger)
            assert keys.authenticate(token) is not None
            per_call = 1e6 / _rate(lambda: keys.authenticate(token), seconds, clock)
            client = create_app(settings, ledger=ledger).test_client()
            headers = {"Authorization": f"Bearer {token}"}

            def read() -> None:
                response = client.get("/v1/members/m1/balance", headers=headers)
                assert response.status_code == 200, response.text

            reads = _rate(read, seconds, clock)
        finally:
            ledger.close()
    return per_call, reads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per figure")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="time by this process's CPU, which other load on a shared machine moves less",
    )
    args = parser.parse_args()
    clock = time.process_time if args.cpu else time.perf_counter
    unit = "of CPU " if args.cpu else ""
    for backend in ("sqlite", "postgres"):
        per_call, reads = measure(backend, args.seconds, clock)
        print(
            f"{backend}: authenticate {per_call:.1f} µs {unit}per call; "
            f"GET balance {1e6 / reads:.0f} µs {unit}per request ({reads:.0f}/s)"
        )


if __name__ == "__main__":
    main()
