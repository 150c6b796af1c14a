"""The projection runner as real `loyalty-ledger` processes on PostgreSQL: exactly-once across
kill -9, one active runner of two with take-over, and tamper detection by `audit verify`."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from api.migrate import migrate
from ledger.application import Ledger
from ledger.clock import ManualClock
from ledger.config import Settings
from projections.definitions import TABLES
from projections.runner import ProjectionRunner
from projections.store import open_target
from tests.integration.test_projections import build_coalition

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from api.cli import main; main()"]
pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location(
        "bench_catchup", ROOT / "bench" / "projections_catchup.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cli(url: str, *args: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": url,
        "LEDGER_PROJECTION_POLL_SECONDS": "0.1",
        "PYTHONPATH": str(ROOT),
    }
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen([*CLI, *args], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)


def _position(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT min(position) FROM projection_tracking").fetchone()
        return int(row[0] or 0) if row else 0


def _head(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT max(notification_id) FROM ledger_events").fetchone()
        return int(row[0] or 0) if row else 0


def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _snapshot(url: str) -> dict[str, list[dict[str, Any]]]:
    target = open_target(Settings(database_url=url))
    try:
        return {t.name: list(target.iter_rows(t)) for t in TABLES}
    finally:
        target.close()


@pytest.fixture
def big_log(pg_url: str) -> Iterator[str]:
    settings = Settings(database_url=pg_url)
    migrate(settings)
    ledger = Ledger(settings=settings)
    _bench().generate(ledger, 30_000)
    ledger.close()
    yield pg_url


def test_kill_9_mid_catch_up_then_restart_equals_a_rebuild_postgres(big_log: str) -> None:
    head = _head(big_log)
    runner = _cli(big_log, "project", "--once")
    try:
        _until(lambda: _position(big_log) > 0, 120, "a first committed batch")
        runner.send_signal(signal.SIGKILL)
        runner.wait(10)
    finally:
        runner.kill()
    assert 0 < _position(big_log) < head, "killed mid catch-up"
    assert _cli(big_log, "project", "--once").wait(300) == 0
    assert _position(big_log) == head
    resumed = _snapshot(big_log)
    assert _cli(big_log, "project", "--rebuild", "--once").wait(300) == 0
    assert _snapshot(big_log) == resumed


def test_two_runners_one_works_the_other_takes_over_postgres(
    pg_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    settings = Settings(database_url=pg_url)
    migrate(settings)
    first = _cli(pg_url, "project", log=tmp_path / "first.log")
    _until(
        lambda: "projection runner active" in (tmp_path / "first.log").read_text(),
        30,
        "the first runner to become active",
    )
    second = _cli(pg_url, "project", log=tmp_path / "second.log")
    ledger = Ledger(settings=settings, clock=clock)
    try:
        build_coalition(ledger, clock)
        head = _head(pg_url)
        _until(lambda: _position(pg_url) == head, 60, "the active runner to catch up")
        assert "projection runner active" not in (tmp_path / "second.log").read_text()
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        ledger.execute(_adjustment())
        head = _head(pg_url)
        started = time.monotonic()
        _until(lambda: _position(pg_url) == head, 30, "the standby runner to take over")
        assert time.monotonic() - started < 10
        assert "projection runner active" in (tmp_path / "second.log").read_text()
    finally:
        ledger.close()
        for process in (first, second):
            process.kill()
            process.wait(10)
    target = open_target(settings)
    check = Ledger(settings=settings)
    try:
        from projections.audit import verify

        assert verify(check, target)["ok"]
    finally:
        target.close()
        check.close()


def _adjustment() -> Any:
    from ledger.commands import Adjust

    return Adjust(adjustment_id="after-kill", member_id="m1", points=10, reason="take-over")


def test_audit_verify_finds_the_first_tampered_event_postgres(
    pg_url: str, clock: ManualClock
) -> None:
    settings = Settings(database_url=pg_url)
    migrate(settings)
    ledger = Ledger(settings=settings, clock=clock)
    build_coalition(ledger, clock)
    target = open_target(settings)
    ProjectionRunner(ledger, target).catch_up()
    target.close()
    ledger.close()
    assert _cli(pg_url, "audit", "verify").wait(120) == 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT notification_id FROM ledger_events WHERE topic LIKE '%PointsAccrued' "
            "AND convert_from(state, 'UTF8') LIKE '%\"points\":2000,%'"
        ).fetchone()
        assert row is not None
        tampered = int(row[0])
        conn.execute("ALTER TABLE ledger_events DISABLE TRIGGER ALL")
        conn.execute(
            "UPDATE ledger_events SET state = convert_to(replace(convert_from(state, 'UTF8'), "
            "'\"points\":2000,', '\"points\":2900,'), 'UTF8') WHERE notification_id = %s",
            (tampered,),
        )
        conn.execute("ALTER TABLE ledger_events ENABLE TRIGGER ALL")
    result = subprocess.run(
        [*CLI, "audit", "verify"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "LEDGER_DATABASE_URL": pg_url, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert result.returncode == 1
    assert f"first broken position {tampered}" in result.stderr
    assert f'"first_broken_position": {tampered}' in result.stdout
