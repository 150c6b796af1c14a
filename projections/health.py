"""How far the projections trail the log, and what a runner does when a group fails.

`status` is read from the database (the tracking table against the log's head), so every
process can answer it: the HTTP workers' `/metrics` and `/readyz`, whichever process or host
runs the projections (`serve`'s background process and its helpers, `loyalty-ledger project`).

`Failures` is a runner's memory of its groups that failed: a database error (the server
restarted or is down) is retried after 1, 2, 4 ... s; an error applying an event (a row the
database refuses, say) first narrows the batch down to the one event that fails, applying
everything before it, then logs that event's position and is retried with the same back-off.
Each logged failure counts in `ledger_projection_failures_total`. The group's other
projections and the other groups are not held up by it.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError
from prometheus_client import Counter

from ledger.application import Ledger
from projections.runner import CATCH_UP_BATCH
from projections.store import CONNECTION_ERRORS, Target

log = logging.getLogger("projections.worker")

RETRY_MAX_SECONDS = 30.0
# The database, not an event, failed: narrowing the batch would not find anything.
DATABASE_ERRORS = (*CONNECTION_ERRORS, OperationalError, InterfaceError, sqlite3.OperationalError)

FAILURES = Counter(
    "ledger_projection_failures",
    "Failed projection rounds (each logged with the group and the position), by group",
    ["group"],
)


def status(ledger: Ledger, target: Target, names: list[str]) -> list[dict[str, Any]]:
    """Per projection: the position it applied, the log's head, the events it has yet to
    apply and the age of the oldest of them (the time since it was recorded)."""
    head = int(ledger.recorder.max_notification_id() or 0)
    positions = target.positions()
    now = datetime.now(UTC)
    ages: dict[int, float] = {}
    found = []
    for name in names:
        position = positions.get(name, 0)
        if position < head and position not in ages:
            ages[position] = _age(ledger, position + 1, now)
        found.append(
            {
                "name": name,
                "position": position,
                "head": head,
                "lag_events": max(head - position, 0),
                "lag_seconds": ages.get(position, 0.0) if position < head else 0.0,
            }
        )
    return found


def _age(ledger: Ledger, position: int, now: datetime) -> float:
    first = ledger.recorder.select_notifications(start=position, limit=1)
    if not first:
        return 0.0
    recorded: datetime = ledger.mapper.to_domain_event(first[0]).timestamp  # type: ignore[attr-defined]
    return max((now - recorded).total_seconds(), 0.0)


@dataclass
class _Failing:
    batch_size: int = CATCH_UP_BATCH
    attempts: int = 0  # failures logged in a row
    retry_at: float = 0.0  # on time.monotonic()


class Failures:
    def __init__(self) -> None:
        self._failing: dict[str, _Failing] = {}

    def parts(self, groups: list[str]) -> list[list[str]]:
        """What to catch up this round, each part on its own: the groups in good health
        together, each failed one that is due alone."""
        now = time.monotonic()
        healthy = [g for g in groups if g not in self._failing]
        due = [[g] for g in groups if g in self._failing and self._failing[g].retry_at <= now]
        return ([healthy] if healthy else []) + due

    def batch_size(self, part: list[str]) -> int:
        return min(
            (self._failing[g].batch_size for g in part if g in self._failing),
            default=CATCH_UP_BATCH,
        )

    def next_retry(self, groups: list[str]) -> float | None:
        """Seconds until the first failed group of `groups` is due (None: none failed)."""
        waits = [self._failing[g].retry_at for g in groups if g in self._failing]
        return max(min(waits) - time.monotonic(), 0.0) if waits else None

    def succeeded(self, part: list[str], position: int) -> None:
        for group in part:
            failing = self._failing.pop(group, None)
            if failing is not None and failing.attempts:
                log.info(
                    "projection group %s applying again (position %s)",
                    group,
                    position,
                    extra={"fields": {"group": group, "position": position}},
                )

    def failed(self, part: list[str], error: Exception, position: int | None) -> None:
        """`part` failed from `position` (None: unknown, the database is down)."""
        if len(part) > 1:
            # Which of them failed is not known: each runs on its own from the next round.
            for group in part:
                self._failing[group] = _Failing()
            return
        group = part[0]
        failing = self._failing.setdefault(group, _Failing())
        database = isinstance(error, DATABASE_ERRORS)
        if not database and failing.batch_size > 1:
            failing.batch_size //= 2  # at once: the events before the failing one apply
            return
        failing.attempts += 1
        wait = min(2.0 ** (failing.attempts - 1), RETRY_MAX_SECONDS)
        failing.retry_at = time.monotonic() + wait
        FAILURES.labels(group=group).inc()
        fields = {
            "group": group,
            "position": position,
            "error": f"{type(error).__name__}: {error}",
            "attempts": failing.attempts,
            "retry_in_seconds": wait,
        }
        if database:
            log.warning(
                "projection group %s: database error%s (%s); reconnecting and retrying in %.0f s",
                group,
                "" if position is None else f" at position {position}",
                fields["error"],
                wait,
                extra={"fields": fields},
            )
        else:
            failed_at = None if position is None else position + 1
            fields["failed_position"] = failed_at
            log.error(
                "projection group %s cannot apply the event at position %s (%s); "
                "retrying in %.0f s",
                group,
                failed_at,
                fields["error"],
                wait,
                extra={"fields": fields},
            )
