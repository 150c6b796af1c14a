"""API keys as events: who may do what is audited like every other change."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from ledger import ids
from ledger.base import LedgerAggregate

ROLES = ("admin", "partner", "auditor", "finance")


def new_token() -> str:
    return "llk_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def key_id_for(token: str) -> str:
    """A public handle for a key, derived so a token finds its key without a scan."""
    return "k" + hashlib.sha256(b"key-id\n" + token.encode()).hexdigest()[:19]


class ApiKey(LedgerAggregate):
    @staticmethod
    def create_id(key_id: str) -> UUID:
        return ids.api_key_id(key_id)

    @event("KeyIssued")
    def __init__(
        self,
        timestamp: datetime,
        key_id: str,
        token_sha256: str,
        role: str,
        partner_id: str | None,
        name: str,
    ) -> None:
        self.key_id = key_id
        self.token_sha256 = token_sha256
        self.role = role
        self.partner_id = partner_id
        self.name = name
        self.revoked = False

    @event("KeyRevoked")
    def revoke(self, timestamp: datetime) -> None:
        self.revoked = True

    def matches(self, token: str) -> bool:
        return not self.revoked and hmac.compare_digest(self.token_sha256, token_hash(token))

    def as_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "role": self.role,
            "partner_id": self.partner_id,
            "name": self.name,
            "revoked": self.revoked,
        }
