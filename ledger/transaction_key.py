"""One tiny aggregate per (partner, transaction id): the store's primary key makes a duplicate
impossible across processes, and it keeps the original result for retries."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from ledger import ids
from ledger.base import LedgerAggregate
from ledger.errors import IdempotencyConflict

# What json.dumps(..., sort_keys=True, default=str) builds on every call. Fingerprints of
# stored keys are compared with new requests' for good, so these bytes must never change.
_CANONICAL = json.JSONEncoder(sort_keys=True, default=str)


def fingerprint(operation: str, request: dict[str, Any]) -> str:
    canonical = _CANONICAL.encode({"op": operation, "request": request})
    return hashlib.sha256(canonical.encode()).hexdigest()


class TransactionKey(LedgerAggregate):
    @staticmethod
    def create_id(partner_id: str, transaction_id: str) -> UUID:
        return ids.transaction_key_id(partner_id, transaction_id)

    @event("TransactionRecorded")
    def __init__(
        self,
        timestamp: datetime,
        partner_id: str,
        transaction_id: str,
        operation: str,
        member_id: str,
        fingerprint: str,
        result: dict[str, Any],
    ) -> None:
        self.partner_id = partner_id
        self.transaction_id = transaction_id
        self.operation = operation
        self.member_id = member_id
        self.fingerprint = fingerprint
        self.result = result

    def replay(self, fingerprint: str) -> dict[str, Any]:
        if fingerprint != self.fingerprint:
            raise IdempotencyConflict(
                f"transaction_id {self.transaction_id} was already used with a different request"
            )
        return self.result
