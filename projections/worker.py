"""The projection worker that `serve` and `loyalty-ledger project` run.

Interface used by the API and the command line:
    worker = ProjectionWorker(settings); worker.start(); ...; worker.stop()
    worker.wait_for(position, timeout) -> bool   # True once every projection applied it
    worker.status() -> [{name, position, head, lag_events, lag_seconds}]

The projections come in groups (`projections.definitions.GROUPS`), each with its own tracking
rows and its own lock. On PostgreSQL a worker applies the first group itself and starts one
helper process per other group (`python -m projections.worker GROUP`), so that the groups
use separate cores (Python's GIL would serialise them in one process). On SQLite the worker
applies every group itself: its writers serialise on the database file anyway.

Only one runner per group and database is active: it holds that group's PostgreSQL advisory
lock (a lock file next to the SQLite database); the others say that they stand by, and take
over within `STANDBY_SECONDS` of the active one dying. A standby worker starts its helpers
only once it is active. A rebuild needs every group's lock: it says whose it waits for, and
gives up (`LockHeld`) after the wait it was given. A helper dies with its worker, even on
SIGKILL of the worker (`projections.lifeline`): no orphan keeps a lock. On PostgreSQL the
active worker wakes on the recorder's NOTIFY and polls as a fallback; on SQLite it polls
every `projection_poll_seconds`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import psycopg

from ledger.application import Ledger
from ledger.config import Settings
from ledger.infrastructure import json_logging
from projections import lifeline
from projections.definitions import GROUPS
from projections.health import Failures, status
from projections.runner import ProjectionRunner
from projections.store import open_target

log = logging.getLogger("projections.worker")
STANDBY_SECONDS = 1.0
# A catch-up returns this often to look at stop requests and the helpers.
ROUND_SECONDS = 5.0
# Under steady writes a round that found fewer events than this pauses for
# `settings.projection_gather_seconds` before the next, so rounds carry enough events to share
# their fixed cost (a transaction and tracking update per group, row loads). Measured following
# `bench.http_load`, back to back: no pause -> 50 ms cut projection CPU per accrual from 0.77 to
# 0.32 ms and PostgreSQL's from 1.16 to 0.75 ms; 50 -> 150 ms cut them by another 25-37% and
# 13-25%. It adds at most the pause to how far the projections trail the log.
GATHER_EVENTS = 500
HELPER_STOP_SECONDS = 30.0
# A helper that keeps failing (the database is down, say) is restarted after 1, 2, 4 ... s,
# at most this long; one that ran this long before it exited counts as healthy again.
HELPER_BACKOFF_SECONDS = 30.0
# A rebuild waiting for another runner's lock says so again this often.
WAIT_NOTICE_SECONDS = 60.0
GROUP_NAMES = tuple(name for name, _ in GROUPS)


class LockHeld(Exception):
    """Another runner held a projection lock for as long as a rebuild would wait."""

    def __init__(self, groups: Sequence[str]) -> None:
        self.groups = tuple(groups)
        super().__init__(f"another runner holds the projection lock of {', '.join(groups)}")


class Interrupted(Exception):
    """`request_stop` came before the work in hand was done.

    `position` is where the projections stand, or None if nothing had been changed yet."""

    def __init__(self, position: int | None) -> None:
        self.position = position
        super().__init__("interrupted" if position is None else f"interrupted at {position}")


class ProjectionWorker:
    def __init__(
        self,
        settings: Settings,
        ledger: Ledger | None = None,
        groups: Sequence[str] | None = None,
    ) -> None:
        """`groups`: apply just these, in this process (a helper); by default every group,
        the first here and the others in helper processes where the backend allows."""
        self.settings = settings
        self._ledger = ledger
        self._own_ledger = ledger is None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.active = False
        self._runner: ProjectionRunner | None = None
        if groups is None and settings.backend == "postgres":
            self.groups, self.helper_groups = GROUP_NAMES[:1], GROUP_NAMES[1:]
        else:
            self.groups, self.helper_groups = tuple(groups or GROUP_NAMES), ()
        self._helpers: dict[str, subprocess.Popen[bytes]] = {}
        self._standing_by: list[str] = []
        self._spawned_at: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._failing = Failures()

    def _open(self) -> ProjectionRunner:
        if self._runner is None:
            ledger = self._ledger or Ledger(settings=self.settings)
            self._ledger = ledger
            target = open_target(self.settings)
            target.ensure_schema()
            self._runner = ProjectionRunner(ledger, target)
            target.register(self._runner.names)
        return self._runner

    # ------------------------------------------------------------ foreground

    def catch_up(self) -> int:
        """Apply everything up to the head now (helpers in parallel), then return the
        position every projection has applied (tests, one-off runs, benchmarks).

        Raises `Interrupted` if `request_stop` comes first (what was applied stays)."""
        runner = self._open()
        helpers = {group: self._spawn(group, once=True) for group in self.helper_groups}
        try:
            head = runner.head()
            # In rounds, so that a stop request is seen within one.
            while (
                runner.catch_up(groups=self.groups, deadline=time.monotonic() + ROUND_SECONDS)
                < head
            ):
                if self._stop.is_set():
                    raise Interrupted(runner.position())
            while any(process.poll() is None for process in helpers.values()):
                if self._stop.wait(0.05):
                    raise Interrupted(runner.position())
        except BaseException:
            for process in helpers.values():
                _stop_process(process)
            raise
        for process in helpers.values():
            lifeline.release(process)
        failed = [group for group, process in helpers.items() if process.returncode != 0]
        if failed:
            raise RuntimeError(f"projection helper for {', '.join(failed)} failed")
        return runner.position()

    def rebuild(self, wait: float | None = None) -> int:
        """Truncate every projection (holding every group's lock) and replay the log.

        Waits at most `wait` seconds (None: until stopped) for another runner holding a lock,
        then raises `LockHeld`; `Interrupted(None)` if stopped before it truncated anything,
        `Interrupted(position)` if stopped while replaying."""
        runner = self._open()
        self._lock_every_group(runner, wait)
        runner.target.reset(runner.names)
        for group in self.helper_groups:
            runner.target.unlock(group)  # the helpers take them
        return self.catch_up()

    def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                runner = self._open()
                mine = self._acquire(runner, self.groups)
            except Exception as error:  # the database is down: try again shortly
                for group in self.groups:  # each logged, with its back-off
                    self._failing.failed([group], error, None)
                self._recover()
                self._stop.wait(self._failing.next_retry(list(self.groups)) or STANDBY_SECONDS)
                continue
            if not mine:
                self._stop.wait(STANDBY_SECONDS)
                continue
            self._keep_helpers()
            self._round(runner, mine)
        if self._runner is not None:
            self._runner.target.unlock_all()
        self.active = False

    def _round(self, runner: ProjectionRunner, mine: list[str]) -> None:
        """Catch up the groups in good health, and each failed one that is due for a retry
        on its own; then wait for more events, or for the next retry."""
        moved = 0
        deadline = time.monotonic() + ROUND_SECONDS
        for part in self._failing.parts(mine):
            try:
                applied_to = runner.position(part)
                reached = runner.catch_up(
                    groups=part, deadline=deadline, batch_size=self._failing.batch_size(part)
                )
            except Exception as error:  # logged, with its back-off, by `failed`
                self._recover()
                position = None
                with contextlib.suppress(Exception):
                    position = runner.position(part)
                self._failing.failed(part, error, position)
                continue
            self._failing.succeeded(part, reached)
            moved += reached - applied_to
        retry = self._failing.next_retry(mine)
        if retry is not None and retry <= 0:
            return  # a narrowed batch is due at once
        if moved == 0:
            if retry is not None and len(self._failing.parts(mine)) == 0:
                self._stop.wait(min(retry, STANDBY_SECONDS))
            else:
                self._idle(runner)
        elif moved < GATHER_EVENTS:
            self._stop.wait(self.settings.projection_gather_seconds)

    def _recover(self) -> None:
        """After a database error: fresh connections for the next attempt."""
        if self._runner is not None:
            with contextlib.suppress(Exception):
                self._runner.target.recover()
        if self._listener is not None:
            with contextlib.suppress(psycopg.Error):
                self._listener.close()
            self._listener = None

    def _acquire(self, runner: ProjectionRunner, groups: Sequence[str]) -> list[str]:
        """The groups whose lock this worker holds now (it says when it stands by)."""
        mine = [group for group in groups if runner.target.try_lock(group)]
        waiting = [group for group in groups if group not in mine]
        if waiting and waiting != self._standing_by:
            log.info(
                "another runner holds the projection lock of %s; standing by",
                ", ".join(waiting),
                extra={"fields": {"groups": waiting}},
            )
        self._standing_by = waiting
        if mine and not self.active:
            log.info("projection runner active (%s)", ", ".join(mine))
        self.active = bool(mine)
        return mine

    def _lock_every_group(self, runner: ProjectionRunner, wait: float | None) -> None:
        """Hold every group's lock, or raise `LockHeld` (after `wait`) or `Interrupted`."""
        deadline = None if wait is None else time.monotonic() + wait
        said_at: float | None = None
        while True:
            held = [group for group in GROUP_NAMES if not runner.target.try_lock(group)]
            if not held:
                return
            # All or nothing: holding some while waiting for the others would stall the
            # runner that is about to take them back (a restarted `serve`, say).
            for group in GROUP_NAMES:
                if group not in held:
                    runner.target.unlock(group)
            now = time.monotonic()
            if said_at is None or now - said_at >= WAIT_NOTICE_SECONDS:
                until = "until it stops" if deadline is None else f"for at most {wait:g} s"
                log.warning(
                    "another runner holds the projection lock of %s; waiting %s before rebuilding",
                    ", ".join(held),
                    until,
                    extra={"fields": {"groups": held, "wait_seconds": wait}},
                )
                said_at = now
            if deadline is not None and now >= deadline:
                raise LockHeld(held)
            pause = STANDBY_SECONDS if deadline is None else min(STANDBY_SECONDS, deadline - now)
            if self._stop.wait(pause):
                raise Interrupted(None)

    def _idle(self, runner: ProjectionRunner) -> None:
        poll = self.settings.projection_poll_seconds
        if self.settings.backend != "postgres":
            self._stop.wait(poll)
            return
        listener = self._listener
        if listener is None:
            try:
                listener = self._listener = psycopg.connect(
                    self.settings.database_url, autocommit=True, connect_timeout=5
                )
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

    # --------------------------------------------------------------- helpers

    def _spawn(self, group: str, once: bool) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "projections.worker", group]
        return lifeline.spawn([*command, *(["--once"] if once else [])], self.settings)

    def _keep_helpers(self) -> None:
        """Start the helpers of an active worker, and again any that exited."""
        now = time.monotonic()
        for group in self.helper_groups:
            process = self._helpers.get(group)
            if process is not None and process.poll() is None:
                continue
            if process is not None:
                lifeline.release(process)
                ran = now - self._spawned_at[group]
                failures = 0 if ran >= HELPER_BACKOFF_SECONDS else self._failures.get(group, 0)
                if ran < min(STANDBY_SECONDS * 2**failures, HELPER_BACKOFF_SECONDS):
                    continue  # not yet: one that keeps failing is not restarted in a tight loop
                log.warning(
                    "projection helper for %s exited (%s); restarting it", group, process.returncode
                )
                self._failures[group] = failures + 1
            self._helpers[group] = self._spawn(group, once=False)
            self._spawned_at[group] = now

    # ------------------------------------------------------------ background

    def request_stop(self) -> None:
        """Ask `run_forever` to return after the batch in hand (on SIGTERM, say)."""
        self._stop.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.run_forever, name="projections", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        for process in self._helpers.values():
            _stop_process(process)
        self._helpers.clear()
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
        return status(runner.ledger, runner.target, runner.names)


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(HELPER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    lifeline.release(process)


def main(argv: Sequence[str] | None = None) -> None:
    """A helper process: `python -m projections.worker GROUP [--once]`, spawned by
    `projections.lifeline.spawn` (the settings on stdin; it dies with its parent)."""
    parser = argparse.ArgumentParser(prog="python -m projections.worker")
    parser.add_argument("group", choices=GROUP_NAMES)
    parser.add_argument("--once", action="store_true", help="catch up to the head, then exit")
    args = parser.parse_args(argv)
    settings = lifeline.read_settings()
    json_logging.configure(settings)  # the service's JSON lines, like its worker's
    worker = ProjectionWorker(settings, groups=[args.group])
    lifeline.watch_parent(worker.request_stop)
    try:
        if args.once:
            worker.catch_up()
        else:
            worker.run_forever()
    except Interrupted:
        sys.exit(1)  # its worker stopped it: what it applied stays, exactly once
    finally:
        worker.stop()


if __name__ == "__main__":
    main()
