"""Aggregate ids derived from business ids, so a duplicate is a primary-key clash in the store."""

from __future__ import annotations

from functools import lru_cache
from uuid import UUID, uuid5

NAMESPACE = UUID("6f1c1c2e-8e4b-4f7a-9a57-3a1b3c7d2e10")
OPERATOR = "operator"


@lru_cache(maxsize=65536)
def program_id() -> UUID:
    return uuid5(NAMESPACE, "program")


@lru_cache(maxsize=65536)
def partner_id(partner: str) -> UUID:
    return uuid5(NAMESPACE, "partner\n" + partner)


@lru_cache(maxsize=65536)
def member_id(member: str) -> UUID:
    return uuid5(NAMESPACE, "member\n" + member)


@lru_cache(maxsize=65536)
def transaction_key_id(partner: str, transaction_id: str) -> UUID:
    return uuid5(NAMESPACE, partner + "\n" + transaction_id)


@lru_cache(maxsize=65536)
def api_key_id(key_id: str) -> UUID:
    return uuid5(NAMESPACE, "api-key\n" + key_id)
