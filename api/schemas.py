"""Request and response bodies of the write API: one schema validates, dumps and documents.

Request schemas refuse unknown fields (marshmallow's default, RAISE), so a typo is a 422.

Every schema here takes a shorter path through `load` and `dump` (`WireSchema`): a batch of
10,000 lines spent about a quarter of its CPU in marshmallow's per-field machinery. The
short path only ever accepts what marshmallow accepts and builds what it builds; whenever it
is not sure (a value of an unexpected type, an invalid value, a missing or unknown field),
it hands the whole body to marshmallow, so every error message is still marshmallow's own.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from marshmallow import (
    INCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    missing,
    post_load,
    validate,
    validates,
)

from api.fields import (
    MAX_DAYS,
    Currency,
    DecimalString,
    Id,
    Points,
    Timestamp,
)
from ledger.access import ROLES
from ledger.partner import PartnerTerms
from ledger.program import ProgramRules
from ledger.tiers import Tier

Text = fields.String
MAX_BATCH = 10_000


class _Unsure(Exception):
    """The short path met something only marshmallow may judge."""


# A load step turns (value, input key, input body) into the loaded value; a dump step turns
# (value, attribute, object) into the dumped one. Both raise _Unsure to hand over.
_Convert = Callable[[Any, str, Any], Any]
_LoadStep = tuple[str, str, bool, Any, _Convert]  # input key, output key, required, default
_DumpStep = tuple[str, str, _Convert]  # attribute, output key


def _deserialized(field: fields.Field, value: Any, key: str, data: Any) -> Any:
    try:
        return field.deserialize(value, key, data)
    except ValidationError:
        raise _Unsure from None


def _load_step(field: fields.Field) -> _Convert:
    """String, Integer and Boolean load a value of exactly str, int or bool as it is (an
    int is its own `int()`), once their validators pass; anything else is the field's."""
    kind = type(field)
    plain = kind.deserialize is fields.Field.deserialize and kind._validate is (
        fields.Field._validate
    )
    exact: type | None = None
    if plain and kind._deserialize is fields.String._deserialize:
        exact = str
    elif plain and kind._deserialize is fields.Boolean._deserialize:
        exact = bool
    elif (
        plain
        and isinstance(field, fields.Integer)
        and getattr(kind, "_validated", None) is fields.Integer._validated
        and getattr(kind, "_format_num", None) is fields.Number._format_num
        and kind._deserialize in (fields.Number._deserialize, Points._deserialize)
    ):
        exact = int  # Points adds only the refusal of booleans, which are not exactly int
    if exact is None:
        return lambda value, key, data: _deserialized(field, value, key, data)
    validators = tuple(field.validators)

    def convert(value: Any, key: str, data: Any) -> Any:
        if type(value) is not exact:
            return _deserialized(field, value, key, data)
        for check in validators:
            try:
                outcome = check(value)
            except ValidationError:
                raise _Unsure from None
            if outcome is False:
                raise _Unsure
        return value

    return convert


def _dump_step(field: fields.Field) -> _Convert:
    """String and Integer dump None, and a value of exactly str or int, as it is."""
    kind = type(field)
    exact: type | None = None
    if kind._serialize is fields.String._serialize:
        exact = str
    elif kind._serialize is fields.Number._serialize and isinstance(field, fields.Integer):
        plain_number = getattr(kind, "_format_num", None) is fields.Number._format_num
        exact = int if plain_number and not field.as_string else None
    serialize = field._serialize
    if exact is None:
        return serialize

    def convert(value: Any, attribute: str, obj: Any) -> Any:
        if value is None or type(value) is exact:
            return value
        return serialize(value, attribute, obj)

    return convert


class WireSchema(Schema):
    """A schema whose `load` and `dump` of a plain dict skip marshmallow's per-field
    machinery when the outcome is certain (see the module's docstring)."""

    def _plain(self) -> bool:
        # Hooks, dotted names or non-default options: marshmallow alone knows the outcome.
        every = self.fields.values()
        names = [*self.load_fields, *self.dump_fields]
        names += [f.attribute or "" for f in every] + [f.data_key or "" for f in every]
        return (
            not any(self._hooks.values())
            and not self.many
            and not self.partial
            and self.unknown == RAISE
            and type(self).get_attribute is Schema.get_attribute
            and not any("." in name for name in names)
            and all(f._CHECK_ATTRIBUTE for f in self.dump_fields.values())
        )

    @cached_property
    def _load_plan(self) -> tuple[frozenset[str], list[_LoadStep]] | None:
        if not self._plain():
            return None
        steps = [
            (f.data_key or name, f.attribute or name, f.required, f.load_default, _load_step(f))
            for name, f in self.load_fields.items()
        ]
        return frozenset(step[0] for step in steps), steps

    @cached_property
    def _dump_plan(self) -> list[_DumpStep] | None:
        if not self._plain():
            return None
        return [
            (f.attribute or name, f.data_key or name, _dump_step(f))
            for name, f in self.dump_fields.items()
        ]

    def load(
        self,
        data: Any,
        *,
        many: bool | None = None,
        partial: Any = None,
        unknown: str | None = None,
    ) -> Any:
        if type(data) is dict and many is None and partial is None and unknown is None:
            plan = self._load_plan
            if plan is not None:
                try:
                    return self._short_load(data, *plan)
                except _Unsure:
                    pass
        return super().load(data, many=many, partial=partial, unknown=unknown)

    def _short_load(
        self, data: dict[str, Any], known: frozenset[str], steps: list[_LoadStep]
    ) -> dict[str, Any]:
        if not known.issuperset(data):
            raise _Unsure  # an unknown field
        loaded = self.dict_class()
        for key, attribute, required, default, convert in steps:
            value = data.get(key, missing)
            if value is missing:
                if required:
                    raise _Unsure
                if default is missing:
                    continue
                value = default() if callable(default) else default
                loaded[attribute] = value
                continue
            loaded[attribute] = convert(value, key, data)
        return loaded

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        if type(obj) is dict and not many:  # Nested dumps with many=False
            plan = self._dump_plan
            if plan is not None:
                try:
                    dumped = self.dict_class()
                    for attribute, key, convert in plan:
                        dumped[key] = convert(obj[attribute], attribute, obj)
                    return dumped
                except KeyError:
                    pass  # marshmallow skips a missing key, or finds it as an attribute
        return super().dump(obj, many=many)


def _text(maximum: int, **kwargs: Any) -> fields.String:
    return Text(validate=validate.Length(min=1, max=maximum), **kwargs)


# ---------------------------------------------------------------------- shared parts


class ProblemSchema(WireSchema):
    """RFC 9457 problem details."""

    type = Text(required=True)
    title = Text(required=True)
    status = fields.Integer(required=True)
    detail = Text(required=True)
    errors = fields.Dict(keys=Text(), values=fields.List(Text()))


class BalanceSchema(WireSchema):
    available = fields.Integer(required=True, metadata={"description": "negative = debt"})
    pending = fields.Integer(required=True)
    tier = Text(required=True)


class MemberWriteSchema(WireSchema):
    """What every write on a member adds: the exact balance after it, and its log position."""

    balance = fields.Nested(BalanceSchema, required=True)
    position = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "log position of the operation's last event (null: none)"},
    )


class NoBodySchema(WireSchema):
    """An action that takes no parameters: any field in its body is a typo (422)."""


class PartnerField(WireSchema):
    partner_id = Id(
        metadata={"description": "admin: the partner to act for; a partner key: its own or absent"}
    )


# --------------------------------------------------------------------------- program


class TierSchema(WireSchema):
    code = Id(required=True)
    name = _text(100, required=True)
    threshold = DecimalString(required=True)
    multiplier = DecimalString(required=True, positive=True)


class ProgramSchema(WireSchema):
    currency = Currency(required=True)
    points_lifetime_months = Points(required=True, minimum=1, maximum=1200)
    max_backdate_days = Points(required=True, maximum=MAX_DAYS)
    point_value = DecimalString(required=True)
    tiers = fields.List(
        fields.Nested(TierSchema), required=True, validate=validate.Length(min=1, max=50)
    )
    enrollment_bonus_points = Points(required=True)

    @validates("tiers")
    def _distinct_codes(self, tiers: list[dict[str, Any]], **_: Any) -> None:
        codes = [tier["code"] for tier in tiers]
        if len(set(codes)) != len(codes):
            raise ValidationError("Tier codes must be distinct.")

    @post_load
    def _rules(self, data: dict[str, Any], **_: Any) -> ProgramRules:
        return ProgramRules(**{**data, "tiers": tuple(Tier(**t) for t in data["tiers"])})


# -------------------------------------------------------------------------- partners


class PartnerRequestSchema(WireSchema):
    partner_id = Id(required=True)
    name = _text(200, required=True)
    currency = Currency(required=True)
    earn_rate = DecimalString(required=True, metadata={"description": "points per unit spent"})
    funding_rate = DecimalString(required=True, metadata={"description": "owed per point issued"})
    reimbursement_rate = DecimalString(
        required=True, metadata={"description": "reimbursed per point redeemed"}
    )
    pending_days = Points(required=True, maximum=MAX_DAYS)

    @post_load
    def _terms(self, data: dict[str, Any], **_: Any) -> PartnerTerms:
        return PartnerTerms(**data)


class PartnerSchema(PartnerRequestSchema):
    status = Text(required=True, metadata={"enum": ["active", "suspended"]})


# ------------------------------------------------------------------------------ keys


class KeyRequestSchema(WireSchema):
    role = Text(required=True, validate=validate.OneOf(ROLES))
    partner_id = Id(
        allow_none=True, metadata={"description": "required for, and only for, role partner"}
    )
    name = _text(200, required=True)


class KeySchema(WireSchema):
    key_id = Text(required=True)
    key = Text(required=True, metadata={"description": "the bearer token; shown only once"})
    role = Text(required=True)
    partner_id = Text(required=True, allow_none=True)
    name = Text(required=True)


# --------------------------------------------------------------------------- members


class MemberSchema(MemberWriteSchema):
    member_id = Text(required=True)
    status = Text(required=True, metadata={"enum": ["active", "suspended", "closed"]})
    enrolled_at = Timestamp(required=True)
    tier = Text(required=True)


class EnrollRequestSchema(PartnerField):
    member_id = Id(required=True)
    enrolled_at = Timestamp()
    birth_date = fields.Date()


class AdjustmentRequestSchema(WireSchema):
    adjustment_id = Id(required=True)
    points = Points(required=True, minimum=-(10**12), nonzero=True)
    reason = _text(500, required=True)
    allow_debt = fields.Boolean(load_default=False)


class AdjustmentSchema(MemberWriteSchema):
    adjustment_id = Text(required=True)
    member_id = Text(required=True)
    points = fields.Integer(required=True)
    reason = Text(required=True)
    recorded_at = Timestamp(required=True)


class SweepRequestSchema(WireSchema):
    as_of = Timestamp(metadata={"description": "default now; must not be in the future"})


class SweepSchema(WireSchema):
    as_of = Timestamp(required=True)
    activated_points = fields.Integer(required=True)
    expired_points = fields.Integer(required=True)
    members_touched = fields.Integer(required=True)
    tier_changes = fields.Integer(required=True)
    position = fields.Integer(required=True, allow_none=True)


# -------------------------------------------------------------------- partner writes


class AccrualRequestSchema(PartnerField):
    transaction_id = Id(required=True)
    member_id = Id(required=True)
    amount = DecimalString(required=True, positive=True)
    currency = Currency(required=True)
    occurred_at = Timestamp(required=True)
    pending_days = Points(maximum=MAX_DAYS)
    bonus_points = Points(load_default=0)


class AccrualSchema(MemberWriteSchema):
    accrual_id = Text(required=True)
    transaction_id = Text(required=True)
    partner_id = Text(required=True)
    member_id = Text(required=True)
    amount = DecimalString(required=True)
    currency = Text(required=True)
    points = fields.Integer(required=True)
    base_points = fields.Integer(required=True)
    tier_multiplier = DecimalString(required=True)
    bonus_points = fields.Integer(required=True)
    status = Text(required=True, metadata={"enum": ["pending", "available"]})
    available_at = Timestamp(required=True)
    expires_at = Timestamp(required=True)
    recorded_at = Timestamp(required=True)


class RedemptionRequestSchema(PartnerField):
    transaction_id = Id(required=True)
    member_id = Id(required=True)
    points = Points(required=True, minimum=1)
    occurred_at = Timestamp(required=True)
    description = _text(500)


class LotPortionSchema(WireSchema):
    lot_id = Text(required=True)
    points = fields.Integer(required=True)


class RedemptionSchema(MemberWriteSchema):
    redemption_id = Text(required=True)
    transaction_id = Text(required=True)
    partner_id = Text(required=True)
    member_id = Text(required=True)
    points = fields.Integer(required=True)
    lots = fields.List(fields.Nested(LotPortionSchema), required=True)
    reimbursement_amount = DecimalString(required=True)
    recorded_at = Timestamp(required=True)


class AccrualReversalRequestSchema(PartnerField):
    transaction_id = Id(required=True, metadata={"description": "the return's own id"})
    refund_amount = DecimalString(
        positive=True, metadata={"description": "absent: all that is left"}
    )
    occurred_at = Timestamp(required=True)
    reason = _text(500)


class AccrualReversalSchema(MemberWriteSchema):
    reversal_id = Text(required=True)
    transaction_id = Text(required=True)
    accrual_transaction_id = Text(required=True)
    partner_id = Text(required=True)
    member_id = Text(required=True)
    points_reversed = fields.Integer(required=True)
    refund_amount = DecimalString(required=True)
    debt_created = fields.Integer(required=True)
    recorded_at = Timestamp(required=True)


class RedemptionReversalRequestSchema(PartnerField):
    transaction_id = Id(required=True, metadata={"description": "the cancellation's own id"})
    occurred_at = Timestamp(required=True)
    reason = _text(500)


class RedemptionReversalSchema(MemberWriteSchema):
    reversal_id = Text(required=True)
    transaction_id = Text(required=True)
    redemption_transaction_id = Text(required=True)
    partner_id = Text(required=True)
    member_id = Text(required=True)
    points_restored = fields.Integer(required=True)
    recorded_at = Timestamp(required=True)


class TransactionSchema(WireSchema):
    """The operation's original response body, plus which operation it was."""

    class Meta:
        unknown = INCLUDE

    operation = Text(
        required=True,
        metadata={"enum": ["accrue", "redeem", "reverse_accrual", "reverse_redemption"]},
    )


class PartnerQuerySchema(PartnerField):
    pass


# --------------------------------------------------------------------------- batches


class BatchRequestSchema(PartnerField):
    operations = fields.List(
        fields.Raw(metadata={"type": "object"}),
        required=True,
        validate=validate.Length(max=MAX_BATCH),
        metadata={
            "description": 'each {"op": "enroll"|"accrue"|"redeem"|"reverse_accrual"|'
            '"reverse_redemption", ...the single endpoint\'s fields; reversals add '
            "original_transaction_id}"
        },
    )


class ReverseAccrualOperationSchema(AccrualReversalRequestSchema):
    original_transaction_id = Id(required=True)


class ReverseRedemptionOperationSchema(RedemptionReversalRequestSchema):
    original_transaction_id = Id(required=True)


class BatchResultSchema(WireSchema):
    index = fields.Integer(required=True)
    status = fields.Integer(required=True)
    body = fields.Dict(required=True, metadata={"description": "the body or problem"})


class BatchSchema(WireSchema):
    results = fields.List(fields.Nested(BatchResultSchema), required=True)
