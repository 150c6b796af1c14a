"""Running a sweep: find the members with something due, then let each member decide.

Due members come from the lots and tier projections, caught up to the log head first so the
sweep covers every write acknowledged before it started (ARCHITECTURE §6).
"""

from __future__ import annotations

import threading
from datetime import datetime

from ledger.application import Ledger, SweepReport
from projections.runner import ProjectionRunner, ensure_applied
from projections.store import Target, open_target

CATCH_UP_WAIT_SECONDS = 30.0


def due_member_ids(target: Target, as_of: datetime, lowest_tier: str) -> list[str]:
    """Members with a lot to activate or expire at `as_of`, or whose tier guarantee lapsed."""
    lots = target.query(
        "SELECT DISTINCT b.member_id AS member_id FROM member_lots l "
        "JOIN member_balances b ON b.member_key = l.member_key "
        "WHERE b.status <> 'closed' AND ((l.is_pending AND l.available_at <= ?) "
        "OR (l.remaining > 0 AND l.expires_at <= ?))",
        [as_of, as_of],
    )
    tiers = target.query(
        "SELECT b.member_id AS member_id FROM member_tiers t "
        "JOIN member_balances b ON b.member_key = t.member_key "
        "WHERE b.status <> 'closed' AND t.tier <> ? "
        "AND (t.guaranteed_until IS NULL OR t.guaranteed_until <= ?)",
        [lowest_tier, as_of],
    )
    return sorted({r["member_id"] for r in lots} | {r["member_id"] for r in tiers})


def run_sweep(
    ledger: Ledger,
    as_of: datetime | None = None,
    target: Target | None = None,
    stop: threading.Event | None = None,
) -> SweepReport:
    """Emit every activation, expiry and downgrade due at `as_of` (default now).

    Once `stop` is set (the process is shutting down) a sweep still waiting for the
    projections gives up and emits nothing: the next process's sweep covers it."""
    as_of = as_of or ledger.clock.now()
    own = target is None
    target = target or open_target(ledger.settings)
    try:
        if own:
            target.ensure_schema()
        head = ProjectionRunner(ledger, target).head()
        if not ensure_applied(ledger, target, head, CATCH_UP_WAIT_SECONDS, stop):
            if stop is not None and stop.is_set():
                return SweepReport(as_of=as_of)
            # The index could not be trusted in time: every member is looked at instead.
            return ledger.sweep(as_of)
        lowest = ledger.program().ladder.lowest.code
        return ledger.sweep(as_of, due_member_ids(target, as_of, lowest))
    finally:
        if own:
            target.close()
