"""API keys are cached briefly per process: revocation is immediate where it happens and
within LEDGER_KEY_CACHE_SECONDS everywhere else."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from ledger.application import Ledger
from ledger.clock import ManualClock
from ledger.config import Settings
from projections.eventlog import open_ledger


@contextmanager
def two_processes(settings: Settings, clock: ManualClock) -> Iterator[tuple[Ledger, Ledger]]:
    """Two ledgers on one database, each with its own key cache, as two processes would be."""
    here = open_ledger(settings=settings, clock=clock)
    there = open_ledger(settings=settings, clock=clock)
    try:
        yield here, there
    finally:
        here.close()
        there.close()


def test_revocation_reaches_another_process_within_the_cache_time(
    database_url: str, clock: ManualClock
) -> None:
    settings = Settings(database_url=database_url, key_cache_seconds=0.3)
    with two_processes(settings, clock) as (here, there):
        token, key = here.issue_key("auditor", None, "audit desk")
        assert there.authenticate(token) is not None  # now cached over there

        here.revoke_key(key.key_id)

        assert here.authenticate(token) is None  # the revoking process knows at once
        assert there.authenticate(token) is not None  # the other trusts its cache briefly
        time.sleep(0.4)
        assert there.authenticate(token) is None
        assert there.authenticate("llk_not-a-key") is None


def test_without_a_cache_revocation_is_seen_everywhere_at_once(
    database_url: str, clock: ManualClock
) -> None:
    settings = Settings(database_url=database_url, key_cache_seconds=0)
    with two_processes(settings, clock) as (here, there):
        token, key = here.issue_key("finance", None, "finance desk")
        assert there.authenticate(token) is not None
        here.revoke_key(key.key_id)
        assert there.authenticate(token) is None
