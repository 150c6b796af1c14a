"""`loyalty-ledger serve` as a real process: a partner's day over HTTP, then SIGTERM.

Runs on SQLite and PostgreSQL. The service starts with no LEDGER_ADMIN_KEY, so it must create
the first admin key and print it once; everything else goes through that key.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.api.write_support import PARTNER_TERMS
from tests.system.pg_cluster import free_port

pytestmark = pytest.mark.slow
START_TIMEOUT = 60.0


def cli() -> list[str]:
    script = Path(sys.executable).with_name("loyalty-ledger")
    return [str(script)] if script.exists() else [sys.executable, "-m", "api.cli"]


def service_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(LEDGER_DATABASE_URL=database_url, LEDGER_SWEEP_INTERVAL_SECONDS="1", **extra)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


@dataclass
class Running:
    """A `serve` process and its admin key: what every system test drives it with."""

    process: subprocess.Popen[bytes]
    base: str
    admin_key: str

    def call(
        self, method: str, path: str, body: Any = None, key: str | None = None, expect: int = 201
    ) -> dict[str, Any]:
        response = requests.request(
            method,
            self.base + path,
            json=body,
            timeout=30,
            headers={"Authorization": f"Bearer {key or self.admin_key}"},
        )
        assert response.status_code == expect, (path, response.status_code, response.text)
        return dict(response.json())

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


@dataclass
class Service(Running):
    stdout: Path
    stderr: Path
    env: dict[str, str]
    cwd: Path


def start_service(database_url: str, cwd: Path, workers: int = 2) -> Service:
    port = free_port()
    env = service_env(database_url)
    stdout, stderr = cwd / "serve.out", cwd / "serve.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [*cli(), "serve", "--port", str(port), "--workers", str(workers)],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=err,
        )
    try:
        return _await_service(process, f"http://127.0.0.1:{port}", env, cwd)
    except BaseException:
        process.kill()
        process.wait()
        raise


def _await_service(
    process: subprocess.Popen[bytes], base: str, env: dict[str, str], cwd: Path
) -> Service:
    stdout, stderr = cwd / "serve.out", cwd / "serve.err"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, stderr.read_text()[-3000:]
        try:
            if requests.get(base + "/healthz", timeout=5).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.2)
    else:
        pytest.fail("serve did not answer /healthz:\n" + stderr.read_text()[-3000:])
    keys = re.findall(r"llk_[A-Za-z0-9_-]+", stdout.read_text())
    assert len(keys) == 1, stdout.read_text()
    return Service(process, base, keys[0], stdout, stderr, env, cwd)


def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database a fixture parametrised over "sqlite" and "postgres" asks for."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    running = start_service(backend_url(request, tmp_path), tmp_path)
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def now() -> str:
    return datetime.now(UTC).isoformat()


def open_shop(s: Service) -> str:
    """Register partner `shop` (earning 1 point per EUR) and return a partner key for it."""
    s.call("POST", "/v1/partners", {"partner_id": "shop", **PARTNER_TERMS})
    return str(
        s.call("POST", "/v1/keys", {"role": "partner", "partner_id": "shop", "name": "shop till"})[
            "key"
        ]
    )


def test_a_partners_day_over_http(service: Service) -> None:
    s = service
    shop = open_shop(s)

    assert s.call("POST", "/v1/members", {"member_id": "m1"}, shop)["balance"]["available"] == 0
    accrual = s.call(
        "POST",
        "/v1/accruals",
        {
            "transaction_id": "t1",
            "member_id": "m1",
            "amount": "120.00",
            "currency": "EUR",
            "occurred_at": now(),
        },
        shop,
    )
    assert accrual["points"] == 120 and accrual["balance"]["available"] == 120
    redemption = s.call(
        "POST",
        "/v1/redemptions",
        {"transaction_id": "r1", "member_id": "m1", "points": 50, "occurred_at": now()},
        shop,
    )
    assert redemption["balance"]["available"] == 70
    ret = s.call(
        "POST",
        "/v1/accruals/t1/reversals",
        {"transaction_id": "ret1", "refund_amount": "20.00", "occurred_at": now()},
        shop,
    )
    assert ret["points_reversed"] == 20 and ret["balance"]["available"] == 50
    cancellation = {"transaction_id": "c1", "occurred_at": now()}
    cancel = s.call("POST", "/v1/redemptions/r1/reversals", cancellation, shop)
    assert cancel["points_restored"] == 50 and cancel["balance"]["available"] == 100
    replay = requests.post(
        s.base + "/v1/redemptions/r1/reversals",
        json=cancellation,
        headers={"Authorization": f"Bearer {shop}"},
        timeout=30,
    )
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == cancel

    batch = s.call(
        "POST",
        "/v1/batches",
        {
            "operations": [
                {"op": "enroll", "member_id": "m2"},
                {
                    "op": "accrue",
                    "transaction_id": "t2",
                    "member_id": "m2",
                    "amount": "30.00",
                    "currency": "EUR",
                    "occurred_at": now(),
                },
                {
                    "op": "redeem",
                    "transaction_id": "r2",
                    "member_id": "m2",
                    "points": 10,
                    "occurred_at": now(),
                },
                {
                    "op": "redeem",
                    "transaction_id": "r3",
                    "member_id": "m2",
                    "points": 999,
                    "occurred_at": now(),
                },
            ]
        },
        shop,
        expect=200,
    )["results"]
    assert [r["status"] for r in batch] == [201, 201, 201, 422]
    assert batch[2]["body"]["balance"]["available"] == 20

    source = s.cwd / "day.ndjson"
    source.write_text(
        "\n".join(
            json.dumps(op)
            for op in [
                {"op": "enroll", "member_id": "m3"},
                {
                    "op": "accrue",
                    "transaction_id": "f1",
                    "member_id": "m3",
                    "amount": "12.00",
                    "currency": "EUR",
                    "occurred_at": now(),
                },
                {
                    "op": "accrue",
                    "transaction_id": "f2",
                    "member_id": "m3",
                    "amount": "8.00",
                    "currency": "EUR",
                    "occurred_at": now(),
                },
            ]
        )
        + "\n"
    )
    results = s.cwd / "day.results.ndjson"
    imported = subprocess.run(
        [*cli(), "import", "--partner", "shop", str(source), "--results", str(results)],
        cwd=s.cwd,
        env=s.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [(r["index"], r["status"]) for r in lines] == [(0, 201), (1, 201), (2, 201)]
    assert lines[2]["body"]["balance"]["available"] == 20
    more = s.call(
        "POST",
        "/v1/accruals",
        {
            "transaction_id": "t3",
            "member_id": "m3",
            "amount": "5.00",
            "currency": "EUR",
            "occurred_at": now(),
        },
        shop,
    )
    assert more["balance"]["available"] == 25

    assert requests.get(s.base + "/docs", timeout=10).status_code == 200
    assert requests.get(s.base + "/openapi.json", timeout=10).json()["openapi"].startswith("3.")

    assert s.stop() == 0
    errors = s.stderr.read_text()
    assert "Traceback" not in errors, errors[-3000:]
    # Every projection process (on PostgreSQL the finance group runs in a helper) logs JSON.
    active = [
        json.loads(line) for line in errors.splitlines() if "projection runner active" in line
    ]
    on_postgres = s.env["LEDGER_DATABASE_URL"].startswith("postgresql")
    assert sorted(line["message"] for line in active) == (
        ["projection runner active (finance)", "projection runner active (members)"]
        if on_postgres
        else ["projection runner active (members, finance)"]
    )
    assert len(re.findall(r"llk_[A-Za-z0-9_-]+", s.stdout.read_text())) == 1


def test_concurrent_writes_are_each_answered_as_if_alone(service: Service) -> None:
    """Concurrent requests share batches inside a worker; each answer is its own."""
    s = service
    shop = open_shop(s)
    for member in ("m1", "m2"):
        s.call("POST", "/v1/members", {"member_id": member}, shop)
    at = now()

    def post(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = requests.post(
            s.base + path, json=body, timeout=60, headers={"Authorization": f"Bearer {shop}"}
        )
        return response.status_code, response.json()

    requests_ = [
        (
            "/v1/accruals",
            {
                "transaction_id": f"t{i}",
                "member_id": f"m{1 + i % 2}",
                "amount": f"{i + 1}.00",
                "currency": "EUR",
                "occurred_at": at,
            },
        )
        for i in range(24)
    ]
    same = {
        "transaction_id": "dup",
        "member_id": "m1",
        "amount": "7.00",
        "currency": "EUR",
        "occurred_at": at,
    }
    requests_ += [("/v1/accruals", same)] * 8
    too_much = {"transaction_id": "big", "member_id": "m2", "points": 10_000, "occurred_at": at}
    requests_.append(("/v1/redemptions", too_much))
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda r: post(*r), requests_))

    distinct, duplicates, rejected = answers[:24], answers[24:32], answers[32]
    assert [status for status, _ in distinct] == [201] * 24
    assert [body["points"] for _, body in distinct] == [i + 1 for i in range(24)]
    assert sorted(status for status, _ in duplicates) == [200] * 7 + [201]
    assert len({json.dumps(body, sort_keys=True) for _, body in duplicates}) == 1
    assert rejected[0] == 422 and rejected[1]["type"].endswith("/insufficient-points")
    # m1 earned 1 + 3 + ... + 23 and the duplicate's 7 once; m2 earned 2 + 4 + ... + 24.
    for member, expected in (("m1", 144 + 7), ("m2", 156)):
        member_now = s.call(
            "POST",
            "/v1/accruals",
            {
                "transaction_id": f"probe-{member}",
                "member_id": member,
                "amount": "0.01",
                "currency": "EUR",
                "occurred_at": at,
            },
            shop,
        )
        assert member_now["balance"]["available"] == expected
    assert s.stop() == 0
