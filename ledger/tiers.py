"""Tier bands and how trailing qualifying spend maps onto them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Tier:
    code: str
    name: str
    threshold: Decimal
    multiplier: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "threshold": self.threshold,
            "multiplier": self.multiplier,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tier:
        return cls(
            code=data["code"],
            name=data["name"],
            threshold=Decimal(data["threshold"]),
            multiplier=Decimal(data["multiplier"]),
        )


# Monthly diamond/gold/silver bands of 1000/500/300 from the seed material, made yearly.
DEFAULT_TIERS: tuple[Tier, ...] = (
    Tier("basic", "Basic", Decimal("0"), Decimal("1.0")),
    Tier("silver", "Silver", Decimal("3600"), Decimal("1.25")),
    Tier("gold", "Gold", Decimal("6000"), Decimal("1.5")),
    Tier("diamond", "Diamond", Decimal("12000"), Decimal("2.0")),
)


class TierLadder:
    """The program's tiers in ascending threshold order."""

    def __init__(self, tiers: Sequence[Tier]) -> None:
        self.tiers = tuple(sorted(tiers, key=lambda t: t.threshold))
        # Looked up by every accrual; the first tier of a code wins, as a scan would find it.
        self._ranks: dict[str, int] = {}
        for index, tier in enumerate(self.tiers):
            self._ranks.setdefault(tier.code, index)

    @property
    def lowest(self) -> Tier:
        return self.tiers[0]

    def rank(self, code: str) -> int:
        # A tier the program no longer has ranks lowest, so it is never "kept" by mistake.
        return self._ranks.get(code, -1)

    def get(self, code: str) -> Tier | None:
        rank = self._ranks.get(code)
        return None if rank is None else self.tiers[rank]

    def multiplier(self, code: str) -> Decimal:
        tier = self.get(code)
        return tier.multiplier if tier else self.lowest.multiplier

    def for_spend(self, spend: Decimal) -> Tier:
        reached = self.lowest
        for tier in self.tiers:
            if spend >= tier.threshold:
                reached = tier
        return reached

    def next_above(self, code: str) -> Tier | None:
        rank = self.rank(code)
        return self.tiers[rank + 1] if rank + 1 < len(self.tiers) else None
