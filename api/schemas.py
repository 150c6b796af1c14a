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
    BirthDate,
    Currency,
    DecimalString,
    Id,
    Points,
    Timestamp,
    member_status,
)
from ledger import bounds
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

    type = Text(
        required=True,
        metadata={
            "description": "https://loyalty-ledger.dev/problems/<slug>: the slug is what a "
            "client codes against."
        },
    )
    title = Text(required=True, metadata={"description": "The slug's fixed summary."})
    status = fields.Integer(required=True, metadata={"description": "The HTTP status."})
    detail = Text(required=True, metadata={"description": "What went wrong in this request."})
    errors = fields.Dict(
        keys=Text(),
        values=fields.List(Text()),
        metadata={
            "description": "validation-error only: the messages per field (nested fields as "
            '"tiers.0.code").'
        },
    )


class BalanceSchema(WireSchema):
    available = fields.Integer(
        required=True,
        metadata={"description": "Points redeemable now; negative = debt (points)."},
    )
    pending = fields.Integer(
        required=True, metadata={"description": "Points earned, not yet available (points)."}
    )
    tier = Text(required=True, metadata={"description": "Code of the tier held now."})


class MemberWriteSchema(WireSchema):
    """What every write on a member adds: the exact balance after it, and its log position."""

    balance = fields.Nested(
        BalanceSchema,
        required=True,
        metadata={
            "description": "The member's balance right after this operation, read from the "
            "member itself (exact, not the projection)."
        },
    )
    position = fields.Integer(
        required=True,
        allow_none=True,
        metadata={
            "description": "Log position of the operation's last event: pass it as "
            "?min_position= to read your own write (null: no event written)."
        },
    )


class NoBodySchema(WireSchema):
    """An action that takes no parameters: any field in its body is a typo (422)."""


class PartnerField(WireSchema):
    partner_id = Id(
        metadata={
            "description": "An admin key: the partner to act for (required). A partner key: "
            "absent, or its own partner_id (another's is 403)."
        }
    )


# --------------------------------------------------------------------------- program


class TierSchema(WireSchema):
    code = Id(required=True, metadata={"description": "The tier's code, e.g. silver."})
    name = _text(100, required=True, metadata={"description": "Display name, 1 to 100 characters."})
    threshold = DecimalString(
        required=True,
        maximum=bounds.MAX_THRESHOLD,
        metadata={
            "description": "Qualifying spend (net accrual amounts occurred in the trailing 365 "
            "days, program currency) from which a member holds the tier. The lowest tier: 0."
        },
    )
    multiplier = DecimalString(
        required=True,
        positive=True,
        maximum=bounds.MAX_MULTIPLIER,
        metadata={
            "description": "The tier_multiplier of accruals: points = floor(amount x earn_rate "
            "x multiplier) + bonus_points. Greater than 0."
        },
    )


class ProgramSchema(WireSchema):
    currency = Currency(
        required=True,
        metadata={"description": "ISO 4217 code of the program currency (every report's)."},
    )
    points_lifetime_months = Points(
        required=True,
        minimum=1,
        maximum=1200,
        metadata={
            "description": "A lot expires at the start of the month after its occurred_at's "
            "month plus this many months (months, 1 to 1200)."
        },
    )
    max_backdate_days = Points(
        required=True,
        maximum=MAX_DAYS,
        metadata={
            "description": "How far in the past a partner operation's occurred_at may lie "
            "(days), else occurred-at-out-of-range."
        },
    )
    point_value = DecimalString(
        required=True,
        maximum=bounds.MAX_MONEY_PER_POINT,
        metadata={
            "description": "What one point is worth in the program currency: the liability "
            "report's value = outstanding points x point_value."
        },
    )
    tiers = fields.List(
        fields.Nested(TierSchema),
        required=True,
        validate=validate.Length(min=1, max=50),
        metadata={"description": "1 to 50 tiers with distinct codes, in any order."},
    )
    enrollment_bonus_points = Points(
        required=True,
        maximum=bounds.MAX_POINTS_PER_ACCRUAL,
        metadata={
            "description": "Points every new member gets at enrollment (an operator-funded "
            "lot; 0: none)."
        },
    )
    max_points_per_accrual = Points(
        load_default=bounds.DEFAULT_MAX_POINTS_PER_ACCRUAL,
        minimum=1,
        maximum=bounds.MAX_POINTS_PER_ACCRUAL,
        metadata={
            "description": "The most points one accrual may give (tier points plus "
            "bonus_points); more is validation-error naming amount or bonus_points. Default "
            "100000."
        },
    )

    @validates("tiers")
    def _distinct_codes(self, tiers: list[Any], **_: Any) -> None:
        # marshmallow validates the tiers that loaded even when others did not.
        codes = [tier["code"] for tier in tiers if isinstance(tier, dict) and "code" in tier]
        if len(set(codes)) != len(codes):
            raise ValidationError("Tier codes must be distinct.")

    @post_load
    def _rules(self, data: dict[str, Any], **_: Any) -> ProgramRules:
        return ProgramRules(**{**data, "tiers": tuple(Tier(**t) for t in data["tiers"])})


# -------------------------------------------------------------------------- partners


class PartnerRequestSchema(WireSchema):
    partner_id = Id(
        required=True, metadata={"description": "The partner's id, chosen by the operator."}
    )
    name = _text(200, required=True, metadata={"description": "Display name, 1 to 200 characters."})
    currency = Currency(
        required=True,
        metadata={"description": "ISO 4217 code the partner posts its accruals in."},
    )
    earn_rate = DecimalString(
        required=True,
        maximum=bounds.MAX_EARN_RATE,
        metadata={
            "description": "Points per currency unit spent: base_points = floor(amount x "
            "earn_rate)."
        },
    )
    funding_rate = DecimalString(
        required=True,
        maximum=bounds.MAX_MONEY_PER_POINT,
        metadata={
            "description": "What the partner owes the operator per point it issues (currency "
            "per point), in settlement's amount_funded."
        },
    )
    reimbursement_rate = DecimalString(
        required=True,
        maximum=bounds.MAX_MONEY_PER_POINT,
        metadata={
            "description": "What the operator pays the partner per point redeemed there "
            "(currency per point), in settlement's amount_reimbursed."
        },
    )
    pending_days = Points(
        required=True,
        maximum=MAX_DAYS,
        metadata={
            "description": "Default days an accrual's points stay pending after occurred_at "
            "(a return window; 0: available at once)."
        },
    )

    @post_load
    def _terms(self, data: dict[str, Any], **_: Any) -> PartnerTerms:
        return PartnerTerms(**data)


class PartnerSchema(PartnerRequestSchema):
    status = Text(
        required=True,
        metadata={
            "enum": ["active", "suspended"],
            "description": "suspended: every write of the partner is refused (partner-not-active).",
        },
    )


# ------------------------------------------------------------------------------ keys


class KeyRequestSchema(WireSchema):
    role = Text(
        required=True,
        validate=validate.OneOf(ROLES),
        metadata={
            "description": "admin: everything; partner: its own writes and member reads; "
            "auditor: reads, events and audit; finance: reads and reports."
        },
    )
    partner_id = Id(
        allow_none=True,
        metadata={
            "description": "The partner the key acts for: required for, and only for, role partner."
        },
    )
    name = _text(
        200,
        required=True,
        metadata={"description": "What the key is for, e.g. the till or system using it."},
    )


class KeySchema(WireSchema):
    key_id = Text(
        required=True,
        metadata={"description": "The key's id (to revoke it); not a secret."},
    )
    key = Text(
        required=True,
        metadata={
            "description": "The bearer token (Authorization: Bearer <key>); shown only in "
            "this answer, only its hash is stored."
        },
    )
    role = Text(required=True, metadata={"description": "The key's role."})
    partner_id = Text(
        required=True,
        allow_none=True,
        metadata={"description": "The partner of a partner key; null for other roles."},
    )
    name = Text(required=True, metadata={"description": "What the key is for."})


# --------------------------------------------------------------------------- members


class MemberSchema(MemberWriteSchema):
    member_id = Text(required=True, metadata={"description": "The member's id."})
    status = member_status()
    enrolled_at = Timestamp(required=True, metadata={"description": "When the member joined."})
    tier = Text(required=True, metadata={"description": "Code of the tier held now."})


class EnrollRequestSchema(PartnerField):
    member_id = Id(
        required=True,
        metadata={
            "description": "The member's id, coalition-wide (e.g. the card number); enrolling "
            "it again with the same body is a replay."
        },
    )
    enrolled_at = Timestamp(
        metadata={
            "description": "When the member joined, if earlier than now (RFC 3339 with an "
            "offset; not in the future). Default now."
        }
    )
    birth_date = BirthDate(
        metadata={
            "description": "The member's birth date, YYYY-MM-DD, from 1900-01-01 to today "
            "(optional)."
        }
    )


class AdjustmentRequestSchema(WireSchema):
    adjustment_id = Id(
        required=True,
        metadata={"description": "The adjustment's own id: idempotent like a transaction_id."},
    )
    points = Points(
        required=True,
        minimum=-bounds.MAX_POINTS_PER_OPERATION,
        maximum=bounds.MAX_POINTS_PER_OPERATION,
        nonzero=True,
        metadata={
            "description": "Signed, not 0: positive credits an operator-funded lot (standard "
            "expiry from now); negative consumes available points like a redemption."
        },
    )
    reason = _text(
        500,
        required=True,
        metadata={"description": "Why (kept in the event and the statement), 1 to 500 characters."},
    )
    allow_debt = fields.Boolean(
        load_default=False,
        metadata={
            "description": "A debit beyond available: true leaves the member in debt, false "
            "(default) refuses it with insufficient-points."
        },
    )


class AdjustmentSchema(MemberWriteSchema):
    adjustment_id = Text(required=True, metadata={"description": "The adjustment's id."})
    member_id = Text(required=True, metadata={"description": "The member adjusted."})
    points = fields.Integer(required=True, metadata={"description": "Signed points, as asked."})
    reason = Text(required=True, metadata={"description": "Why, as given."})
    recorded_at = Timestamp(required=True, metadata={"description": "When it was recorded."})


class SweepRequestSchema(WireSchema):
    as_of = Timestamp(
        metadata={
            "description": "Emit what is due at this instant (RFC 3339 with an offset); "
            "default now; not in the future."
        }
    )


class SweepSchema(WireSchema):
    as_of = Timestamp(required=True, metadata={"description": "The instant swept to."})
    activated_points = fields.Integer(
        required=True, metadata={"description": "Pending points made available."}
    )
    expired_points = fields.Integer(required=True, metadata={"description": "Points expired."})
    members_touched = fields.Integer(
        required=True, metadata={"description": "Members with at least one event written."}
    )
    tier_changes = fields.Integer(required=True, metadata={"description": "Tier downgrades."})
    position = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "Log position of the last event written; null: none."},
    )


# -------------------------------------------------------------------- partner writes


class AccrualRequestSchema(PartnerField):
    transaction_id = Id(
        required=True,
        metadata={
            "description": "The partner's id of this purchase, unique across all its "
            "operations: a retry with the same body is a replay, another body 409."
        },
    )
    member_id = Id(required=True, metadata={"description": "The member earning."})
    amount = DecimalString(
        required=True,
        positive=True,
        maximum=bounds.MAX_AMOUNT,
        metadata={
            "description": "The purchase amount: greater than 0, at most 1000000000 and the "
            "currency's minor digits (EUR: 2). The accrual's points must not exceed the program's "
            "max_points_per_accrual (else 422 naming amount)."
        },
    )
    currency = Currency(
        required=True,
        metadata={"description": "ISO 4217 code; must be the partner's (currency-mismatch)."},
    )
    occurred_at = Timestamp(
        required=True,
        metadata={
            "description": "When the purchase happened (RFC 3339 with an offset): at most 5 "
            "minutes ahead, at most max_backdate_days back."
        },
    )
    pending_days = Points(
        maximum=MAX_DAYS,
        metadata={
            "description": "Days the points stay pending after occurred_at; default the "
            "partner's pending_days."
        },
    )
    bonus_points = Points(
        load_default=0,
        maximum=bounds.MAX_POINTS_PER_ACCRUAL,
        metadata={
            "description": "Extra points the partner grants (and funds) on top, added after "
            "the floor; default 0. Counted in max_points_per_accrual (else 422 naming "
            "bonus_points)."
        },
    )


class AccrualSchema(MemberWriteSchema):
    accrual_id = Text(required=True, metadata={"description": "The ledger's id of the accrual."})
    transaction_id = Text(required=True, metadata={"description": "The partner's id, as sent."})
    partner_id = Text(required=True, metadata={"description": "The partner that accrued."})
    member_id = Text(required=True, metadata={"description": "The member credited."})
    amount = DecimalString(required=True, metadata={"description": "The purchase amount."})
    currency = Text(required=True, metadata={"description": "The amount's currency."})
    points = fields.Integer(
        required=True,
        metadata={
            "description": "Points credited: floor(amount x earn_rate x tier_multiplier) + "
            "bonus_points."
        },
    )
    base_points = fields.Integer(
        required=True, metadata={"description": "floor(amount x earn_rate), before the tier."}
    )
    tier_multiplier = DecimalString(
        required=True,
        metadata={"description": "The multiplier of the tier held before this accrual."},
    )
    bonus_points = fields.Integer(required=True, metadata={"description": "As sent (default 0)."})
    status = Text(
        required=True,
        metadata={
            "enum": ["pending", "available"],
            "description": "pending until available_at, then available (redeemable).",
        },
    )
    available_at = Timestamp(required=True, metadata={"description": "occurred_at + pending days."})
    expires_at = Timestamp(
        required=True,
        metadata={
            "description": "Start of the month after occurred_at's month + the program's "
            "points_lifetime_months."
        },
    )
    recorded_at = Timestamp(required=True, metadata={"description": "When it was recorded."})


class RedemptionRequestSchema(PartnerField):
    transaction_id = Id(
        required=True,
        metadata={
            "description": "The partner's id of this redemption, unique across all its "
            "operations (idempotent)."
        },
    )
    member_id = Id(required=True, metadata={"description": "The member redeeming."})
    points = Points(
        required=True,
        minimum=1,
        maximum=bounds.MAX_POINTS_PER_OPERATION,
        metadata={"description": "Points to redeem: at least 1, at most available."},
    )
    occurred_at = Timestamp(
        required=True,
        metadata={
            "description": "When it happened (RFC 3339 with an offset): at most 5 minutes "
            "ahead, at most max_backdate_days back."
        },
    )
    description = _text(
        500, metadata={"description": "What was bought with the points (optional, 1 to 500)."}
    )


class LotPortionSchema(WireSchema):
    lot_id = Text(required=True, metadata={"description": "The lot points were taken from."})
    points = fields.Integer(required=True, metadata={"description": "Points taken from it."})


class RedemptionSchema(MemberWriteSchema):
    redemption_id = Text(
        required=True, metadata={"description": "The ledger's id of the redemption."}
    )
    transaction_id = Text(required=True, metadata={"description": "The partner's id, as sent."})
    partner_id = Text(required=True, metadata={"description": "The redeeming partner."})
    member_id = Text(required=True, metadata={"description": "The member debited."})
    points = fields.Integer(required=True, metadata={"description": "Points redeemed."})
    lots = fields.List(
        fields.Nested(LotPortionSchema),
        required=True,
        metadata={"description": "The lots consumed, soonest expiry first."},
    )
    reimbursement_amount = DecimalString(
        required=True,
        metadata={
            "description": "Owed to the partner: points x reimbursement_rate, rounded half-up "
            "to the minor unit."
        },
    )
    recorded_at = Timestamp(required=True, metadata={"description": "When it was recorded."})


class AccrualReversalRequestSchema(PartnerField):
    transaction_id = Id(
        required=True,
        metadata={
            "description": "The return's own transaction id (not the accrual's, which is in "
            "the path); idempotent."
        },
    )
    refund_amount = DecimalString(
        positive=True,
        maximum=bounds.MAX_AMOUNT,
        metadata={
            "description": "Amount refunded, at most what is not yet refunded: points "
            "reversed = floor(points x refund_amount / amount). Absent: all that is left."
        },
    )
    occurred_at = Timestamp(
        required=True,
        metadata={
            "description": "When the return happened (RFC 3339 with an offset): at most 5 "
            "minutes ahead, at most max_backdate_days back."
        },
    )
    reason = _text(500, metadata={"description": "Why (optional, 1 to 500 characters)."})


class AccrualReversalSchema(MemberWriteSchema):
    reversal_id = Text(required=True, metadata={"description": "The ledger's id of the reversal."})
    transaction_id = Text(required=True, metadata={"description": "The return's id, as sent."})
    accrual_transaction_id = Text(
        required=True, metadata={"description": "The accrual reversed (its transaction id)."}
    )
    partner_id = Text(required=True, metadata={"description": "The partner."})
    member_id = Text(required=True, metadata={"description": "The member debited."})
    points_reversed = fields.Integer(
        required=True,
        metadata={
            "description": "floor(points x refund_amount / amount); a full reversal: all that "
            "remains unreversed."
        },
    )
    refund_amount = DecimalString(
        required=True,
        metadata={"description": "The amount refunded (as sent, or all that was left)."},
    )
    debt_created = fields.Integer(
        required=True,
        metadata={
            "description": "Points the member no longer had (already redeemed): they become "
            "debt, paid by the next points."
        },
    )
    recorded_at = Timestamp(required=True, metadata={"description": "When it was recorded."})


class RedemptionReversalRequestSchema(PartnerField):
    transaction_id = Id(
        required=True,
        metadata={
            "description": "The cancellation's own transaction id (not the redemption's, "
            "which is in the path); idempotent."
        },
    )
    occurred_at = Timestamp(
        required=True,
        metadata={
            "description": "When it was cancelled (RFC 3339 with an offset): at most 5 minutes "
            "ahead, at most max_backdate_days back."
        },
    )
    reason = _text(500, metadata={"description": "Why (optional, 1 to 500 characters)."})


class RedemptionReversalSchema(MemberWriteSchema):
    reversal_id = Text(required=True, metadata={"description": "The ledger's id of the reversal."})
    transaction_id = Text(
        required=True, metadata={"description": "The cancellation's id, as sent."}
    )
    redemption_transaction_id = Text(
        required=True, metadata={"description": "The redemption cancelled (its transaction id)."}
    )
    partner_id = Text(required=True, metadata={"description": "The partner."})
    member_id = Text(required=True, metadata={"description": "The member credited."})
    points_restored = fields.Integer(
        required=True,
        metadata={
            "description": "All the redemption's points: they pay down debt first, the rest "
            "returns to the lots consumed."
        },
    )
    recorded_at = Timestamp(required=True, metadata={"description": "When it was recorded."})


class TransactionSchema(WireSchema):
    """The operation's original response body, plus which operation it was."""

    class Meta:
        unknown = INCLUDE

    operation = Text(
        required=True,
        metadata={
            "enum": ["accrue", "redeem", "reverse_accrual", "reverse_redemption"],
            "description": "Which operation the transaction id was used for; the other fields "
            "are that operation's original answer.",
        },
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
            "description": "At most 10,000, applied in order, each atomic on its own: "
            '{"op": "enroll"|"accrue"|"redeem"|"reverse_accrual"|"reverse_redemption", '
            "...the single endpoint's body; reversals add original_transaction_id}"
        },
    )


class ReverseAccrualOperationSchema(AccrualReversalRequestSchema):
    original_transaction_id = Id(
        required=True, metadata={"description": "The accrual to reverse (its transaction id)."}
    )


class ReverseRedemptionOperationSchema(RedemptionReversalRequestSchema):
    original_transaction_id = Id(
        required=True,
        metadata={"description": "The redemption to cancel (its transaction id)."},
    )


class BatchResultSchema(WireSchema):
    index = fields.Integer(
        required=True, metadata={"description": "The operation's index in the request, from 0."}
    )
    status = fields.Integer(
        required=True,
        metadata={"description": "The HTTP status its single endpoint would have answered."},
    )
    body = fields.Dict(
        required=True,
        metadata={"description": "The body, or problem, its single endpoint would have answered."},
    )


class BatchSchema(WireSchema):
    results = fields.List(
        fields.Nested(BatchResultSchema),
        required=True,
        metadata={"description": "One per operation, in request order."},
    )
