"""`serve` supervises its background process, and no process outlives the one that started it.

Real `loyalty-ledger` processes killed with real signals, on SQLite and PostgreSQL:
- kill -9 of the background process (projections and the periodic sweep): the arbiter starts
  another, and writes made afterwards reach the projections and the sweep;
- kill -9 of the arbiter: the background process, its helpers and the HTTP workers exit, no
  projection lock stays held, and a new `serve` is active at once;
- a helper stops when its parent's end of the pipe closes (the portable mechanism alone);
- `project --rebuild` while another runner holds the locks says so, and exits 75 after
  `--wait`, or 143 on SIGTERM, claiming nothing; plain `project` says it stands by; a rebuild
  stopped while it replays exits 143 naming the position it reached (PostgreSQL).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import json
import operator
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from api.migrate import migrate
from ledger.application import Ledger
from ledger.clock import ManualClock
from ledger.config import Settings
from projections.store import open_target
from tests.integration.test_projections import build_coalition
from tests.system.pg_cluster import free_port
from tests.system.test_projection_worker_postgres import _bench, _head
from tests.system.test_serve_http import Running, cli, open_shop, service_env

pytestmark = pytest.mark.slow
DEADLINE = 60.0


def until(
    condition: Callable[[], object], what: str, timeout: float = DEADLINE, every: float = 0.2
) -> Any:
    """Poll `condition` every `every` s until it returns something truthy (returned), else
    fail."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = condition()
        except requests.RequestException:
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


# ------------------------------------------------------------------ processes


def children(pid: int) -> dict[int, str]:
    """The live child processes of `pid` with their command lines (from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except (OSError, IndexError):
            continue  # exited while we looked
        if int(ppid) == pid and state != "Z":
            found[int(entry.name)] = command
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it has released everything)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def until_gone(pid: int, what: str, log: Path) -> None:
    """Wait for `pid` to exit; failing that, say what it is doing and how `log` ends."""
    try:
        until(lambda: not alive(pid), what)
    except AssertionError as error:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise AssertionError(f"{error}\n{describe(pid)}\n{log.name} ends:\n{tail}") from None


def describe(pid: int) -> str:
    """A process's command line, parent and state, what each of its threads waits in (the
    kernel's view, and Python's where py-spy is installed), the main thread's kernel stack, and
    which other processes hold the pipes it has open (its lifeline is its stdin)."""
    proc = Path("/proc") / str(pid)
    lines = []
    with contextlib.suppress(OSError):
        command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        status = dict(line.split(":\t", 1) for line in (proc / "status").read_text().splitlines())
        lines.append(f"pid {pid}: {command}(ppid {status['PPid']}, {status['State']})")
        for task in sorted((proc / "task").iterdir(), key=lambda task: int(task.name)):
            with contextlib.suppress(OSError):
                name = (task / "comm").read_text().strip()
                wchan = (task / "wchan").read_text()
                lines.append(f"  thread {task.name} ({name}) waits in {wchan or '-'}")
        lines += ["  kernel stack:", *(proc / "stack").read_text().splitlines()]
        lines += _pipes_shared(pid)
    spy = Path(sys.executable).with_name("py-spy")
    if spy.exists():
        dump = subprocess.run(
            [str(spy), "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=30
        )
        lines.append(dump.stdout + dump.stderr)
    return "\n".join(lines)


def _pipes_shared(pid: int) -> list[str]:
    """Each pipe open in `pid`, with every other process that has it open too."""
    mine = _pipes(pid)
    others: dict[str, list[str]] = {pipe: [] for pipe in mine}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != pid:
            for pipe, fds in _pipes(int(entry.name)).items():
                if pipe in others:
                    others[pipe].append(f"{entry.name} (fd {', '.join(fds)})")
    return [
        f"  {pipe} as fd {', '.join(fds)}, also open in: {'; '.join(others[pipe]) or 'none'}"
        for pipe, fds in mine.items()
    ]


def _pipes(pid: int) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    with contextlib.suppress(OSError):
        for fd in (Path("/proc") / str(pid) / "fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("pipe:"):
                    found.setdefault(target, []).append(fd.name)
    return found


def backgrounds(master: int) -> list[int]:
    return [pid for pid, command in children(master).items() if command.endswith("-m api.serve")]


def background_of(master: int) -> int:
    (found,) = backgrounds(master)
    return found


# -------------------------------------------------------------------- serve


@dataclass
class Serve(Running):
    stderr: Path

    def log(self) -> list[dict[str, Any]]:
        lines = self.stderr.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def messages(self) -> list[str]:
        return [line["message"] for line in self.log()]


def start_serve(url: str, logs: Path, admin_key: str | None = None) -> Serve:
    """`loyalty-ledger serve` on a free port, once it answers and its projections run."""
    logs.mkdir()
    port = free_port()
    out, err = logs / "serve.out", logs / "serve.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [*cli(), "serve", "--port", str(port), "--workers", "2"],
            cwd=logs,
            env=service_env(url),
            stdout=stdout,
            stderr=stderr,
        )
    base = f"http://127.0.0.1:{port}"
    groups = ["finance", "members"] if url.startswith("postgresql") else ["members, finance"]
    try:
        until(lambda: requests.get(base + "/healthz", timeout=5).ok, "serve to answer")
        until(lambda: sorted(_active_groups(err)) == groups, "the projection runners to be active")
    except BaseException:
        process.kill()
        process.wait()
        raise
    if admin_key is None:
        (admin_key,) = re.findall(r"llk_[A-Za-z0-9_-]+", out.read_text())
    return Serve(process, base, admin_key, err)


def _active_groups(stderr: Path) -> list[str]:
    found = re.findall(r"projection runner active \(([^)]*)\)", stderr.read_text())
    return [str(groups) for groups in found]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def serving(url: str, tmp_path: Path) -> Any:
    started: list[Serve] = []

    def start(name: str, admin_key: str | None = None) -> Serve:
        started.append(start_serve(url, tmp_path / name, admin_key))
        return started[-1]

    yield start
    for serve in started:
        serve.process.kill()
        serve.process.wait()
    # Whatever outlived its serve (the defect these tests look for) still runs in its cwd.
    for pid in started_in(tmp_path):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def started_in(directory: Path) -> list[int]:
    """The live processes working in `directory` or below (children inherit the cwd)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if entry.name.isdigit() and cwd.is_relative_to(directory) and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _accrue(s: Serve, shop: str, tx: str, member: str, amount: str, **extra: Any) -> Any:
    body = {
        "transaction_id": tx,
        "member_id": member,
        "amount": amount,
        "currency": "EUR",
        "occurred_at": datetime.now(UTC).isoformat(),
        **extra,
    }
    return s.call("POST", "/v1/accruals", body, shop)


def _projected(s: Serve, shop: str, member: str) -> tuple[int, int] | None:
    """(available, pending) as a plain read (the projection, no min_position) shows them."""
    response = requests.get(
        f"{s.base}/v1/members/{member}/balance",
        headers={"Authorization": f"Bearer {shop}"},
        timeout=30,
    )
    if response.status_code == 404:
        return None  # not projected yet
    assert response.status_code == 200, response.text
    return response.json()["available"], response.json()["pending"]


# -------------------------------------------------------------------- tests


def test_kill_9_of_the_background_process_starts_another(serving: Any) -> None:
    s = serving("serve")
    shop = open_shop(s)
    master = s.process.pid
    killed = background_of(master)

    os.kill(killed, signal.SIGKILL)
    until(lambda: not alive(killed), "the killed background process to be gone")
    (restarted,) = until(
        lambda: [pid for pid in backgrounds(master) if pid != killed], "a new background process"
    )
    # One that keeps dying is restarted after longer pauses.
    os.kill(restarted, signal.SIGKILL)
    (third,) = until(
        lambda: [pid for pid in backgrounds(master) if pid not in (killed, restarted)],
        "a third background process",
    )
    assert [m for m in s.messages() if m.startswith("background process")] == [
        f"background process started (pid {killed})",
        f"background process (pid {killed}) was killed by SIGKILL; restarting it in 1 s",
        f"background process started (pid {restarted})",
        f"background process (pid {restarted}) was killed by SIGKILL; restarting it in 2 s",
        f"background process started (pid {third})",
    ]

    # Projections resume: a write made after the kill shows in a plain read.
    s.call("POST", "/v1/members", {"member_id": "after"}, shop)
    assert _accrue(s, shop, "t-after", "after", "10.00")["points"] == 10
    until(lambda: _projected(s, shop, "after") == (10, 0), "the projection")
    # The periodic sweep runs again: points that become available a few seconds after they
    # were recorded are activated by it (nothing else touches this member).
    s.call("POST", "/v1/members", {"member_id": "pending"}, shop)
    soon = datetime.now(UTC) - timedelta(days=1) + timedelta(seconds=10)
    accrual = _accrue(
        s, shop, "t-pending", "pending", "7.00", occurred_at=soon.isoformat(), pending_days=1
    )
    assert (accrual["status"], accrual["balance"]["pending"]) == ("pending", 7)
    until(lambda: _projected(s, shop, "pending") == (7, 0), "the sweep to activate the points")
    assert alive(third)
    assert s.stop() == 0
    assert "Traceback" not in s.stderr.read_text()


def _readiness(s: Serve) -> tuple[int, str, str | None, dict[str, Any]]:
    """/readyz's status, content type, Retry-After and body."""
    response = requests.get(s.base + "/readyz", timeout=30)
    status, headers, body = response.status_code, response.headers, response.json()
    return status, headers["Content-Type"], headers.get("Retry-After"), body


def test_readyz_is_503_while_the_background_process_is_down(serving: Any) -> None:
    """No writes arrive, so the projection lag would not show it. The arbiter is frozen
    (SIGSTOP) in its pause before the restart, which keeps the process down for as long as the
    test looks; SIGCONT lets it restart the process, and /readyz is 200 again."""
    s = serving("serve")
    master = s.process.pid
    assert _readiness(s) == (200, "application/json", None, {"status": "ready"})
    killed = background_of(master)

    os.kill(killed, signal.SIGKILL)
    said = f"background process (pid {killed}) was killed by SIGKILL; restarting it in 1 s"
    until(lambda: said in s.messages(), "the arbiter to see it die", every=0.01)
    s.process.send_signal(signal.SIGSTOP)
    try:
        # Several probes, so that both HTTP workers are likely to answer some.
        probes = [_readiness(s) for _ in range(6)]
    finally:
        s.process.send_signal(signal.SIGCONT)
    problem = {
        "type": "https://loyalty-ledger.dev/problems/unavailable",
        "title": "The database is unavailable; retry",
        "status": 503,
        "detail": "The background process (projections and the periodic sweep) is not "
        "running; serve is restarting it.",
    }
    assert probes == [(503, "application/problem+json", "2", problem)] * 6

    (restarted,) = until(
        lambda: [pid for pid in backgrounds(master) if pid != killed], "a new background process"
    )
    until(lambda: _readiness(s)[0] == 200, "/readyz to be 200 again")
    assert _readiness(s) == (200, "application/json", None, {"status": "ready"})
    assert alive(restarted)
    assert s.stop() == 0


def test_kill_9_of_serve_takes_its_processes_along_and_a_new_serve_is_active(
    serving: Any, url: str, tmp_path: Path
) -> None:
    first = serving("first")
    shop = open_shop(first)
    master = first.process.pid
    background = background_of(master)
    helpers = children(background)
    on_postgres = url.startswith("postgresql")
    assert [command.split("-m ")[-1].split()[:2] for command in helpers.values()] == (
        [["projections.worker", "finance"]] if on_postgres else []
    )
    workers = [pid for pid in children(master) if pid != background]
    assert len(workers) == 2
    # Every projection at the head first: else the new serve's first sweep catches up what is
    # left itself (no runner of that serve is active yet), holding a group's lock meanwhile,
    # and the new runner rightly says it stands by.
    head = _log_head(url)
    until(lambda: _tracking(url) == [head], "the projections to apply the log")

    first.process.send_signal(signal.SIGKILL)
    first.process.wait(10)
    for pid in (background, *helpers, *workers):
        until_gone(pid, f"process {pid} to exit with serve", first.stderr)
    assert _locks_held(url, tmp_path) == []

    second = serving("second", admin_key=first.admin_key)
    assert "standing by" not in second.stderr.read_text()
    second.call("POST", "/v1/members", {"member_id": "m-second"}, shop)
    assert _accrue(second, shop, "t-second", "m-second", "12.00")["points"] == 12
    until(lambda: _projected(second, shop, "m-second") == (12, 0), "the new projections")
    assert second.stop() == 0


def _locks_held(url: str, tmp_path: Path) -> list[str]:
    """The projection groups whose lock some process holds."""
    if url.startswith("postgresql"):
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT objid FROM pg_locks WHERE locktype = 'advisory' "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchall()
        return [str(row[0]) for row in rows]
    held = []
    for group in ("members", "finance"):
        with open(tmp_path / f"ledger.sqlite.projections-{group}.lock", "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                held.append(group)
    return held


# ------------------------------------------------------- project --rebuild


@dataclass
class Project:
    process: subprocess.Popen[bytes]
    stderr: Path

    def err(self) -> str:
        return self.stderr.read_text()

    def said(self) -> list[str]:
        """What the worker logged (its JSON lines)."""
        lines = [json.loads(line) for line in self.err().splitlines() if line.startswith("{")]
        return [line["message"] for line in lines if line["logger"] == "projections.worker"]


def _project(url: str, logs: Path, name: str, *args: str) -> Project:
    stderr = logs / f"{name}.err"
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            [*cli(), "project", *args], env=service_env(url), cwd=logs, stderr=err
        )
    return Project(process, stderr)


def _log_head(url: str) -> int:
    ledger = Ledger(settings=Settings(database_url=url))
    try:
        return int(ledger.recorder.max_notification_id() or 0)
    finally:
        ledger.close()


def _tracking(url: str) -> list[int]:
    target = open_target(Settings(database_url=url))
    try:
        return sorted(set(target.positions().values()))
    finally:
        target.close()


def test_project_rebuild_says_another_runner_holds_the_lock(
    url: str, clock: ManualClock, tmp_path: Path
) -> None:
    settings = Settings(database_url=url)
    migrate(settings)
    ledger = Ledger(settings=settings, clock=clock)
    try:
        build_coalition(ledger, clock)
        head = int(ledger.recorder.max_notification_id() or 0)
    finally:
        ledger.close()
    holder = _project(url, tmp_path, "holder")
    started = [holder]
    try:
        until(lambda: _tracking(url) == [head], "the holding runner to catch up")

        # It says at once whose lock it waits for; SIGTERM then exits 143, claiming nothing.
        waiting = _project(url, tmp_path, "waiting", "--rebuild", "--once")
        started.append(waiting)
        until(lambda: waiting.said(), "the waiting message")
        waiting.process.send_signal(signal.SIGTERM)
        assert waiting.process.wait(60) == 143
        assert waiting.said() == [
            "another runner holds the projection lock of members, finance; "
            "waiting until it stops before rebuilding"
        ]
        assert waiting.err().splitlines()[-1] == (
            "Error: stopped while waiting for the lock; nothing was rebuilt"
        )
        assert "rebuilt to" not in waiting.err()
        assert _tracking(url) == [head]

        # With --wait it gives up after that long: 75, claiming nothing.
        timed = _project(url, tmp_path, "timed", "--rebuild", "--once", "--wait", "2")
        started.append(timed)
        assert timed.process.wait(60) == 75
        assert timed.said() == [
            "another runner holds the projection lock of members, finance; "
            "waiting for at most 2 s before rebuilding"
        ]
        assert timed.err().splitlines()[-1] == (
            "Error: another runner (`serve` or `project`) still holds the projection lock "
            "of members, finance after 2 s; nothing was rebuilt"
        )
        assert "rebuilt to" not in timed.err()

        # A plain runner says it stands by (on PostgreSQL its worker applies `members`; the
        # helper for `finance` starts only once it is active).
        standby = _project(url, tmp_path, "standby")
        started.append(standby)
        until(lambda: standby.said(), "the standby message")
        standby.process.send_signal(signal.SIGTERM)
        assert standby.process.wait(60) == 0
        expected = "members" if url.startswith("postgresql") else "members, finance"
        assert standby.said() == [
            f"another runner holds the projection lock of {expected}; standing by"
        ]

        # Once the holder stops, a waiting rebuild goes ahead and says what it did.
        rebuild = _project(url, tmp_path, "rebuild", "--rebuild", "--once", "--wait", "60")
        started.append(rebuild)
        until(lambda: rebuild.said(), "the waiting message")
        holder.process.send_signal(signal.SIGTERM)
        assert holder.process.wait(60) == 0
        assert rebuild.process.wait(120) == 0
        assert rebuild.err().splitlines()[-2:] == [
            f"rebuilt to position {head}",
            f"caught up to position {head}",
        ]
        assert _tracking(url) == [head]
    finally:
        for project in started:
            project.process.kill()
            project.process.wait()


def test_a_helper_stops_when_its_parents_pipe_closes(url: str, tmp_path: Path) -> None:
    """The portable half of dying with the parent, alone: the parent lives on (so no
    parent-death signal) but its end of the pipe closes, as it does when a parent dies."""
    settings = Settings(database_url=url, projection_poll_seconds=0.1)
    migrate(settings)
    stderr = tmp_path / "helper.err"
    with stderr.open("wb") as err:
        helper = subprocess.Popen(
            [sys.executable, "-m", "projections.worker", "finance"],
            stdin=subprocess.PIPE,
            stderr=err,
            cwd=Path(__file__).resolve().parents[2],
        )
    try:
        assert helper.stdin is not None
        helper.stdin.write(json.dumps(dataclasses.asdict(settings)).encode() + b"\n")
        helper.stdin.flush()
        until(lambda: "projection runner active (finance)" in stderr.read_text(), "the helper")
        helper.stdin.close()
        assert helper.wait(30) == 0
        lines = [line for line in stderr.read_text().splitlines() if line.startswith("{")]
        gone = [json.loads(line) for line in lines if "is gone" in line]
        assert [(line["logger"], line["message"]) for line in gone] == [
            ("projections.lifeline", f"parent process {os.getpid()} is gone; stopping")
        ]
    finally:
        helper.kill()
        helper.wait()


def _pending_signals(pid: int) -> int:
    status = (Path("/proc") / str(pid) / "status").read_text()
    masks = re.findall(r"^(?:SigPnd|ShdPnd):\s*([0-9a-f]+)$", status, re.MULTILINE)
    return functools.reduce(operator.or_, (int(mask, 16) for mask in masks), 0)


@pytest.fixture
def long_log(pg_url: str) -> str:
    """30,000 events: a replay takes seconds."""
    settings = Settings(database_url=pg_url)
    migrate(settings)
    ledger = Ledger(settings=settings)
    try:
        _bench().generate(ledger, 30_000)
    finally:
        ledger.close()
    return pg_url


@pytest.mark.postgres
def test_project_rebuild_stopped_while_replaying_says_how_far_it_got_postgres(
    long_log: str, tmp_path: Path
) -> None:
    """SIGTERM while the `finance` helper still replays (frozen by SIGSTOP, so the rebuild
    cannot be done yet): 143, the position it stopped at, no claim to have rebuilt."""
    head = _head(long_log)
    rebuild = _project(long_log, tmp_path, "rebuild", "--rebuild", "--once")
    helper = None
    try:
        (helper,) = until(
            lambda: [p for p, c in children(rebuild.process.pid).items() if "--once" in c],
            "the finance helper",
        )
        os.kill(helper, signal.SIGSTOP)
        rebuild.process.send_signal(signal.SIGTERM)
        # The rebuild gave up (and worked out its position) before it stops its helpers.
        until(lambda: _pending_signals(helper) & (1 << (signal.SIGTERM - 1)), "the helper's stop")
        os.kill(helper, signal.SIGCONT)
        assert rebuild.process.wait(60) == 143
        last = rebuild.err().splitlines()[-1]
        found = re.fullmatch(
            r"Error: rebuild stopped at position (\d+), before the log head; "
            r"a runner \(`serve` or `project`\) carries on from there",
            last,
        )
        assert found, last
        assert int(found[1]) < head
        assert "rebuilt to" not in rebuild.err()
        until(lambda: not alive(helper), "the helper to exit")
    finally:
        rebuild.process.kill()
        rebuild.process.wait()
        if helper is not None and alive(helper):
            os.kill(helper, signal.SIGKILL)  # a stopped process keeps its SIGTERM pending
