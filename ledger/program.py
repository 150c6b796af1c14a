"""The one loyalty program: currency, lot lifetime, tiers, bonuses. Every change is an event."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from ledger import ids
from ledger.base import LedgerAggregate
from ledger.bounds import (
    DEFAULT_MAX_POINTS_PER_ACCRUAL,
    MAX_MONEY_PER_POINT,
    MAX_MULTIPLIER,
    MAX_POINTS_PER_ACCRUAL,
    MAX_THRESHOLD,
    check_at_most,
    check_between,
)
from ledger.errors import InvalidCommand, OccurredAtOutOfRange
from ledger.tiers import DEFAULT_TIERS, Tier, TierLadder

FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class ProgramRules:
    currency: str = "EUR"
    points_lifetime_months: int = 24
    max_backdate_days: int = 90
    point_value: Decimal = Decimal("0.01")
    tiers: tuple[Tier, ...] = DEFAULT_TIERS
    enrollment_bonus_points: int = 0
    max_points_per_accrual: int = DEFAULT_MAX_POINTS_PER_ACCRUAL
    ladder: TierLadder = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ladder", TierLadder(self.tiers))

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "points_lifetime_months": self.points_lifetime_months,
            "max_backdate_days": self.max_backdate_days,
            "point_value": self.point_value,
            "tiers": [t.as_dict() for t in self.ladder.tiers],
            "enrollment_bonus_points": self.enrollment_bonus_points,
            "max_points_per_accrual": self.max_points_per_accrual,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProgramRules:
        return cls(
            currency=data["currency"],
            points_lifetime_months=int(data["points_lifetime_months"]),
            max_backdate_days=int(data["max_backdate_days"]),
            point_value=Decimal(data["point_value"]),
            tiers=tuple(Tier.from_dict(t) for t in data["tiers"]),
            enrollment_bonus_points=int(data["enrollment_bonus_points"]),
            # Programs configured before the setting existed replay with its default.
            max_points_per_accrual=int(
                data.get("max_points_per_accrual", DEFAULT_MAX_POINTS_PER_ACCRUAL)
            ),
        )

    def check_bounds(self) -> None:
        """Refuse a program whose values could make a projection's sums overflow."""
        check_between(self.point_value, 0, MAX_MONEY_PER_POINT, "point_value")
        check_between(
            self.max_points_per_accrual, 1, MAX_POINTS_PER_ACCRUAL, "max_points_per_accrual"
        )
        check_between(
            self.enrollment_bonus_points, 0, MAX_POINTS_PER_ACCRUAL, "enrollment_bonus_points"
        )
        if not self.tiers:
            raise InvalidCommand("a program has at least one tier", field="tiers")
        codes = [tier.code for tier in self.tiers]
        if len(set(codes)) != len(codes):
            raise InvalidCommand("tier codes must be distinct", field="tiers")
        for index, tier in enumerate(self.tiers):
            if tier.multiplier <= 0:
                raise InvalidCommand(
                    "a multiplier must be greater than zero", field=f"tiers.{index}.multiplier"
                )
            check_at_most(tier.multiplier, MAX_MULTIPLIER, f"tiers.{index}.multiplier")
            check_at_most(tier.threshold, MAX_THRESHOLD, f"tiers.{index}.threshold")

    def check_occurred_at(self, occurred_at: datetime, now: datetime) -> None:
        if occurred_at > now + FUTURE_TOLERANCE:
            raise OccurredAtOutOfRange("occurred_at is more than 5 minutes in the future")
        if occurred_at < now - timedelta(days=self.max_backdate_days):
            raise OccurredAtOutOfRange(
                f"occurred_at is more than {self.max_backdate_days} days in the past"
            )


def lot_expiry(earned_at: datetime, lifetime_months: int) -> datetime:
    """Start of the month after earned_at's month (UTC), plus the lifetime in months."""
    earned_at = earned_at.astimezone(UTC)
    months = earned_at.year * 12 + (earned_at.month - 1) + 1 + lifetime_months
    return earned_at.replace(
        year=months // 12, month=months % 12 + 1, day=1, hour=0, minute=0, second=0, microsecond=0
    )


class Program(LedgerAggregate):
    @staticmethod
    def create_id() -> UUID:
        return ids.program_id()

    @event("ProgramCreated")
    def __init__(self, timestamp: datetime) -> None:
        self.rules_data: dict[str, Any] | None = None

    @event("ProgramConfigured")
    def configure(self, timestamp: datetime, rules: dict[str, Any]) -> None:
        self.rules_data = rules

    def rules(self, default: ProgramRules) -> ProgramRules:
        if not self.rules_data:
            return default
        # Parsed once per configuration: every command reads the rules.
        cached = self.__dict__.get("_parsed")
        if cached is None or cached[0] is not self.rules_data:
            cached = (self.rules_data, ProgramRules.from_dict(self.rules_data))
            self.__dict__["_parsed"] = cached
        return cached[1]
