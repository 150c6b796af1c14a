"""Money arithmetic: Decimal only, rounded half-up to the currency's minor unit."""

from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from functools import cache

from babel.numbers import get_currency_precision

from ledger.errors import InvalidCommand


@cache  # babel looks the currency up in its locale data; every accrual asks twice
def minor_digits(currency: str) -> int:
    return int(get_currency_precision(currency))


@cache
def _minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_digits(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(_minor_unit(currency), rounding=ROUND_HALF_UP)


def check_minor_digits(amount: Decimal, currency: str, field: str) -> None:
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > minor_digits(currency):
        raise InvalidCommand(
            f"{field} has more than {minor_digits(currency)} decimal places for {currency}",
            field=field,
        )


def floor_points(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def with_minor_digits(amount: Decimal, currency: str) -> Decimal:
    """The same amount written with at least the currency's minor digits ("3600" -> "3600.00");
    never rounded (a rate-like value with more digits keeps them)."""
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)
    return amount if -exponent >= minor_digits(currency) else round_money(amount, currency)
