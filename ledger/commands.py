"""Commands: what someone asks the ledger to do, imperative, immutable, typed.

Each command says which transaction key makes it idempotent (if any) and which aggregates
its handler will read, so the application can load them all at once; its handler lives in
`ledger.application` (one per command, found through `HANDLERS`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

from ledger import ids
from ledger.partner import PartnerTerms
from ledger.program import ProgramRules

# Scopes of the transaction keys of commands that no partner's transaction id names.
ENROLLMENT_SCOPE = "#enrollment"  # members are coalition-wide: one enrollment per member id
ADJUSTMENT_SCOPE = "#operator"


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
    operation: ClassVar[str] = "command"

    def idempotency_key(self) -> tuple[str, str] | None:
        """(scope, key) of the transaction key that makes a retry answer the original result;
        None for commands that are idempotent by themselves."""
        return None

    def aggregates(self) -> Iterator[UUID]:
        """The aggregates the handler reads, besides the program and the transaction key."""
        return iter(())

    def fingerprint_data(self) -> dict[str, Any]:
        return {name: _plain(getattr(self, name)) for name in _fingerprinted_fields(type(self))}


# ----------------------------------------------------------------------- partner writes


@dataclass(frozen=True)
class PartnerCommand(Command):
    """A partner's transaction, idempotent per (partner, transaction id)."""

    partner_id: str
    transaction_id: str

    def idempotency_key(self) -> tuple[str, str] | None:
        return self.partner_id, self.transaction_id

    def aggregates(self) -> Iterator[UUID]:
        yield ids.partner_id(self.partner_id)
        member_id = getattr(self, "member_id", None)
        if member_id is not None:
            yield ids.member_id(member_id)
        original = getattr(self, "original_transaction_id", None)
        if original is not None:
            yield ids.transaction_key_id(self.partner_id, original)


@dataclass(frozen=True)
class Accrue(PartnerCommand):
    operation: ClassVar[str] = "accrue"
    member_id: str
    amount: Decimal
    currency: str
    occurred_at: datetime
    pending_days: int | None = None
    bonus_points: int = 0


@dataclass(frozen=True)
class Redeem(PartnerCommand):
    operation: ClassVar[str] = "redeem"
    member_id: str
    points: int
    occurred_at: datetime
    description: str | None = None


@dataclass(frozen=True)
class ReverseAccrual(PartnerCommand):
    operation: ClassVar[str] = "reverse_accrual"
    original_transaction_id: str
    occurred_at: datetime
    refund_amount: Decimal | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ReverseRedemption(PartnerCommand):
    operation: ClassVar[str] = "reverse_redemption"
    original_transaction_id: str
    occurred_at: datetime
    reason: str | None = None


# ------------------------------------------------------------------------ member writes


@dataclass(frozen=True)
class Enroll(Command):
    operation: ClassVar[str] = "enroll"
    member_id: str
    enrolled_at: datetime | None = None
    birth_date: date | None = None
    partner_id: str | None = None

    def idempotency_key(self) -> tuple[str, str] | None:
        return ENROLLMENT_SCOPE, self.member_id

    def aggregates(self) -> Iterator[UUID]:
        yield ids.member_id(self.member_id)
        if self.partner_id is not None:
            yield ids.partner_id(self.partner_id)


@dataclass(frozen=True)
class Adjust(Command):
    operation: ClassVar[str] = "adjust"
    adjustment_id: str
    member_id: str
    points: int
    reason: str
    allow_debt: bool = False

    def idempotency_key(self) -> tuple[str, str] | None:
        return ADJUSTMENT_SCOPE, self.adjustment_id

    def aggregates(self) -> Iterator[UUID]:
        yield ids.member_id(self.member_id)


@dataclass(frozen=True)
class MemberCommand(Command):
    """An operator's change of one member's status."""

    member_id: str

    def aggregates(self) -> Iterator[UUID]:
        yield ids.member_id(self.member_id)


@dataclass(frozen=True)
class SuspendMember(MemberCommand):
    operation: ClassVar[str] = "suspend_member"


@dataclass(frozen=True)
class ReactivateMember(MemberCommand):
    operation: ClassVar[str] = "reactivate_member"


@dataclass(frozen=True)
class CloseMember(MemberCommand):
    operation: ClassVar[str] = "close_member"
    reason: str | None = None


@dataclass(frozen=True)
class RunDue(MemberCommand):
    """Record what is due for a member at `as_of` (a sweep: activations, expiries, downgrades)."""

    operation: ClassVar[str] = "run_due"
    as_of: datetime


# ------------------------------------------------------------------ program and partners


@dataclass(frozen=True)
class ConfigureProgram(Command):
    operation: ClassVar[str] = "configure_program"
    rules: ProgramRules


@dataclass(frozen=True)
class RegisterPartner(Command):
    operation: ClassVar[str] = "register_partner"
    terms: PartnerTerms

    def aggregates(self) -> Iterator[UUID]:
        yield ids.partner_id(self.terms.partner_id)


@dataclass(frozen=True)
class PartnerAdminCommand(Command):
    """An operator's change of one partner."""

    partner_id: str

    def aggregates(self) -> Iterator[UUID]:
        yield ids.partner_id(self.partner_id)


@dataclass(frozen=True)
class SuspendPartner(PartnerAdminCommand):
    operation: ClassVar[str] = "suspend_partner"


@dataclass(frozen=True)
class ReactivatePartner(PartnerAdminCommand):
    operation: ClassVar[str] = "reactivate_partner"


@dataclass(frozen=True)
class ChangePartnerTerms(PartnerAdminCommand):
    operation: ClassVar[str] = "change_partner_terms"
    changes: dict[str, Any]


# ---------------------------------------------------------------------------- API keys


@dataclass(frozen=True)
class IssueKey(Command):
    """Only the token's hash is in the command: the token itself is never stored."""

    operation: ClassVar[str] = "issue_key"
    key_id: str
    token_sha256: str
    role: str
    partner_id: str | None
    name: str

    def aggregates(self) -> Iterator[UUID]:
        yield ids.api_key_id(self.key_id)
        if self.partner_id is not None:
            yield ids.partner_id(self.partner_id)


@dataclass(frozen=True)
class RevokeKey(Command):
    operation: ClassVar[str] = "revoke_key"
    key_id: str

    def aggregates(self) -> Iterator[UUID]:
        yield ids.api_key_id(self.key_id)
