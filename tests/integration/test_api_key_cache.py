"""A revocation holds at once in every process: each looks its key's version up per request,
so a key it loaded earlier is reused only while no event (a revocation) has followed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from api.key_cache import KeyCache
from ledger.application import Ledger
from ledger.clock import ManualClock
from ledger.config import Settings


@contextmanager
def two_processes(settings: Settings, clock: ManualClock) -> Iterator[tuple[Ledger, Ledger]]:
    """Two ledgers on one database, as two processes would have them."""
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
        keys_here, keys_there = KeyCache(here), KeyCache(there)
        token, key = here.issue_key("auditor", None, "audit desk")
        other_token, _ = here.issue_key("finance", None, "finance desk")
        for _ in range(3):  # loaded once, then reused while its version stands
            assert keys_there.authenticate(token) is not None
        assert keys_there.authenticate(other_token) is not None

        here.revoke_key(key.key_id)

        assert keys_here.authenticate(token) is None
        assert keys_there.authenticate(token) is None
        assert keys_there.authenticate(other_token) is not None
        assert keys_there.authenticate("llk_not-a-key") is None


def test_a_loaded_key_is_reused_while_its_stored_version_stands(ledger: Ledger) -> None:
    token, key = ledger.issue_key("finance", None, "finance desk")
    keys = KeyCache(ledger)
    loaded = keys.authenticate(token)
    assert loaded is not None and (loaded.key_id, loaded.role) == (key.key_id, "finance")
    assert keys.authenticate(token) is loaded
    # Another cache loads its own copy: nothing is shared between processes but the store.
    assert KeyCache(ledger).authenticate(token) is not loaded


def test_the_stored_version_of_a_key_moves_with_its_revocation(ledger: Ledger) -> None:
    _, key = ledger.issue_key("auditor", None, "audit desk")
    assert ledger.api_key_version("k-never-issued") is None
    assert ledger.api_key_version(key.key_id) == 1
    ledger.revoke_key(key.key_id)
    assert ledger.api_key_version(key.key_id) == 2
    ledger.revoke_key(key.key_id)  # already revoked: nothing new is recorded
    assert ledger.api_key_version(key.key_id) == 2
