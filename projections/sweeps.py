"""Running a sweep: find the members with something due, then let each member decide."""

from __future__ import annotations

from datetime import datetime

from ledger.application import Ledger, SweepReport


def run_sweep(ledger: Ledger, as_of: datetime | None = None) -> SweepReport:
    """Emit every activation, expiry and downgrade due at `as_of` (default now)."""
    return ledger.sweep(as_of)
