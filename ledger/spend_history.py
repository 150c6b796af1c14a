"""Net qualifying spend by occurred_at, so a trailing-window total costs O(log n), not O(n).

Entries are kept sorted by (occurred_at, sequence number) with prefix sums that are extended
lazily; appending in time order (the usual case) keeps every earlier prefix valid, and a
refund invalidates only the prefixes after the accrual it belongs to.
"""

from __future__ import annotations

import sys
from bisect import bisect_left, bisect_right, insort
from datetime import datetime
from decimal import Decimal

Key = tuple[datetime, int]


class SpendHistory:
    def __init__(self) -> None:
        self._keys: list[Key] = []
        self._amounts: list[Decimal] = []
        self._prefix: list[Decimal] = [Decimal(0)]

    def add(self, occurred_at: datetime, seq: int, amount: Decimal) -> None:
        key = (occurred_at, seq)
        index = bisect_right(self._keys, key)
        insort(self._keys, key)
        self._amounts.insert(index, amount)
        self._invalidate_from(index)

    def change(self, occurred_at: datetime, seq: int, delta: Decimal) -> None:
        index = bisect_left(self._keys, (occurred_at, seq))
        self._amounts[index] += delta
        self._invalidate_from(index)

    def total(self, after: datetime, up_to: datetime) -> Decimal:
        """Σ net amounts with after < occurred_at <= up_to."""
        self._extend_prefix()
        low = bisect_right(self._keys, (after, sys.maxsize))
        high = bisect_right(self._keys, (up_to, sys.maxsize))
        return self._prefix[high] - self._prefix[low] if high > low else Decimal(0)

    def _invalidate_from(self, index: int) -> None:
        del self._prefix[index + 1 :]

    def _extend_prefix(self) -> None:
        prefix = self._prefix
        for amount in self._amounts[len(prefix) - 1 :]:
            prefix.append(prefix[-1] + amount)

    def __eq__(self, other: object) -> bool:
        # The prefix sums are a cache: two histories are equal when their entries are.
        if not isinstance(other, SpendHistory):
            return NotImplemented
        return self._keys == other._keys and self._amounts == other._amounts

    __hash__ = None  # type: ignore[assignment]
