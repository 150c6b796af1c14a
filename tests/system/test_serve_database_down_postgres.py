"""`serve` started while PostgreSQL is down stays up, answers 503, and recovers by itself."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.system.pg_cluster import PrivateCluster, free_port
from tests.system.test_serve_http import cli, service_env

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _wait_for(check: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return True
        except requests.RequestException:
            pass
        time.sleep(0.3)
    return False


def test_serve_starts_without_the_database_and_recovers_postgres(
    stopped_cluster: PrivateCluster, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [*cli(), "serve", "--port", str(port), "--workers", "1"],
            cwd=tmp_path,
            env=service_env(stopped_cluster.url),
            stdout=stdout,
            stderr=stderr,
        )
    try:
        assert _wait_for(lambda: requests.get(base + "/healthz", timeout=2).ok, 60), (
            err.read_text()[-3000:]
        )
        ready = requests.get(base + "/readyz", timeout=60)
        assert ready.status_code == 503
        assert ready.headers["Content-Type"] == "application/problem+json"
        assert ready.json()["type"].endswith("/unavailable")

        stopped_cluster.start()
        assert _wait_for(lambda: requests.get(base + "/readyz", timeout=30).ok, 60), (
            err.read_text()[-3000:]
        )
        # Migrated once the database answered; the first admin key is printed right after.
        assert _wait_for(lambda: "llk_" in out.read_text(), 30), out.read_text()
        keys = re.findall(r"llk_[A-Za-z0-9_-]+", out.read_text())
        assert len(keys) == 1, out.read_text()
        response = requests.post(
            base + "/v1/members",
            json={"member_id": "m-1"},
            timeout=30,
            headers={"Authorization": f"Bearer {keys[0]}"},
        )
        assert response.status_code == 201, response.text
        assert response.json()["balance"] == {"available": 0, "pending": 0, "tier": "basic"}
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    assert "Traceback" not in err.read_text()
