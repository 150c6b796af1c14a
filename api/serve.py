"""`loyalty-ledger serve`: gunicorn (as a library) on the app, with the projection runner and
the periodic sweep started by the arbiter when it is ready and stopped when it exits.

The background work runs in one process of its own, started afresh (not forked) by the arbiter: the
arbiter forks HTTP workers at any time (start, restarts), and a fork taken while a thread holds
a database connection mid-transaction leaves the child with SQLite lock state it cannot undo.
So the arbiter itself holds no connection and no thread; there is exactly one runner per host
whatever the number of HTTP workers, and the workers only answer requests.

The arbiter supervises the background process as it does its workers: one that dies is
started again, after 1, 2, 4 ... s (at most `BACKGROUND_BACKOFF_SECONDS`) if it keeps dying.
Meanwhile the HTTP workers' /readyz answers 503 (the projection lag shows nothing while no
writes arrive): the arbiter, which learns of the death at once (SIGCHLD), marks whether the
process runs in memory it shares with the workers it forks, so a probe reads one byte.
And the background process dies with the arbiter, even on SIGKILL of the arbiter
(`projections.lifeline`), so that no orphan keeps the projection locks from the runner of the
next `serve`.
"""

from __future__ import annotations

import logging
import mmap
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import psycopg
from eventsourcing.persistence import OperationalError as StoreOperationalError
from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker

from ledger.application import Ledger
from ledger.config import Settings
from projections import lifeline
from projections.sweeps import run_sweep
from projections.worker import ProjectionWorker

log = logging.getLogger("api.serve")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
STOP_TIMEOUT_SECONDS = 30.0
# A background process that ran this long before it died is restarted after the shortest pause.
BACKGROUND_BACKOFF_SECONDS = 30.0


class PeriodicSweep:
    """Runs a sweep every `interval` seconds on a daemon thread until stopped."""

    def __init__(self, ledger: Ledger, interval: float) -> None:
        self.ledger = ledger
        self.interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="periodic-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                report = run_sweep(self.ledger, stop=self._stopped)
            except Exception:  # the next round tries again; the service keeps answering
                log.exception("periodic sweep failed")
                continue
            if report.members_touched:
                log.info(
                    "periodic sweep",
                    extra={
                        "fields": {
                            "members_touched": report.members_touched,
                            "position": report.position,
                        }
                    },
                )


class BackgroundWork:
    """What runs besides the HTTP workers: projections and the periodic sweep."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ledger: Ledger | None = None
        self.worker: ProjectionWorker | None = None
        self.sweeper: PeriodicSweep | None = None

    def start(self) -> None:
        # One ledger for both: opening several at once races on creating the tables.
        self.ledger = Ledger(settings=self.settings)
        self.worker = ProjectionWorker(self.settings, ledger=self.ledger)
        self.worker.start()
        self.sweeper = PeriodicSweep(self.ledger, self.settings.sweep_interval_seconds)
        self.sweeper.start()

    def stop(self) -> None:
        if self.sweeper is not None:
            self.sweeper.stop()
        if self.worker is not None:
            self.worker.stop()
        if self.ledger is not None:
            self.ledger.close()


def run_background(settings: Settings) -> None:
    """The background process: work until SIGTERM (or SIGINT, or its parent's death), then
    stop cleanly."""
    from api import logs

    logs.configure(settings)
    stopped = threading.Event()
    lifeline.watch_parent(stopped.set)
    work = BackgroundWork(settings)
    try:
        # `serve` could not prepare the database (it was down): do it once it answers.
        while settings.create_tables and not stopped.is_set():
            try:
                announce_admin_key(prepare_database(settings))
                break
            except DATABASE_DOWN:
                log.warning("database unreachable; retrying the migrations in 2 s")
                stopped.wait(2)
            except psycopg.errors.UniqueViolation:
                # An HTTP worker's store created the same table at the same instant (CREATE
                # TABLE IF NOT EXISTS races in PostgreSQL's catalogue); it is there now.
                log.warning("a table was created concurrently; retrying the migrations in 2 s")
                stopped.wait(2)
        if not stopped.is_set():
            work.start()
        stopped.wait()
    finally:
        work.stop()


class BackgroundProcess:
    """The arbiter's handle on the background process (`python -m api.serve`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.stopping = False
        # Anonymous and shared: every HTTP worker forked from the arbiter sees what it writes.
        self._running = mmap.mmap(-1, 1)
        self._started_at = 0.0
        self._failures = 0
        self._restart_at: float | None = None

    def running(self) -> bool:
        """Whether the background process runs, as the arbiter last saw it (in any process
        forked from the arbiter)."""
        return self._running[0] == 1

    def start(self) -> None:
        self.process = lifeline.spawn([sys.executable, "-m", "api.serve"], self.settings)
        self._running[0] = 1
        self._started_at = time.monotonic()
        self._restart_at = None
        log.info(
            "background process started (pid %s)",
            self.process.pid,
            extra={"fields": {"pid": self.process.pid}},
        )

    def reap(self) -> None:
        """Collect its exit status if it died (before gunicorn's reaping takes it)."""
        self._exited()

    def _exited(self) -> bool:
        """Whether it has exited (and is known not to run); False before it was started."""
        if self.process is None or self.process.poll() is None:
            return False
        self._running[0] = 0
        return True

    def keep_running(self) -> None:
        """Restart it if it died, after 1 s, or longer if it keeps dying."""
        process = self.process
        if self.stopping or process is None or not self._exited():
            return
        now = time.monotonic()
        if self._restart_at is None:
            lifeline.release(process)
            if now - self._started_at >= BACKGROUND_BACKOFF_SECONDS:
                self._failures = 0
            pause = min(2.0**self._failures, BACKGROUND_BACKOFF_SECONDS)
            self._failures += 1
            self._restart_at = now + pause
            log.error(
                "background process (pid %s) %s; restarting it in %g s",
                process.pid,
                _describe_exit(process.returncode),
                pause,
                extra={"fields": {"pid": process.pid, "returncode": process.returncode}},
            )
        if now >= self._restart_at:
            self.start()

    def forget(self) -> None:
        """In a forked HTTP worker: drop the copy of the pipe the background process watches
        (it must see end-of-file as soon as the arbiter dies, whatever the workers do)."""
        if self.process is not None:
            lifeline.release(self.process)

    def stop(self) -> None:
        self.stopping = True
        self._running[0] = 0
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            log.warning("background process did not stop in time; killing it")
            self.process.kill()
            self.process.wait()
        lifeline.release(self.process)


def _describe_exit(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with code {returncode}"


class SupervisingArbiter(Arbiter):  # type: ignore[misc]
    """gunicorn's arbiter, which also keeps the background process running."""

    def __init__(self, app: LedgerServer) -> None:
        self.background = app.background
        super().__init__(app)

    def reap_workers(self) -> None:
        # First, or gunicorn's waitpid(-1) takes its status for a worker's (and halts the
        # server on exit codes 3 and 4, which mean "worker failed to boot" to gunicorn).
        self.background.reap()
        super().reap_workers()

    def manage_workers(self) -> None:
        super().manage_workers()  # the main loop calls this about once a second
        self.background.keep_running()


class LedgerServer(BaseApplication):  # type: ignore[misc]
    """gunicorn's arbiter and workers, configured in code rather than from argv."""

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        self.background = BackgroundProcess(settings)
        super().__init__()

    def load_config(self) -> None:
        hooks = {
            "when_ready": self._when_ready,
            "post_fork": self._post_fork,
            "on_exit": self._on_exit,
            "child_exit": _child_exit,
        }
        for key, value in {**self.options, **hooks}.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        from api.app import create_app
        from api.heap import settle_for_serving

        app = create_app(self.settings)
        app.extensions["background_running"] = self.background.running  # for /readyz
        settle_for_serving()
        return app

    def run(self) -> None:
        try:
            SupervisingArbiter(self).run()
        except RuntimeError as error:  # as gunicorn's own run() reports it
            print(f"\nError: {error}\n", file=sys.stderr, flush=True)
            sys.exit(1)

    def _when_ready(self, arbiter: Arbiter) -> None:
        self.background.start()

    def _post_fork(self, arbiter: Arbiter, worker: Worker) -> None:
        self.background.forget()

    def _on_exit(self, arbiter: Arbiter) -> None:
        self.background.stop()
        multiproc_dir = os.environ.get(MULTIPROC_ENV)
        if multiproc_dir and os.path.basename(multiproc_dir).startswith("loyalty-ledger-metrics"):
            shutil.rmtree(multiproc_dir, ignore_errors=True)


def _child_exit(arbiter: Arbiter, worker: Worker) -> None:
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def gunicorn_options(host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        # Requests waiting on one worker's commit share its next one (group commit), so
        # threads are what lets a worker batch; they mostly wait on the database.
        "threads": threads,
        "timeout": 60,
        "graceful_timeout": 20,
        "keepalive": 5,
        "proc_name": "loyalty-ledger",
        "accesslog": None,  # api.logs writes one JSON line per request
    }


DATABASE_DOWN: tuple[type[Exception], ...] = (psycopg.OperationalError, StoreOperationalError)


def prepare_database(settings: Settings) -> str | None:
    """Migrate, then make sure an admin key exists; return a new admin token (shown once).

    Raises one of DATABASE_DOWN while the database cannot be reached.
    """
    from api.migrate import migrate

    if settings.create_tables:  # else the schema belongs to `loyalty-ledger migrate`
        migrate(settings)
    ledger = Ledger(settings=settings)
    try:
        return ensure_admin_key(ledger)
    finally:
        ledger.close()


def announce_admin_key(token: str | None) -> None:
    """Print a new admin token on stdout, framed so it stands out from the log lines (stderr)."""
    if token is not None:
        rule = "=" * 78
        print(
            f"\n{rule}\nCreated the first admin API key (shown only this once):\n\n    {token}\n\n"
            "Keep it. Lost it? `loyalty-ledger keys create --role admin --name NAME` (where\n"
            f"serve runs, same LEDGER_DATABASE_URL) prints a new one.\n{rule}\n",
            flush=True,
        )


def ensure_admin_key(ledger: Ledger) -> str | None:
    """With no LEDGER_ADMIN_KEY and no admin key yet, issue one; return its token (once)."""
    if ledger.settings.admin_key:
        return None
    if any(key.role == "admin" and not key.revoked for key in ledger.api_keys()):
        return None
    token, _ = ledger.issue_key("admin", None, "first admin (created by serve)")
    return token


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    options = gunicorn_options(host, port, workers, settings.http_threads)
    LedgerServer(settings, options).run()


if __name__ == "__main__":
    run_background(lifeline.read_settings())
