"""One write pipeline per process: every write waits in one queue, one committer thread runs
what is waiting as one unit of work in one transaction.

Single requests, batches, imports, sweeps and admin writes all enter here and block until
their commands are done. The committer takes up to `MAX_GROUP` waiting commands, oldest
submission first; a submission it could not take whole (a long batch) goes back behind
everyone who arrived meanwhile, so a single request waits at most one group behind a batch,
and a batch still gets most of every group however many single requests arrive. Two writers
in one process therefore never conflict with each other, and a command's share of the round
trips, the table lock and the fsync shrinks as load grows.

Each command runs in its own `UnitOfWork.operation()`, so it stays all-or-nothing and
idempotent on its own, and its caller gets exactly what it would have got alone: its answer,
or its LedgerError. A failure of the store reaches every caller of the group; any other
exception in a command (a bug) is that command's alone, the others are answered.

A save that loses to another process (an IntegrityError on the events' primary key) does not
redo the group: the store is asked for the current version of every aggregate the group
writes (one query), and only the commands that read or wrote an aggregate that moved, or one
of theirs, run again, in their original order, on fresh copies (the rest keep their events).
On PostgreSQL that re-run holds the store's table lock from before it reads until it
commits, and under heavy contention the next groups do too, for as long as it lasts: commits
are serialised by that lock anyway, and what is worked out under it cannot conflict, so two
processes writing the same aggregates in bulk take turns instead of working everything out
twice.
The figures are in docs/PERFORMANCE.md (Concurrent writers).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError, PersistenceError

from ledger.commands import Command
from ledger.errors import LedgerError
from ledger.infrastructure.collector import collector_paused
from ledger.infrastructure.unit_of_work import OperationMark, Positions, UnitOfWork

log = logging.getLogger("ledger.pipeline")

MAX_GROUP = 1000
# Conflicts one group may meet before its callers hear the last one. Under the table lock a
# group cannot conflict again, so only writers that do not take it (a SQLite file shared by
# processes) come near this.
MAX_RERUNS = 20
# A re-run always holds the table lock (PostgreSQL), so it cannot lose again. The groups
# after it take the lock before reading too, for CONTENDED_SECONDS, once a conflict made at
# least CONTENDED_RERUNS commands run again (another process writes the same aggregates in
# bulk) or the lock took longer than LOCK_WAITED to get (another process works out a group
# under it); a conflict of a few single requests is cheaper to re-run than to lock for.
# A group of BULK_GROUP commands or more (a batch) takes the lock before reading from the
# start: losing its first optimistic save to another process would cost it a whole re-run.
CONTENDED_SECONDS = 1.0
CONTENDED_RERUNS = 100
BULK_GROUP = 100
LOCK_WAITED = 0.02
# Failures of the database or its driver: not a command's fault, so every caller hears them.
STORE_ERRORS: tuple[type[Exception], ...] = (PersistenceError, psycopg.Error, sqlite3.Error)

H = TypeVar("H")  # what a handler returns
R = TypeVar("R")  # what a caller gets for an applied command

Handle = Callable[[UnitOfWork, datetime, Command], H]
Answer = Callable[[H, OperationMark, Positions], R]
Versions = Callable[[Sequence[UUID]], dict[UUID, int]]
Lock = Callable[[], AbstractContextManager[float]]


class _Submission:
    """One caller's commands, their results as they come, and its wake-up."""

    __slots__ = ("commands", "done", "error", "remaining", "results", "taken")

    def __init__(self, commands: Sequence[Command]) -> None:
        self.commands = commands
        self.results: list[Any] = [None] * len(commands)
        self.taken = 0  # commands handed to groups so far
        self.remaining = len(commands)  # commands not answered yet
        self.error: BaseException | None = None
        self.done = threading.Event()


@dataclass(eq=False, slots=True)
class _Piece:
    submission: _Submission
    start: int
    stop: int


class _Staged:
    """One command of a group: its latest run, and what every run of it reached."""

    __slots__ = ("affected", "command", "earlier", "earlier_written", "error", "handled", "mark")

    def __init__(self, command: Command) -> None:
        self.command = command
        self.handled: Any = None
        self.error: Exception | None = None
        self.mark = _NOT_RUN
        # What the runs before the latest read or wrote, and wrote.
        self.earlier: list[UUID] = []
        self.earlier_written: list[UUID] = []
        self.affected = False

    def written(self) -> set[UUID]:
        """The aggregates its latest run changed."""
        return {domain_event.originator_id for domain_event in self.mark.events}

    def reached(self) -> set[UUID]:
        return {*self.mark.touched, *self.earlier}

    def wrote(self) -> set[UUID]:
        return {*self.written(), *self.earlier_written}


_NOT_RUN = OperationMark()


class WritePipeline(Generic[H, R]):
    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        handle: Handle[H],
        aggregates_needed: Callable[[Sequence[Command]], Iterable[UUID]],
        answer: Answer[H, R],
        versions: Versions,
        now: Callable[[], datetime],
        lock: Lock | None = None,
        max_group: int = MAX_GROUP,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._handle = handle
        self._aggregates_needed = aggregates_needed
        self._answer = answer
        self._versions = versions
        self._now = now
        self._lock = lock
        self._max_group = max_group
        self._waiting: deque[_Submission] = deque()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._contended_until = 0.0
        # Seen by tests and benches: groups run, conflicts met, commands run again.
        self.groups = 0
        self.conflicts = 0
        self.reruns = 0

    # ------------------------------------------------------------------ callers

    def execute(self, commands: Sequence[Command]) -> list[R | LedgerError]:
        """Each command's answer or LedgerError, in order, once all of them are done.

        A command that failed otherwise (a bug) raises its error here, after the others
        were done; a failure of the store raises here for every command not yet saved.
        """
        if not commands:
            return []
        submission = _Submission(commands)
        with self._ready:
            self._stopping = False
            self._ensure_thread()
            self._waiting.append(submission)
            self._ready.notify()
        submission.done.wait()
        if submission.error is not None:
            raise submission.error
        for result in submission.results:
            if isinstance(result, Exception) and not isinstance(result, LedgerError):
                raise result
        return submission.results

    def close(self) -> None:
        """Let the committer thread end once nothing is waiting (a later write starts it)."""
        with self._ready:
            self._stopping = True
            self._ready.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def _ensure_thread(self) -> None:
        # Started on first use, so a process forked after construction gets its own thread.
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._serve, name="write-pipeline", daemon=True)
            self._thread.start()

    # --------------------------------------------------------------- committer

    def _serve(self) -> None:
        while True:
            group = self._take(block=True)
            if not group:
                return
            while group:
                # Paused per group, as a batch's caller pauses it for the whole batch: held
                # across groups under steady load it never ran, and then ran long, with every
                # request thread stopped (reads beside writes waited up to half a second).
                with collector_paused():
                    self._process(group)
                group = self._take(block=False)

    def _take(self, block: bool) -> list[_Piece]:
        """Up to `max_group` commands, oldest submission first (empty: stop serving)."""
        with self._ready:
            while block and not self._waiting:
                if self._stopping:
                    return []
                self._ready.wait()
            pieces: list[_Piece] = []
            budget = self._max_group
            while self._waiting and budget > 0:
                submission = self._waiting.popleft()
                start = submission.taken
                stop = min(len(submission.commands), start + budget)
                submission.taken = stop
                pieces.append(_Piece(submission, start, stop))
                budget -= stop - start
                if stop < len(submission.commands):
                    self._waiting.append(submission)  # the rest, behind who came meanwhile
            return pieces

    def _process(self, group: list[_Piece]) -> None:
        self.groups += 1
        staged = [
            _Staged(piece.submission.commands[index])
            for piece in group
            for index in range(piece.start, piece.stop)
        ]
        try:
            positions = self._save(staged)
            answers = [
                item.error
                if item.error is not None
                else self._answer(item.handled, item.mark, positions)
                for item in staged
            ]
        except BaseException as error:  # the store failed: every caller of the group hears it
            self._fail(group, error)
            return
        offset = 0
        for piece in group:
            submission, count = piece.submission, piece.stop - piece.start
            submission.results[piece.start : piece.stop] = answers[offset : offset + count]
            offset += count
            submission.remaining -= count
            if submission.remaining == 0:
                submission.done.set()

    def _fail(self, group: list[_Piece], error: BaseException) -> None:
        with self._ready:
            for piece in group:
                submission = piece.submission
                if submission in self._waiting:
                    self._waiting.remove(submission)  # the rest of its commands stays undone
                submission.error = error
                submission.done.set()

    # ------------------------------------------------------------ one transaction

    def _save(self, staged: list[_Staged]) -> Positions:
        """Run the group's commands and save their events; after a conflict with another
        writer, run again only what it affected, until the save holds."""
        with self._unit_of_work() as uow:
            attempt = 0
            conflict: IntegrityError | None = None
            while True:
                locked = self._lock is not None and (
                    attempt > 0
                    or len(staged) >= BULK_GROUP
                    or time.monotonic() < self._contended_until
                )
                try:
                    with self._lock() if locked and self._lock else nullcontext(0.0) as waited:
                        reran = 0
                        if attempt == 0:
                            uow.prefetch(self._aggregates_needed([s.command for s in staged]))
                            for item in staged:
                                self._run(uow, item)
                        else:
                            reran = self._run_changed(uow, staged, conflict)
                        positions = uow.commit()
                    if waited > LOCK_WAITED or reran >= CONTENDED_RERUNS:
                        self._contended_until = time.monotonic() + CONTENDED_SECONDS
                    return positions
                except IntegrityError as error:
                    attempt += 1
                    self.conflicts += 1
                    if attempt > MAX_RERUNS:
                        raise
                    conflict = error

    def _run(self, uow: UnitOfWork, item: _Staged) -> None:
        if item.mark is not _NOT_RUN:
            item.earlier.extend(item.mark.touched)
            item.earlier_written.extend(item.written())
            item.handled, item.error = None, None
        try:
            with uow.operation() as mark:
                item.mark = mark
                item.handled = self._handle(uow, self._now(), item.command)
        except LedgerError as error:
            item.error = error
        except STORE_ERRORS:
            raise
        except Exception as error:  # a bug in this command: the others go on
            log.exception("command %s failed", item.command.operation)
            item.error = error

    def _run_changed(
        self, uow: UnitOfWork, staged: list[_Staged], conflict: IntegrityError | None
    ) -> int:
        """Run again, in order and on fresh copies, the commands that read or wrote an
        aggregate another writer changed since it was read, or one that such a command
        wrote; the other commands keep their events. Returns how many ran again."""
        first_versions: dict[UUID, int] = {}
        for domain_event in uow.events:
            first_versions.setdefault(domain_event.originator_id, domain_event.originator_version)
        stored = self._versions(list(first_versions))
        changed = {
            aggregate_id
            for aggregate_id, version in first_versions.items()
            if stored.get(aggregate_id, 0) != version - 1
        }
        if not changed and conflict is not None:
            raise conflict  # not a lost race: the same save would fail again
        for item in staged:
            item.affected = False
        while True:
            rebuilt = self._mark_affected(staged, changed)
            uow.rebuild(rebuilt, [e for s in staged if not s.affected for e in s.mark.events])
            late = False
            for index, item in enumerate(staged):
                if item.affected:
                    self.reruns += 1
                    self._run(uow, item)
                    late = self._mark_overtaken(staged, index, rebuilt) or late
            if not late:
                break
        # In the log as in the group: each command's events in the commands' order (each
        # aggregate's own events keep their order, as no two commands that share one swapped).
        uow.events = [e for item in staged for e in item.mark.events]
        reran = sum(item.affected for item in staged)
        log.info(
            "%d of %d commands ran again after a conflict with another writer", reran, len(staged)
        )
        return reran

    @staticmethod
    def _mark_affected(staged: list[_Staged], changed: set[UUID]) -> set[UUID]:
        """Mark each command that read or wrote a changed aggregate, or one written by a
        command marked before it; return those aggregates, to be read afresh."""
        dirty = set(changed)
        for item in staged:
            if item.affected or not dirty.isdisjoint(item.reached()):
                item.affected = True
                dirty |= item.wrote()
        return dirty

    @staticmethod
    def _mark_overtaken(staged: list[_Staged], index: int, rebuilt: set[UUID]) -> bool:
        """Mark the later unmarked commands that the re-run at `index` overtook: it wrote an
        aggregate they read, or read one they wrote, that was not read afresh (so it holds
        their events already). They run again after it; True if there were any."""
        item = staged[index]
        written = item.written() - rebuilt
        read = set(item.mark.touched) - rebuilt
        if not read:
            return False
        overtaken = False
        for later in staged[index + 1 :]:
            if not later.affected and (
                not written.isdisjoint(later.reached()) or not read.isdisjoint(later.wrote())
            ):
                later.affected = overtaken = True
        return overtaken
