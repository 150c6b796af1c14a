"""The PostgreSQL recorder for a service role that may only INSERT and SELECT events.

eventsourcing serialises writers with `LOCK TABLE ... IN EXCLUSIVE MODE`, which PostgreSQL
grants only to holders of UPDATE, DELETE or TRUNCATE. The migrations provide
`ledger_lock_events()`, a SECURITY DEFINER function that takes the same lock for the rest of
the caller's transaction, so the service role never holds those privileges.
"""

from __future__ import annotations

from typing import Any

from psycopg.sql import SQL, Identifier

from ledger.infrastructure.recorder import LedgerRecorder


class RestrictedRoleRecorder(LedgerRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        timeout, _lock = self.lock_table_statements
        self.lock_table_statements = [
            timeout,
            SQL("SELECT {0}.ledger_lock_events()").format(Identifier(self.datastore.schema)),
        ]
