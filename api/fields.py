"""The wire formats of the contract as marshmallow fields: ids, money, points, times."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, overload

import orjson
from marshmallow import ValidationError, fields, validate

from ledger.bounds import EARLIEST_BIRTH_DATE

ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
DECIMAL_PATTERN = r"^[0-9]{1,15}(\.[0-9]{1,12})?$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
MAX_DAYS = 36_500
_DECIMAL = re.compile(DECIMAL_PATTERN)
# Instants before the Unix epoch or after the year 2999 are typos; refused at the edge, they
# never reach date arithmetic that would overflow (year 1 minus a day, year 9999 plus one).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
# RFC 3339 as partners write it, ASCII digits only: for such text `datetime.fromisoformat`
# and marshmallow's ISO parser agree on the instant (the tests compare them), and the former
# is one C call where the latter builds a dict and a time zone in Python.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})"
)


class FullMatch(validate.Regexp):
    """marshmallow's Regexp matches from the start only, and `$` also matches before a final
    newline: "m1\\n" passed `^...$`. The whole value must match."""

    @overload
    def __call__(self, value: str) -> str: ...

    @overload
    def __call__(self, value: bytes) -> bytes: ...

    def __call__(self, value: Any) -> Any:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class Id(fields.String):
    """A business id: `[A-Za-z0-9._:-]{1,64}`, the whole value."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            validate=FullMatch(ID_PATTERN, error="Must match [A-Za-z0-9._:-]{{1,64}}."), **kwargs
        )


class Currency(fields.String):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            validate=FullMatch(CURRENCY_PATTERN, error="Must be an ISO 4217 code."),
            metadata={"example": "EUR", **kwargs.pop("metadata", {})},
            **kwargs,
        )


class DecimalString(fields.String):
    """A non-negative decimal written as a JSON string ("12.50"); `Decimal` in Python.

    `positive` refuses zero, `maximum` anything above it (the ledger's bounds, so no sum a
    projection keeps can overflow). The currency's minor digits are the ledger's check, since
    only it knows the currency an amount is in.
    """

    default_error_messages = {
        "decimal": 'Must be a decimal string such as "12.50".',
        "positive": "Must be greater than zero.",
        "maximum": "Must be at most {maximum}.",
    }

    def __init__(
        self, *, positive: bool = False, maximum: Decimal | None = None, **kwargs: Any
    ) -> None:
        self.positive = positive
        self.maximum = maximum
        metadata: dict[str, Any] = {
            "format": "decimal",
            "pattern": DECIMAL_PATTERN,
            "example": "12.50",
        }
        if maximum is not None:
            metadata["x-maximum"] = format(maximum, "f")
        super().__init__(metadata={**metadata, **kwargs.pop("metadata", {})}, **kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Decimal:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not _DECIMAL.fullmatch(text):
            raise self.make_error("decimal")
        amount = Decimal(text)
        if self.positive and amount <= 0:
            raise self.make_error("positive")
        if self.maximum is not None and amount > self.maximum:
            raise self.make_error("maximum", maximum=format(self.maximum, "f"))
        return amount

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return format(value if type(value) is Decimal else Decimal(value), "f")


class Points(fields.Integer):
    """A whole number (points, days): a JSON integer, not a float, string or boolean."""

    def __init__(
        self,
        *,
        maximum: int,
        minimum: int = 0,
        nonzero: bool = False,
        **kwargs: Any,
    ) -> None:
        validators: list[Any] = [validate.Range(min=minimum, max=maximum)]
        if nonzero:
            validators.append(validate.NoneOf([0], error="Must not be zero."))
        super().__init__(strict=True, validate=validators, **kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Timestamp(fields.DateTime):
    """RFC 3339 with an offset in; UTC to the microsecond with `Z` out."""

    default_error_messages = {
        "naive": "Must include a UTC offset (e.g. Z or +01:00).",
        "range": "Must be from 1970-01-01T00:00:00Z and before 3000-01-01T00:00:00Z.",
    }

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"example": "2026-11-22T13:45:01.123456Z", **kwargs.pop("metadata", {})}
        super().__init__(format="iso", metadata=metadata, **kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> datetime:
        return self._within_range(self._instant(value, attr, data, **kwargs))

    def _instant(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> datetime:
        if type(value) is str and self.format == "iso" and _RFC3339.fullmatch(value):
            try:
                return datetime.fromisoformat(value).astimezone(UTC)
            except (ValueError, OverflowError):
                pass  # not a valid instant: marshmallow words the error below
        moment: datetime = super()._deserialize(value, attr, data, **kwargs)
        if moment.tzinfo is None:
            raise self.make_error("naive")
        try:
            return moment.astimezone(UTC)
        except OverflowError as error:  # e.g. 0001-01-01T00:00:00+01:00
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE) from error

    def _within_range(self, moment: datetime) -> datetime:
        if not EARLIEST <= moment < LATEST:
            raise self.make_error("range")
        return moment

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return utc_text(value) if value is not None else None


class BirthDate(fields.Date):
    """A calendar date from 1900-01-01 to today (a birth date in the future is a typo).

    Today anywhere on Earth: up to a day after today in UTC. The ledger checks it again
    against its own clock.
    """

    default_error_messages = {"range": "Must be from 1900-01-01 to today."}

    def _deserialize(  # type: ignore[override]  # marshmallow's Date gives a date
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> date:
        day: date = super()._deserialize(value, attr, data, **kwargs)
        if not EARLIEST_BIRTH_DATE <= day <= (datetime.now(UTC) + timedelta(days=1)).date():
            raise self.make_error("range")
        return day


def member_status() -> fields.String:
    """A member's status, as the member views and the write answers document it."""
    return fields.String(
        required=True,
        metadata={
            "enum": ["active", "suspended", "closed"],
            "description": "active: earns and redeems; suspended: no accruals or redemptions "
            "(reversals and adjustments still apply); closed: final, remaining points forfeited.",
        },
    )


def utc_text(moment: datetime) -> str:
    # isoformat, unlike strftime's %Y, always writes four year digits.
    if moment.tzinfo is UTC:  # the ledger's times: its "+00:00" becomes "Z"
        return moment.isoformat(timespec="microseconds")[:-6] + "Z"
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


# Types orjson would write in its own format rather than hand over; with them passed through
# it raises instead, and json writes the value (or refuses it) as before.
_PASS_THROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def ascii_json(obj: Any, *, sort_keys: bool = False) -> bytes:
    """`json.dumps(obj, separators=(",", ":"), sort_keys=...)` as bytes, for answers
    made of the write schemas' output and problem bodies (text, integers, booleans, nulls).

    orjson writes them at a tenth of the cost. json escapes every non-ASCII character, DEL,
    and control characters in its own way: any of those in orjson's output, or a value it
    refuses, and json writes the whole answer.
    """
    try:
        written = orjson.dumps(
            obj, option=_PASS_THROUGH | (orjson.OPT_SORT_KEYS if sort_keys else 0)
        )
    except TypeError:
        written = b""
    if not written or not written.isascii() or b"\\u" in written or b"\x7f" in written:
        written = json.dumps(obj, separators=(",", ":"), sort_keys=sort_keys).encode()
    return written
