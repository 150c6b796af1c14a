"""A revoked key is refused at once by every worker of a real `serve --workers 4`.

Every worker first serves the partner's key (many requests, each on its own connection, so
the kernel spreads them over the workers); the key is revoked through the API; the requests
sent right after the 204, again each on its own connection, must all answer 401.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.system.test_serve_http import (
    Service,
    backend_url,
    now,
    open_shop,
    start_service,
)

pytestmark = pytest.mark.slow
WORKERS = 4
WARM_REQUESTS = 200
AFTER_REVOCATION = 40
CONNECTIONS = 8


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def four_workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    service = start_service(backend_url(request, tmp_path), tmp_path, workers=WORKERS)
    try:
        yield service
    finally:
        service.process.kill()
        service.process.wait()


def _status(method: str, url: str, token: str, body: object = None) -> int:
    # No session: each request opens its own connection, which any worker may accept.
    headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
    return requests.request(method, url, json=body, headers=headers, timeout=30).status_code


def test_a_revoked_key_is_refused_by_every_worker_at_once(four_workers: Service) -> None:
    s = four_workers
    open_shop(s)
    issued = s.call("POST", "/v1/keys", {"role": "partner", "partner_id": "shop", "name": "till 2"})
    shop, key_id = issued["key"], issued["key_id"]
    enrolled = s.call("POST", "/v1/members", {"member_id": "m1"}, shop)
    s.call("GET", f"/v1/members/m1/balance?min_position={enrolled['position']}", expect=200)
    balance = f"{s.base}/v1/members/m1/balance"
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        warm = list(pool.map(lambda _: _status("GET", balance, shop), range(WARM_REQUESTS)))
    assert warm == [200] * WARM_REQUESTS

    revoked = requests.delete(
        f"{s.base}/v1/keys/{key_id}",
        headers={"Authorization": f"Bearer {s.admin_key}"},
        timeout=30,
    )
    assert revoked.status_code == 204

    def accrue(n: int) -> int:
        body = {
            "transaction_id": f"after-{n}",
            "member_id": "m1",
            "amount": "10.00",
            "currency": "EUR",
            "occurred_at": now(),
        }
        return _status("POST", f"{s.base}/v1/accruals", shop, body)

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        after = list(pool.map(accrue, range(AFTER_REVOCATION)))
    assert after == [401] * AFTER_REVOCATION
    settled = s.call("GET", "/v1/members/m1/balance?min_position=1", expect=200)
    assert (settled["available"], settled["lifetime_earned"]) == (0, 0)
