"""A revocation holds at once in every process: each looks its key's version up per request,
so a key it loaded earlier is reused only while no event (a revocation) has followed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ledger.application import Ledger
from ledger.clock import ManualClock
from ledger.config import Settings


@contextmanager
def two_processes(settings: Settings, clock: ManualClock) -> Iterator[tuple[Ledger, Ledger]]:
    """Two ledgers on one database, each with its own loaded keys, as two processes would be."""
    here = Ledger(settings=settings, clock=clock)
    there = Ledger(settings=settings, clock=clock)
    try:
        yield here, there
    finally:
        here.close()
        there.close()


def test_a_revocation_is_seen_by_another_process_at_its_next_request(
    database_url: str, clock: ManualClock
) -> None:
    with two_processes(Settings(database_url=database_url), clock) as (here, there):
        token, key = here.issue_key("auditor", None, "audit desk")
        other_token, _ = here.issue_key("finance", None, "finance desk")
        for _ in range(3):  # loaded once, then reused while its version stands
            assert there.authenticate(token) is not None
        assert there.authenticate(other_token) is not None

        here.revoke_key(key.key_id)

        assert here.authenticate(token) is None
        assert there.authenticate(token) is None
        assert there.authenticate(other_token) is not None
        assert there.authenticate("llk_not-a-key") is None
