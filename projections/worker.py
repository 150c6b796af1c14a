"""The projection worker that `serve` and `loyalty-ledger project` run.

Interface used by the API and the command line:
    worker = ProjectionWorker(settings); worker.start(); ...; worker.stop()
    worker.wait_for(position, timeout) -> bool   # True once every projection applied it
    worker.status() -> [{name, position, head, lag_events, lag_seconds}]

Only one worker per database is active: it holds the PostgreSQL advisory lock (a lock file
next to the SQLite database); the others wait and take over within `standby_seconds` of the
active one dying. On PostgreSQL the active worker wakes on the recorder's NOTIFY and polls as
a fallback; on SQLite it polls every `projection_poll_seconds`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import psycopg

from ledger.application import Ledger
from ledger.config import Settings
from projections.eventlog import open_ledger
from projections.runner import ProjectionRunner
from projections.store import open_target

log = logging.getLogger("projections.worker")
STANDBY_SECONDS = 1.0


class ProjectionWorker:
    def __init__(self, settings: Settings, ledger: Ledger | None = None) -> None:
        self.settings = settings
        self._ledger = ledger
        self._own_ledger = ledger is None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.active = False
        self._runner: ProjectionRunner | None = None

    def _open(self) -> ProjectionRunner:
        if self._runner is None:
            ledger = self._ledger or open_ledger(settings=self.settings)
            self._ledger = ledger
            target = open_target(self.settings)
            target.ensure_schema()
            self._runner = ProjectionRunner(ledger, target)
        return self._runner

    # ------------------------------------------------------------ foreground

    def catch_up(self) -> int:
        """Apply everything up to the head now, in this thread (tests, one-off runs)."""
        return self._open().catch_up()

    def rebuild(self) -> int:
        runner = self._open()
        if not self._acquire(runner, wait=True):
            return runner.position()
        return runner.rebuild()

    def run_forever(self) -> None:
        runner = self._open()
        while not self._stop.is_set():
            if not self._acquire(runner, wait=False):
                self._stop.wait(STANDBY_SECONDS)
                continue
            try:
                applied_to = runner.position()
                reached = runner.catch_up()
                if reached == applied_to:
                    self._idle(runner)
            except Exception:  # keep following; the next round retries
                log.exception("projection batch failed")
                self._stop.wait(STANDBY_SECONDS)
        runner.target.unlock()
        self.active = False

    def _acquire(self, runner: ProjectionRunner, wait: bool) -> bool:
        while not runner.target.try_lock():
            if not wait or self._stop.wait(STANDBY_SECONDS):
                return False
        if not self.active:
            log.info("projection runner active")
        self.active = True
        return True

    def _idle(self, runner: ProjectionRunner) -> None:
        poll = self.settings.projection_poll_seconds
        if self.settings.backend != "postgres":
            self._stop.wait(poll)
            return
        listener = self._listener
        if listener is None:
            try:
                listener = self._listener = psycopg.connect(self.settings.database_url,
                                                            autocommit=True, connect_timeout=5)
                channel = runner.ledger.recorder.channel_name  # type: ignore[attr-defined]
                listener.execute(f'LISTEN "{channel}"')
            except psycopg.Error:
                self._listener = None
                self._stop.wait(poll)
                return
        try:
            for _ in listener.notifies(timeout=max(poll, 0.05) * 5, stop_after=1):
                pass
        except psycopg.Error:
            with contextlib.suppress(psycopg.Error):
                listener.close()
            self._listener = None

    _listener: psycopg.Connection[Any] | None = None

    # ------------------------------------------------------------ background

    def request_stop(self) -> None:
        """Ask `run_forever` to return after the batch in hand (signal handlers)."""
        self._stop.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.run_forever, name="projections",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self._listener is not None:
            with contextlib.suppress(psycopg.Error):
                self._listener.close()
            self._listener = None
        if self._runner is not None:
            self._runner.target.close()
            self._runner = None
        if self._own_ledger and self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    def wait_for(self, position: int, timeout: float) -> bool:
        runner = self._open()
        deadline = time.monotonic() + timeout
        while runner.position() < position:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def status(self) -> list[dict[str, Any]]:
        runner = self._open()
        head = runner.head()
        positions = runner.target.positions()
        lag_seconds = 0.0
        applied = min((positions.get(n, 0) for n in runner.names), default=0)
        if applied < head:
            first = runner.ledger.recorder.select_notifications(start=applied + 1, limit=1)
            if first:
                recorded = runner.ledger.mapper.to_domain_event(first[0]).timestamp  # type: ignore[attr-defined]
                lag_seconds = max((datetime.now(UTC) - recorded).total_seconds(), 0.0)
        return [
            {"name": name, "position": positions.get(name, 0), "head": head,
             "lag_events": max(head - positions.get(name, 0), 0),
             "lag_seconds": lag_seconds if positions.get(name, 0) < head else 0.0}
            for name in runner.names
        ]
