"""The largest values the ledger accepts, so that no sum a projection keeps can overflow.

Projections keep points in 64-bit integers (PostgreSQL `bigint`, SQLite `INTEGER`: at most
9.22 x 10^18) and amounts in `numeric`. A member's lifetime earned points and its net
adjustments are each bounded by `MAX_MEMBER_POINTS`; every other figure of a member (balance,
pending, debt, redeemed, expired, reversed) is a difference of those, so it stays within twice
that. For 10^8 members a whole-program sum stays below 2 x 10^8 x 10^10 = 2 x 10^18. A single
operation moves at most `MAX_POINTS_PER_OPERATION`; amounts, rates and multipliers are bounded
so that every product the ledger computes (points x rate, outstanding x point value) stays
far inside `Decimal`'s 28 significant digits. The README lists the bounds.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from ledger.errors import InvalidCommand

MAX_AMOUNT = Decimal(10**9)  # one purchase, or one refund, in the partner's currency
MAX_EARN_RATE = Decimal(1000)  # points per currency unit
MAX_MONEY_PER_POINT = Decimal(100)  # funding and reimbursement rates, the program's point value
MAX_MULTIPLIER = Decimal(100)  # a tier's multiplier
MAX_THRESHOLD = Decimal(10**12)  # a tier's qualifying spend
DEFAULT_MAX_POINTS_PER_ACCRUAL = 100_000
MAX_POINTS_PER_ACCRUAL = 10**7  # the ceiling of the program's `max_points_per_accrual`
MAX_POINTS_PER_OPERATION = 10**9  # a redemption, or an adjustment either way
MAX_MEMBER_POINTS = 10**10  # a member's lifetime earned points, and its net adjustments
EARLIEST_ENROLLMENT = datetime(1970, 1, 1, tzinfo=UTC)
EARLIEST_BIRTH_DATE = date(1900, 1, 1)


def check_at_most(value: Decimal | int, maximum: Decimal | int, field: str) -> None:
    if value > maximum:
        raise InvalidCommand(f"{field} must be at most {maximum}", field=field)


def check_between(
    value: Decimal | int, minimum: Decimal | int, maximum: Decimal | int, field: str
) -> None:
    if not minimum <= value <= maximum:
        raise InvalidCommand(f"{field} must be from {minimum} to {maximum}", field=field)


def check_birth_date(birth_date: date, now: datetime) -> None:
    # Today anywhere on Earth is at most a day after today in UTC.
    if not EARLIEST_BIRTH_DATE <= birth_date <= (now + timedelta(days=1)).date():
        raise InvalidCommand(
            f"birth_date must be from {EARLIEST_BIRTH_DATE} to today", field="birth_date"
        )
