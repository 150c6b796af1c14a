"""Many `min_position` reads at once in one HTTP worker of a real `serve`, while its background
process is down (killed, waiting to be restarted): the worker's threads catch the projections
up themselves, on the one target they share, and every read answers 200 with the balance the
write left; no 500s. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.system.serve_support import POINTS_PER_ACCRUAL, Served, accrual, serve, wait_until
from tests.system.test_serve_http import backend_url
from tests.system.test_serve_supervision import alive, backgrounds

pytestmark = pytest.mark.slow
READERS = 32
ROUNDS = 4


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    running = serve(backend_url(request, tmp_path), tmp_path, workers=1)
    yield running
    running.close()


def test_concurrent_min_position_reads_with_no_background_process_all_answer(
    served: Served,
) -> None:
    s = served
    s.until_accepted("POST", "/v1/members", {"member_id": "m1", "partner_id": "p1"})
    answers = []
    with ThreadPoolExecutor(READERS) as pool:
        for round_ in range(1, ROUNDS + 1):
            # Each kill doubles the arbiter's pause before the next background process.
            (background,) = wait_until_one_background(s)
            os.kill(background, signal.SIGKILL)
            wait_until(lambda b=background: not alive(b), 30, "the background process to die")
            written = s.until_accepted("POST", "/v1/accruals", accrual("m1", f"t{round_}"))
            path = f"/v1/members/m1/balance?min_position={written.json()['position']}"
            responses = list(pool.map(lambda _, path=path: s.request("GET", path), range(READERS)))
            answers += [(r.status_code, r.json().get("available")) for r in responses]
            expected = [(200, POINTS_PER_ACCRUAL * round_)] * READERS
            assert answers[-READERS:] == expected, [r.text for r in responses if not r.ok][:3]
    assert s.statuses[500] == 0
    assert "cannot start a transaction" not in s.stderr.read_text()


def wait_until_one_background(s: Served) -> list[int]:
    found: list[int] = []

    def one() -> bool:
        found[:] = backgrounds(s.process.pid)
        return len(found) == 1

    wait_until(one, 60, "a background process")
    return found
