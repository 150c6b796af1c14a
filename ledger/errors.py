"""Domain errors: one class per problem slug of the HTTP contract, so the API maps them 1:1."""

from __future__ import annotations


class LedgerError(Exception):
    slug = "ledger-error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(LedgerError):
    slug = "not-found"


class InsufficientPoints(LedgerError):
    slug = "insufficient-points"


class MemberNotActive(LedgerError):
    slug = "member-not-active"


class PartnerNotActive(LedgerError):
    slug = "partner-not-active"


class IdempotencyConflict(LedgerError):
    slug = "idempotency-conflict"


class AlreadyReversed(LedgerError):
    slug = "already-reversed"


class RefundExceedsOriginal(LedgerError):
    slug = "refund-exceeds-original"


class CurrencyMismatch(LedgerError):
    slug = "currency-mismatch"


class OccurredAtOutOfRange(LedgerError):
    slug = "occurred-at-out-of-range"


class InvalidCommand(LedgerError):
    """A request the schema could not catch (e.g. too many minor digits for the currency)."""

    slug = "validation-error"

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field
