"""Private PostgreSQL clusters for the tests that stop and start the database themselves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.system.pg_cluster import PrivateCluster


@pytest.fixture
def stopped_cluster() -> Iterator[PrivateCluster]:
    """An initialised cluster, not yet started."""
    private = PrivateCluster()
    try:
        private.init()
    except Exception as error:  # no PostgreSQL binaries, or no user to run them as
        private.destroy()
        pytest.skip(f"cannot run a private PostgreSQL cluster: {error}")
    yield private
    private.destroy()


@pytest.fixture
def cluster(stopped_cluster: PrivateCluster) -> PrivateCluster:
    """A running private cluster."""
    stopped_cluster.start()
    return stopped_cluster
