"""Commands a partner (or the operator on its behalf) sends: imperative, immutable, typed."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value  # datetime is a date


_FINGERPRINTED_FIELDS: dict[type, tuple[str, ...]] = {}


def _fingerprinted_fields(command_class: type[Command]) -> tuple[str, ...]:
    names = _FINGERPRINTED_FIELDS.get(command_class)
    if names is None:
        names = tuple(f.name for f in fields(command_class) if f.name != "partner_id")
        _FINGERPRINTED_FIELDS[command_class] = names
    return names


@dataclass(frozen=True)
class Command:
    operation = "command"

    def fingerprint_data(self) -> dict[str, Any]:
        return {name: _plain(getattr(self, name)) for name in _fingerprinted_fields(type(self))}


@dataclass(frozen=True)
class Enroll(Command):
    operation = "enroll"
    member_id: str
    enrolled_at: datetime | None = None
    birth_date: date | None = None
    partner_id: str | None = None


@dataclass(frozen=True)
class Accrue(Command):
    operation = "accrue"
    partner_id: str
    transaction_id: str
    member_id: str
    amount: Decimal
    currency: str
    occurred_at: datetime
    pending_days: int | None = None
    bonus_points: int = 0


@dataclass(frozen=True)
class Redeem(Command):
    operation = "redeem"
    partner_id: str
    transaction_id: str
    member_id: str
    points: int
    occurred_at: datetime
    description: str | None = None


@dataclass(frozen=True)
class ReverseAccrual(Command):
    operation = "reverse_accrual"
    partner_id: str
    transaction_id: str
    original_transaction_id: str
    occurred_at: datetime
    refund_amount: Decimal | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ReverseRedemption(Command):
    operation = "reverse_redemption"
    partner_id: str
    transaction_id: str
    original_transaction_id: str
    occurred_at: datetime
    reason: str | None = None


@dataclass(frozen=True)
class Adjust(Command):
    operation = "adjust"
    adjustment_id: str
    member_id: str
    points: int
    reason: str
    allow_debt: bool = False
