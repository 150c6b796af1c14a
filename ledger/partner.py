"""Partner merchants: the rates that fund and reimburse points, and whether they may post."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from ledger import ids
from ledger.base import LedgerAggregate
from ledger.bounds import MAX_EARN_RATE, MAX_MONEY_PER_POINT, check_between
from ledger.errors import PartnerNotActive


@dataclass(frozen=True)
class PartnerTerms:
    partner_id: str
    name: str
    currency: str
    earn_rate: Decimal
    funding_rate: Decimal
    reimbursement_rate: Decimal
    pending_days: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "partner_id": self.partner_id,
            "name": self.name,
            "currency": self.currency,
            "earn_rate": self.earn_rate,
            "funding_rate": self.funding_rate,
            "reimbursement_rate": self.reimbursement_rate,
            "pending_days": self.pending_days,
        }

    def check_bounds(self) -> None:
        """Refuse rates whose products (points, funding, reimbursement) could overflow."""
        check_between(self.earn_rate, 0, MAX_EARN_RATE, "earn_rate")
        check_between(self.funding_rate, 0, MAX_MONEY_PER_POINT, "funding_rate")
        check_between(self.reimbursement_rate, 0, MAX_MONEY_PER_POINT, "reimbursement_rate")


# The partner's id and currency stay: its lots, accruals and settlement are in that currency.
CHANGEABLE_TERMS = frozenset(
    {"name", "earn_rate", "funding_rate", "reimbursement_rate", "pending_days"}
)


class Partner(LedgerAggregate):
    @staticmethod
    def create_id(partner_id: str) -> UUID:
        return ids.partner_id(partner_id)

    @event("PartnerRegistered")
    def __init__(
        self,
        timestamp: datetime,
        partner_id: str,
        name: str,
        currency: str,
        earn_rate: Decimal,
        funding_rate: Decimal,
        reimbursement_rate: Decimal,
        pending_days: int,
    ) -> None:
        self.terms = PartnerTerms(
            partner_id, name, currency, earn_rate, funding_rate, reimbursement_rate, pending_days
        )
        self.status = "active"

    @event("PartnerSuspended")
    def suspend(self, timestamp: datetime) -> None:
        self.status = "suspended"

    @event("PartnerReactivated")
    def reactivate(self, timestamp: datetime) -> None:
        self.status = "active"

    def change_terms(self, timestamp: datetime, changes: dict[str, Any]) -> None:
        """New terms from now on (operations read them when they run). The event records
        every term as it now stands, not only those changed."""
        unknown = set(changes) - CHANGEABLE_TERMS
        assert not unknown, f"terms that may not change: {sorted(unknown)}"
        terms = replace(self.terms, **changes)
        terms.check_bounds()
        if terms != self.terms:
            self._change_terms(
                timestamp=timestamp,
                name=terms.name,
                earn_rate=terms.earn_rate,
                funding_rate=terms.funding_rate,
                reimbursement_rate=terms.reimbursement_rate,
                pending_days=terms.pending_days,
            )

    @event("PartnerTermsChanged")
    def _change_terms(
        self,
        timestamp: datetime,
        name: str,
        earn_rate: Decimal,
        funding_rate: Decimal,
        reimbursement_rate: Decimal,
        pending_days: int,
    ) -> None:
        self.terms = replace(
            self.terms,
            name=name,
            earn_rate=earn_rate,
            funding_rate=funding_rate,
            reimbursement_rate=reimbursement_rate,
            pending_days=pending_days,
        )

    @property
    def partner_id(self) -> str:
        return self.terms.partner_id

    def check_active(self) -> None:
        if self.status != "active":
            raise PartnerNotActive(f"partner {self.partner_id} is {self.status}")

    def as_dict(self) -> dict[str, Any]:
        return {**self.terms.as_dict(), "status": self.status}
