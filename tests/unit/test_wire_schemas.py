"""The schemas' short load and dump paths answer exactly what marshmallow answers."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from marshmallow import Schema, ValidationError
from marshmallow.utils import from_iso_datetime

from api import schemas
from api.fields import Timestamp, utc_text

NOW = "2026-11-22T13:45:01.123456Z"
GOOD: dict[type[Schema], dict[str, Any]] = {
    schemas.EnrollRequestSchema: {
        "member_id": "m1",
        "enrolled_at": NOW,
        "birth_date": "1990-02-03",
        "partner_id": "shop",
    },
    schemas.AccrualRequestSchema: {
        "transaction_id": "t1",
        "member_id": "m1",
        "amount": "12.50",
        "currency": "EUR",
        "occurred_at": NOW,
        "pending_days": 3,
        "bonus_points": 5,
    },
    schemas.RedemptionRequestSchema: {
        "transaction_id": "r1",
        "member_id": "m1",
        "points": 30,
        "occurred_at": "2026-11-22T14:45:01+01:00",
        "description": "a mug",
    },
    schemas.ReverseAccrualOperationSchema: {
        "transaction_id": "x1",
        "refund_amount": "1",
        "occurred_at": NOW,
        "reason": "return",
        "original_transaction_id": "t1",
    },
    schemas.ReverseRedemptionOperationSchema: {
        "transaction_id": "c1",
        "occurred_at": NOW,
        "original_transaction_id": "r1",
    },
    schemas.AdjustmentRequestSchema: {"adjustment_id": "a1", "points": -5, "reason": "goodwill"},
    schemas.BatchRequestSchema: {"operations": [{"op": "enroll"}, "x", 3], "partner_id": "p"},
}
# Each change is applied to every good body that has (or may have) that field.
CHANGES: list[tuple[str, Any]] = [
    ("member_id", None),
    ("member_id", ""),
    ("member_id", "a b"),
    ("member_id", "m1\n"),
    ("member_id", 12),
    ("member_id", "x" * 65),
    ("member_id", True),
    ("transaction_id", "t-2.b:c_d"),
    ("transaction_id", ["t"]),
    ("amount", "0"),
    ("amount", "0.00"),
    ("amount", "1e3"),
    ("amount", 12.5),
    ("amount", "-1"),
    ("amount", "\uff11\uff12"),
    ("amount", "12.345"),
    ("amount", None),
    ("refund_amount", "0"),
    ("refund_amount", None),
    ("currency", "eur"),
    ("currency", "EURO"),
    ("currency", None),
    ("occurred_at", "2026-11-22T13:45:01"),
    ("occurred_at", "2026-11-22"),
    ("occurred_at", "2026-13-22T13:45:01Z"),
    ("occurred_at", "0001-01-01T00:00:00+01:00"),
    ("occurred_at", "2026-11-22T13:45:01.1234567Z"),
    ("occurred_at", "2026-11-22 13:45Z"),
    ("occurred_at", "2026-11-22T13:45:01+05:75"),
    ("occurred_at", "2026-11-22T13:45:01-00:00"),
    ("occurred_at", "\uff12\uff10\uff12\uff16-11-22T13:45:01Z"),  # fullwidth digits
    ("occurred_at", 1700000000),
    ("occurred_at", ""),
    ("enrolled_at", None),
    ("birth_date", "1990-2-3"),
    ("birth_date", None),
    ("points", 0),
    ("points", -1),
    ("points", 10**12 + 1),
    ("points", 1.0),
    ("points", "3"),
    ("points", True),
    ("points", None),
    ("pending_days", 36_501),
    ("pending_days", False),
    ("bonus_points", -1),
    ("bonus_points", None),
    ("allow_debt", "yes"),
    ("allow_debt", 1),
    ("allow_debt", True),
    ("allow_debt", None),
    ("reason", ""),
    ("reason", "r" * 501),
    ("description", None),
    ("partner_id", None),
    ("partner_id", "p q"),
    ("operations", [None]),
    ("operations", {}),
    ("operations", [{}] * 10_001),
    ("colour", "red"),
    ("op", "accrue"),
    # The bounds (README "Bounds"), on both paths:
    ("member_id", "m1\r"),
    ("currency", "EUR\n"),
    ("amount", "1000000000.00"),
    ("amount", "1000000000.01"),
    ("amount", "999999999999999.00"),
    ("refund_amount", "1000000001"),
    ("bonus_points", 10_000_000),
    ("bonus_points", 10_000_001),
    ("points", 10**9),
    ("points", 10**9 + 1),
    ("points", -(10**9) - 1),
    ("occurred_at", "1970-01-01T00:00:00Z"),
    ("occurred_at", "1969-12-31T23:59:59.999999Z"),
    ("occurred_at", "1970-01-01T00:30:00+01:00"),
    ("occurred_at", "2999-12-31T23:59:59.999999Z"),
    ("occurred_at", "3000-01-01T00:00:00Z"),
    ("enrolled_at", "0001-01-01T00:00:00Z"),
    ("enrolled_at", "9999-12-31T23:59:59Z"),
    ("birth_date", "9999-12-31"),
    ("birth_date", "1899-12-31"),
    ("birth_date", "1900-01-01"),
]


def marshmallow_load(schema: Schema, body: Any) -> tuple[str, Any]:
    try:
        return "ok", Schema.load(schema, body)
    except ValidationError as error:
        return "error", error.messages


def short_load(schema: Schema, body: Any) -> tuple[str, Any]:
    try:
        return "ok", schema.load(body)
    except ValidationError as error:
        return "error", error.messages


def variants(
    examples: dict[type[Schema], dict[str, Any]], changes: list[tuple[str, Any]]
) -> list[tuple[type[Schema], Any]]:
    """Each example as it is, without each of its keys, and with each change."""
    cases: list[tuple[type[Schema], Any]] = []
    for schema_class, good in examples.items():
        cases.append((schema_class, good))
        cases.extend((schema_class, {k: v for k, v in good.items() if k != key}) for key in good)
        cases.extend((schema_class, {**good, key: value}) for key, value in changes)
    return cases


def bodies() -> list[tuple[type[Schema], Any]]:
    return variants(GOOD, CHANGES) + [
        (schema_class, shape) for schema_class in GOOD for shape in ([], "text", {})
    ]


@pytest.mark.parametrize(("schema_class", "body"), bodies())
def test_load_answers_as_marshmallow(schema_class: type[Schema], body: Any) -> None:
    schema = schema_class()
    expected = marshmallow_load(schema, body)
    for _ in range(2):  # the first call compiles the short path
        got = short_load(schema, body)
        assert got == expected
        if got[0] == "ok":
            assert list(got[1]) == list(expected[1])
            assert [type(v) for v in got[1].values()] == [type(v) for v in expected[1].values()]
            assert [getattr(v, "tzinfo", None) for v in got[1].values()] == [
                getattr(v, "tzinfo", None) for v in expected[1].values()
            ]


MOMENT = datetime(2026, 11, 22, 13, 45, 1, 120000, tzinfo=UTC)
RESPONSES: dict[type[Schema], dict[str, Any]] = {
    schemas.AccrualSchema: {
        "accrual_id": "a",
        "transaction_id": "t1",
        "partner_id": "p",
        "member_id": "m",
        "amount": Decimal("12.50"),
        "currency": "EUR",
        "points": 12,
        "base_points": 12,
        "tier_multiplier": Decimal("1.25"),
        "bonus_points": 0,
        "status": "available",
        "available_at": MOMENT,
        "expires_at": MOMENT + timedelta(days=700),
        "recorded_at": MOMENT.astimezone(timezone(timedelta(hours=-3))),
        "balance": {"available": -4, "pending": 0, "tier": "basic"},
        "position": 7,
    },
    schemas.RedemptionSchema: {
        "redemption_id": "r",
        "transaction_id": "r1",
        "partner_id": "p",
        "member_id": "m",
        "points": 30,
        "lots": [{"lot_id": "L1", "points": 20, "source": "p"}],
        "reimbursement_amount": Decimal("0.24"),
        "recorded_at": MOMENT,
        "balance": {"available": 1, "pending": 2, "tier": "gold"},
        "position": None,
    },
    schemas.MemberSchema: {
        "member_id": "m",
        "status": "active",
        "enrolled_at": MOMENT,
        "tier": "basic",
        "balance": {"available": 0, "pending": 0, "tier": "basic"},
        "position": 1,
    },
    schemas.BatchSchema: {"results": [{"index": 0, "status": 201, "body": {"a": [1]}}]},
}
DUMP_CHANGES: list[tuple[str, Any]] = [
    ("points", True),
    ("points", Decimal("3")),
    ("points", "4"),
    ("points", None),
    ("member_id", 5),
    ("member_id", None),
    ("amount", "1.5"),
    ("amount", 2),
    ("balance", None),
    ("position", None),
    ("lots", None),
    ("lots", []),
    ("recorded_at", datetime(2026, 1, 1, 0, 0)),
    ("extra", 1),
]


def dumps() -> list[tuple[type[Schema], Any]]:
    return variants(RESPONSES, DUMP_CHANGES)


@pytest.mark.parametrize(("schema_class", "obj"), dumps())
def test_dump_answers_as_marshmallow(schema_class: type[Schema], obj: Any) -> None:
    schema = schema_class()
    try:
        expected: Any = Schema.dump(schema, obj)
    except Exception as error:  # the short path must fail the same way
        with pytest.raises(type(error)):
            schema.dump(obj)
        return
    for _ in range(2):
        got = schema.dump(obj)
        assert got == expected and list(got) == list(expected)


def test_timestamps_parse_to_marshmallows_instant() -> None:
    field = Timestamp()
    chooser = random.Random(1)
    for _ in range(5000):
        moment = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(
            seconds=chooser.randrange(0, 2_000_000_000), microseconds=chooser.randrange(10**6)
        )
        text = moment.isoformat(
            timespec=chooser.choice(["seconds", "milliseconds", "microseconds"])
        )
        minutes = chooser.choice([0, 0, 60, -300, 330, 14 * 60, -(23 * 60 + 59)])
        if minutes or chooser.random() < 0.5:
            zone = timezone(timedelta(minutes=minutes))
            text = (
                moment.astimezone(zone)
                .replace(tzinfo=None)
                .isoformat(timespec=chooser.choice(["seconds", "microseconds"]))
                + f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02}:{abs(minutes) % 60:02}"
            )
        else:
            text = text.replace("+00:00", "Z")
        if chooser.random() < 0.2:  # fewer fraction digits than six
            head, _, rest = text.partition(".")
            if rest:
                digits = "".join(c for c in rest if c.isdigit())[:6]
                zone_part = rest[len(digits) :]
                text = f"{head}.{digits[: chooser.randrange(1, 6)]}{zone_part}"
        expected = from_iso_datetime(text).astimezone(UTC)
        got = field.deserialize(text)
        assert got == expected and got.tzinfo is UTC and expected.tzinfo is UTC, text


def test_utc_text_writes_what_it_always_wrote() -> None:
    zones = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7, minutes=-30))]
    for moment in [
        MOMENT,
        MOMENT.replace(microsecond=0),
        datetime(1, 1, 2, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]:
        for zone in zones:
            local = moment.astimezone(zone) if moment.year not in (1, 9999) else moment
            old = (
                local.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
            )
            assert utc_text(local) == old


def test_the_short_path_is_taken_for_plain_schemas() -> None:
    schema = schemas.AccrualRequestSchema()
    schema.load(GOOD[schemas.AccrualRequestSchema])
    assert vars(schema)["_load_plan"] is not None  # made by that load
    program = schemas.ProgramSchema()  # hooks: marshmallow alone
    with pytest.raises(ValidationError):
        program.load({})
    assert vars(program)["_load_plan"] is None
    assert isinstance(
        schemas.EnrollRequestSchema().load({"member_id": "m", "birth_date": "2000-01-02"})[
            "birth_date"
        ],
        date,
    )


@pytest.mark.parametrize(
    ("schema_class", "field", "value"),
    [
        (schemas.AccrualRequestSchema, "amount", "1000000000.01"),
        (schemas.AccrualRequestSchema, "bonus_points", 10_000_001),
        (schemas.AccrualRequestSchema, "member_id", "m1\n"),
        (schemas.AccrualRequestSchema, "currency", "EUR\n"),
        (schemas.AccrualRequestSchema, "occurred_at", "3000-01-01T00:00:00Z"),
        (schemas.AccrualRequestSchema, "occurred_at", "1969-12-31T23:59:59Z"),
        (schemas.ReverseAccrualOperationSchema, "refund_amount", "1000000001"),
        (schemas.RedemptionRequestSchema, "points", 10**9 + 1),
        (schemas.AdjustmentRequestSchema, "points", -(10**9) - 1),
        (schemas.EnrollRequestSchema, "birth_date", "9999-12-31"),
        (schemas.EnrollRequestSchema, "enrolled_at", "0001-01-01T00:00:00Z"),
    ],
)
def test_a_bound_holds_on_both_paths(schema_class: type[Schema], field: str, value: Any) -> None:
    schema = schema_class()
    body = {**GOOD[schema_class], field: value}
    for load in (marshmallow_load, short_load, short_load):
        outcome, messages = load(schema, body)
        assert (outcome, list(messages)) == ("error", [field])
