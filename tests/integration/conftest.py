"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.migrate import migrate
from ledger.application import Ledger
from projections.store import Target, open_target


@pytest.fixture
def target(ledger: Ledger) -> Iterator[Target]:
    """The projection tables of the ledger's database, migrated."""
    migrate(ledger.settings)
    projection_target = open_target(ledger.settings)
    yield projection_target
    projection_target.close()
