"""Partners and keys are listed through partial indexes on PostgreSQL, not a scan of the log."""

from __future__ import annotations

import psycopg
import pytest
from eventsourcing.utils import get_topic

from api.migrate import migrate
from ledger.access import ApiKey
from ledger.config import Settings
from ledger.partner import Partner


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("created", "index"),
    [
        (Partner.PartnerRegistered, "ledger_events_partner_registered_idx"),  # type: ignore[attr-defined]
        (ApiKey.KeyIssued, "ledger_events_key_issued_idx"),  # type: ignore[attr-defined]
    ],
)
def test_the_listing_query_uses_its_index(pg_url: str, created: type, index: str) -> None:
    migrate(Settings(database_url=pg_url))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        # The planner would scan a near-empty table whatever the indexes.
        conn.execute("SET enable_seqscan = off")
        plan = conn.execute(
            # What eventsourcing's select_notifications sends with `topics`.
            "EXPLAIN SELECT * FROM public.ledger_events WHERE notification_id >= %s "
            "AND topic = ANY(%s) ORDER BY notification_id LIMIT %s",
            (1, [get_topic(created)], 101),
        ).fetchall()
    assert f"Index Scan using {index}" in "\n".join(row[0] for row in plan)
