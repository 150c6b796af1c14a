"""A member's points: lots, debt, tier, status. The only aggregate with a balance invariant.

Public methods are commands: they check the rules, work out the facts, and trigger one event
whose method body is the state change. Replay only re-applies facts, never today's rules.

Every event after enrollment records the member's balance right after it, and those that
take points out of lots record how many came from pending ones: a read model then needs
nothing but the event (ARCHITECTURE §12). Events recorded before that (version 1) upcast
those facts to None, "not recorded".
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import chain, takewhile
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from ledger import ids
from ledger.base import LedgerAggregate
from ledger.bounds import (
    MAX_AMOUNT,
    MAX_MEMBER_POINTS,
    MAX_POINTS_PER_OPERATION,
    check_at_most,
    check_between,
)
from ledger.errors import (
    AlreadyReversed,
    CurrencyMismatch,
    InsufficientPoints,
    InvalidCommand,
    MemberNotActive,
    NotFound,
    RefundExceedsOriginal,
)
from ledger.ids import OPERATOR
from ledger.money import check_minor_digits, floor_points, round_money
from ledger.partner import PartnerTerms
from ledger.program import ProgramRules, lot_expiry
from ledger.spend_history import SpendHistory

QUALIFYING_WINDOW = timedelta(days=365)
TIER_GUARANTEE = timedelta(days=365)


@dataclass
class Lot:
    lot_id: str
    source: str
    points: int
    remaining: int
    earned_at: datetime
    available_at: datetime
    expires_at: datetime
    pending: bool


@dataclass
class AccrualRecord:
    accrual_id: str
    partner_id: str
    transaction_id: str
    amount: Decimal
    currency: str
    occurred_at: datetime
    points: int
    lot_id: str
    funding_rate: Decimal
    spend_seq: int = 0
    refunded: Decimal = Decimal(0)
    points_reversed: int = 0


@dataclass
class RedemptionRecord:
    redemption_id: str
    partner_id: str
    transaction_id: str
    points: int
    lots: list[dict[str, Any]]
    reimbursement_rate: Decimal
    currency: str
    reversed: bool = False


def _use_key(lot: Lot) -> tuple[datetime, datetime, int, str]:
    # Soonest expiry first, then earliest earned, then lot id ("L9" before "L10").
    return (lot.expires_at, lot.earned_at, len(lot.lot_id), lot.lot_id)


def _activation_key(lot: Lot) -> tuple[datetime, int, str]:
    return (lot.available_at, len(lot.lot_id), lot.lot_id)


def _key(partner_id: str, transaction_id: str) -> str:
    return partner_id + "\n" + transaction_id


def _portion(lot: Lot, points: int) -> dict[str, Any]:
    return {"lot_id": lot.lot_id, "source": lot.source, "points": points}


def _taken(lots: list[dict[str, Any]]) -> int:
    return sum(p["points"] for p in lots)


class Member(LedgerAggregate):
    @staticmethod
    def create_id(member_id: str) -> UUID:
        return ids.member_id(member_id)

    # ------------------------------------------------------------------ events

    class BalanceEvent(LedgerAggregate.Event):
        """An event that records the balance right after it (None: not recorded)."""

        class_version = 2
        available_after: int | None
        pending_after: int | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.update(available_after=None, pending_after=None)

    class TakingEvent(BalanceEvent):
        """One that takes points out of `lots`, `from_pending` of them out of pending lots."""

        lots: list[dict[str, Any]]
        from_pending: int | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.update(available_after=None, pending_after=None, from_pending=None)

    class BonusGranted(BalanceEvent):
        reason: str
        lot: dict[str, Any]
        debt_paid: int

    class PointsAccrued(BalanceEvent):
        accrual_id: str
        partner_id: str
        transaction_id: str
        amount: Decimal
        currency: str
        occurred_at: datetime
        earn_rate: Decimal
        tier: str
        tier_multiplier: Decimal
        base_points: int
        bonus_points: int
        points: int
        pending_days: int
        funding_rate: Decimal
        funding_amount: Decimal
        lot: dict[str, Any]
        pending: bool
        debt_paid: int

    class PointsActivated(BalanceEvent):
        as_of: datetime
        lots: list[dict[str, Any]]

    class PointsExpired(TakingEvent):
        as_of: datetime

    class TierChanged(BalanceEvent):
        from_tier: str
        to_tier: str
        reason: str
        qualifying_spend: Decimal
        guaranteed_until: datetime | None

    class PointsAdjusted(BalanceEvent):
        adjustment_id: str
        points: int
        reason: str
        lot: dict[str, Any] | None
        debt_paid: int
        lots: list[dict[str, Any]]
        debt_created: int

    class PointsRedeemed(BalanceEvent):
        redemption_id: str
        partner_id: str
        transaction_id: str
        points: int
        occurred_at: datetime
        description: str | None
        lots: list[dict[str, Any]]
        reimbursement_rate: Decimal
        reimbursement_amount: Decimal
        currency: str

    class AccrualReversed(TakingEvent):
        reversal_id: str
        partner_id: str
        transaction_id: str
        accrual_id: str
        accrual_transaction_id: str
        refund_amount: Decimal
        currency: str
        points_reversed: int
        debt_created: int
        funding_rate: Decimal
        funding_amount: Decimal
        occurred_at: datetime
        reason: str | None

    class RedemptionReversed(BalanceEvent):
        reversal_id: str
        partner_id: str
        transaction_id: str
        redemption_id: str
        redemption_transaction_id: str
        points_restored: int
        debt_paid: int
        lots: list[dict[str, Any]]
        reimbursement_rate: Decimal
        reimbursement_amount: Decimal
        currency: str
        occurred_at: datetime
        reason: str | None

    class MemberSuspended(BalanceEvent):
        pass

    class MemberReactivated(BalanceEvent):
        pass

    class MemberClosed(TakingEvent):
        # Events recorded before `reason` existed have none, and replay with None.
        reason: str | None = None

    @event("MemberEnrolled")
    def __init__(
        self,
        timestamp: datetime,
        member_id: str,
        enrolled_at: datetime,
        birth_date: date | None,
        enrolled_by: str,
        tier: str,
    ) -> None:
        self.member_id = member_id
        self.enrolled_at = enrolled_at
        self.birth_date = birth_date
        self.enrolled_by = enrolled_by
        self.status = "active"
        self.tier = tier
        self.tier_since = enrolled_at
        self.tier_guaranteed_until: datetime | None = None
        self.lots: dict[str, Lot] = {}
        self.lot_seq = 0
        self.debt = 0
        # Indexes kept by the event methods, so no command scans the whole history:
        self.points_in_available_lots = 0
        self.points_in_pending_lots = 0
        self.lots_with_points: list[tuple[datetime, datetime, int, str]] = []  # use order
        self.pending_lots: list[tuple[datetime, int, str]] = []  # activation order
        self.spend = SpendHistory()
        self.accruals: dict[str, AccrualRecord] = {}
        self.redemptions: dict[str, RedemptionRecord] = {}
        self.lifetime_earned = 0
        self.lifetime_adjusted = 0
        self.lifetime_redeemed = 0
        self.lifetime_expired = 0
        self.lifetime_reversed = 0

    # ----------------------------------------------------------------- reading

    @property
    def available(self) -> int:
        return self.points_in_available_lots - self.debt

    @property
    def pending(self) -> int:
        return self.points_in_pending_lots

    def balance(self) -> dict[str, Any]:
        return {"available": self.available, "pending": self.pending, "tier": self.tier}

    def full_balance(self) -> dict[str, Any]:
        return {
            "member_id": self.member_id,
            "available": self.available,
            "pending": self.pending,
            "lifetime_earned": self.lifetime_earned,
            "lifetime_adjusted": self.lifetime_adjusted,
            "lifetime_redeemed": self.lifetime_redeemed,
            "lifetime_expired": self.lifetime_expired,
            "lifetime_reversed": self.lifetime_reversed,
            "tier": self.tier,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "member_id": self.member_id,
            "status": self.status,
            "enrolled_at": self.enrolled_at,
            "tier": self.tier,
        }

    def qualifying_spend(self, at: datetime) -> Decimal:
        return self.spend.total(after=at - QUALIFYING_WINDOW, up_to=at)

    def _spendable(self, exclude: str | None = None) -> Iterator[Lot]:
        for *_, lot_id in self.lots_with_points:
            lot = self.lots[lot_id]
            if not lot.pending and lot_id != exclude:
                yield lot

    def _after(self, available: int = 0, pending: int = 0) -> dict[str, int]:
        """The balance facts of an event that changes available and pending by these."""
        return {
            "available_after": self.available + available,
            "pending_after": self.pending + pending,
        }

    def _from_pending(self, lots: list[dict[str, Any]]) -> int:
        return sum(p["points"] for p in lots if self.lots[p["lot_id"]].pending)

    def accrual(self, partner_id: str, transaction_id: str) -> AccrualRecord | None:
        return self.accruals.get(_key(partner_id, transaction_id))

    def redemption(self, partner_id: str, transaction_id: str) -> RedemptionRecord | None:
        return self.redemptions.get(_key(partner_id, transaction_id))

    # ------------------------------------------------------------ due events

    def run_due(self, as_of: datetime, rules: ProgramRules, now: datetime | None = None) -> None:
        """Emit what is due at `as_of`: activations, then expiries, then a tier downgrade.

        `now` is when the events are recorded; a sweep may run for an earlier `as_of`.
        """
        if self.status == "closed":
            return
        recorded = now or as_of
        due = [
            self.lots[lot_id]
            for available_at, _, lot_id in takewhile(
                lambda entry: entry[0] <= as_of, self.pending_lots
            )
        ]
        if due:
            debt = self.debt
            activated = []
            for lot in due:
                paid = min(debt, lot.remaining)
                debt -= paid
                activated.append({**_portion(lot, lot.remaining), "debt_paid": paid})
            points = _taken(activated)
            self.trigger_event(
                self.PointsActivated,
                timestamp=recorded,
                as_of=as_of,
                lots=activated,
                **self._after(available=points, pending=-points),
            )

        expired = [
            self.lots[entry[-1]]
            for entry in takewhile(lambda entry: entry[0] <= as_of, self.lots_with_points)
        ]
        if expired:
            lots = [
                {**_portion(lot, lot.remaining), "expires_at": lot.expires_at} for lot in expired
            ]
            self._trigger_taking(self.PointsExpired, lots, timestamp=recorded, as_of=as_of)

        ladder = rules.ladder
        guarantee_over = self.tier_guaranteed_until is None or self.tier_guaranteed_until <= as_of
        if guarantee_over and self.tier != ladder.lowest.code:
            spend = self.qualifying_spend(as_of)
            earned = ladder.for_spend(spend)
            if ladder.rank(earned.code) < ladder.rank(self.tier) or ladder.rank(self.tier) < 0:
                self.trigger_event(
                    self.TierChanged,
                    timestamp=recorded,
                    from_tier=self.tier,
                    to_tier=earned.code,
                    reason="downgrade",
                    qualifying_spend=spend,
                    guaranteed_until=None,
                    **self._after(),
                )

    def _trigger_taking(
        self, event_class: type[Member.TakingEvent], lots: list[dict[str, Any]], **facts: Any
    ) -> None:
        """Trigger an event that takes `lots` (and `debt_created`, if any) from the balance."""
        from_pending = self._from_pending(lots)
        from_available = _taken(lots) - from_pending + facts.get("debt_created", 0)
        self.trigger_event(
            event_class,
            lots=lots,
            from_pending=from_pending,
            **facts,
            **self._after(available=-from_available, pending=-from_pending),
        )

    @event(PointsActivated)
    def _activate(self, lots: list[dict[str, Any]]) -> None:
        for portion in lots:
            lot = self.lots[portion["lot_id"]]
            self._make_available(lot)
            self._change_remaining(lot, -portion["debt_paid"])
            self.debt -= portion["debt_paid"]

    @event(PointsExpired)
    def _expire(self, lots: list[dict[str, Any]]) -> None:
        for portion in lots:
            self._change_remaining(self.lots[portion["lot_id"]], -portion["points"])
            self.lifetime_expired += portion["points"]

    @event(TierChanged)
    def _change_tier(
        self, timestamp: datetime, to_tier: str, guaranteed_until: datetime | None
    ) -> None:
        self.tier = to_tier
        self.tier_since = timestamp
        self.tier_guaranteed_until = guaranteed_until

    # ---------------------------------------------------------------- credits

    def _new_lot(
        self,
        source: str,
        points: int,
        earned_at: datetime,
        available_at: datetime,
        rules: ProgramRules,
    ) -> dict[str, Any]:
        return {
            "lot_id": f"L{self.lot_seq + 1}",
            "source": source,
            "points": points,
            "earned_at": earned_at,
            "available_at": available_at,
            "expires_at": lot_expiry(earned_at, rules.points_lifetime_months),
        }

    def _add_lot(self, lot: dict[str, Any], pending: bool, debt_paid: int) -> None:
        self.lot_seq += 1
        added = Lot(
            lot_id=lot["lot_id"],
            source=lot["source"],
            points=lot["points"],
            remaining=0,
            earned_at=lot["earned_at"],
            available_at=lot["available_at"],
            expires_at=lot["expires_at"],
            pending=pending,
        )
        self.lots[added.lot_id] = added
        if pending:
            insort(self.pending_lots, _activation_key(added))
        self._change_remaining(added, lot["points"] - debt_paid)
        self.debt -= debt_paid

    def _change_remaining(self, lot: Lot, delta: int) -> None:
        """Every change to a lot's points goes through here, so the indexes stay true."""
        if delta == 0:
            return
        had_points = lot.remaining > 0
        lot.remaining += delta
        if lot.pending:
            self.points_in_pending_lots += delta
        else:
            self.points_in_available_lots += delta
        if had_points and lot.remaining == 0:
            key = _use_key(lot)
            del self.lots_with_points[bisect_left(self.lots_with_points, key)]
        elif not had_points and lot.remaining > 0:
            insort(self.lots_with_points, _use_key(lot))

    def _make_available(self, lot: Lot) -> None:
        del self.pending_lots[bisect_left(self.pending_lots, _activation_key(lot))]
        lot.pending = False
        self.points_in_pending_lots -= lot.remaining
        self.points_in_available_lots += lot.remaining

    def grant_enrollment_bonus(self, now: datetime, rules: ProgramRules) -> None:
        points = rules.enrollment_bonus_points
        if points > 0:
            self.trigger_event(
                self.BonusGranted,
                timestamp=now,
                reason="enrollment",
                lot=self._new_lot(OPERATOR, points, now, now, rules),
                debt_paid=min(self.debt, points),
                **self._after(available=points),
            )

    @event(BonusGranted)
    def _grant_bonus(self, lot: dict[str, Any], debt_paid: int) -> None:
        self._add_lot(lot, pending=False, debt_paid=debt_paid)
        self.lifetime_earned += lot["points"]

    def check_active(self) -> None:
        if self.status != "active":
            raise MemberNotActive(f"member {self.member_id} is {self.status}")

    def check_not_closed(self) -> None:
        if self.status == "closed":
            raise MemberNotActive(f"member {self.member_id} is closed")

    def accrue(
        self,
        now: datetime,
        rules: ProgramRules,
        partner: PartnerTerms,
        accrual_id: str,
        transaction_id: str,
        amount: Decimal,
        currency: str,
        occurred_at: datetime,
        pending_days: int | None,
        bonus_points: int,
    ) -> None:
        self.check_active()
        if currency != partner.currency:
            raise CurrencyMismatch(
                f"partner {partner.partner_id} posts in {partner.currency}, not {currency}"
            )
        if amount <= 0:
            raise InvalidCommand("amount must be greater than zero", field="amount")
        if bonus_points < 0:
            raise InvalidCommand("bonus_points must not be negative", field="bonus_points")
        check_at_most(amount, MAX_AMOUNT, "amount")
        check_minor_digits(amount, currency, "amount")
        rules.check_occurred_at(occurred_at, now)
        days = partner.pending_days if pending_days is None else pending_days
        multiplier = rules.ladder.multiplier(self.tier)
        base_points = floor_points(amount * partner.earn_rate)
        tier_points = floor_points(amount * partner.earn_rate * multiplier)
        points = tier_points + bonus_points
        self._check_accrual_points(tier_points, bonus_points, rules.max_points_per_accrual)
        self._check_lifetime(self.lifetime_earned + points, "lifetime earned", "amount")
        available_at = occurred_at + timedelta(days=days)
        pending = available_at > now
        self.trigger_event(
            self.PointsAccrued,
            timestamp=now,
            accrual_id=accrual_id,
            partner_id=partner.partner_id,
            transaction_id=transaction_id,
            amount=amount,
            currency=currency,
            occurred_at=occurred_at,
            earn_rate=partner.earn_rate,
            tier=self.tier,
            tier_multiplier=multiplier,
            base_points=base_points,
            bonus_points=bonus_points,
            points=points,
            pending_days=days,
            funding_rate=partner.funding_rate,
            funding_amount=round_money(points * partner.funding_rate, currency),
            lot=self._new_lot(partner.partner_id, points, occurred_at, available_at, rules),
            pending=pending,
            debt_paid=0 if pending else min(self.debt, points),
            **(self._after(pending=points) if pending else self._after(available=points)),
        )
        # An accrual dated up to 5 minutes ahead must count towards the upgrade it earns.
        spend = self.qualifying_spend(max(now, occurred_at))
        earned = rules.ladder.for_spend(spend)
        if rules.ladder.rank(earned.code) > rules.ladder.rank(self.tier):
            self.trigger_event(
                self.TierChanged,
                timestamp=now,
                from_tier=self.tier,
                to_tier=earned.code,
                reason="upgrade",
                qualifying_spend=spend,
                guaranteed_until=now + TIER_GUARANTEE,
                **self._after(),
            )

    @staticmethod
    def _check_accrual_points(tier_points: int, bonus_points: int, maximum: int) -> None:
        """A till's typo must not create a liability of millions: the program's limit."""
        if tier_points + bonus_points <= maximum:
            return
        field = "amount" if tier_points > maximum else "bonus_points"
        raise InvalidCommand(
            f"this accrual would give {tier_points + bonus_points} points; "
            f"the program allows at most {maximum} per accrual",
            field=field,
        )

    @staticmethod
    def _check_lifetime(total: int, what: str, field: str) -> None:
        if not -MAX_MEMBER_POINTS <= total <= MAX_MEMBER_POINTS:
            raise InvalidCommand(
                f"this would take the member's {what} points past {MAX_MEMBER_POINTS}",
                field=field,
            )

    @event(PointsAccrued)
    def _accrue(
        self,
        accrual_id: str,
        partner_id: str,
        transaction_id: str,
        amount: Decimal,
        currency: str,
        occurred_at: datetime,
        points: int,
        funding_rate: Decimal,
        lot: dict[str, Any],
        pending: bool,
        debt_paid: int,
    ) -> None:
        self._add_lot(lot, pending=pending, debt_paid=debt_paid)
        self.lifetime_earned += points
        self.accruals[_key(partner_id, transaction_id)] = AccrualRecord(
            accrual_id=accrual_id,
            partner_id=partner_id,
            transaction_id=transaction_id,
            amount=amount,
            currency=currency,
            occurred_at=occurred_at,
            points=points,
            lot_id=lot["lot_id"],
            funding_rate=funding_rate,
            spend_seq=self.lot_seq,
        )
        self.spend.add(occurred_at, self.lot_seq, amount)

    def adjust(
        self,
        now: datetime,
        rules: ProgramRules,
        adjustment_id: str,
        points: int,
        reason: str,
        allow_debt: bool,
    ) -> None:
        self.check_not_closed()
        if points == 0:
            raise InvalidCommand("points must not be zero", field="points")
        check_between(points, -MAX_POINTS_PER_OPERATION, MAX_POINTS_PER_OPERATION, "points")
        self._check_lifetime(self.lifetime_adjusted + points, "net adjusted", "points")
        if points > 0:
            change: dict[str, Any] = {
                "lot": self._new_lot(OPERATOR, points, now, now, rules),
                "debt_paid": min(self.debt, points),
                "lots": [],
                "debt_created": 0,
            }
        else:
            wanted = -points
            if wanted > self.available and not allow_debt:
                raise InsufficientPoints(
                    f"member {self.member_id} has {self.available} points available, not {wanted}"
                )
            lots, missing = self._take_available(wanted)
            change = {"lot": None, "debt_paid": 0, "lots": lots, "debt_created": missing}
        self.trigger_event(
            self.PointsAdjusted,
            timestamp=now,
            adjustment_id=adjustment_id,
            points=points,
            reason=reason,
            **change,
            **self._after(available=points),
        )

    @event(PointsAdjusted)
    def _adjust(
        self,
        points: int,
        lot: dict[str, Any] | None,
        debt_paid: int,
        lots: list[dict[str, Any]],
        debt_created: int,
    ) -> None:
        if lot is not None:
            self._add_lot(lot, pending=False, debt_paid=debt_paid)
        self._consume(lots)
        self.debt += debt_created
        self.lifetime_adjusted += points

    # ----------------------------------------------------------------- debits

    def _take_available(
        self, points: int, first: Lot | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """Plan which lots give `points` (a given lot first); return the plan and the shortfall."""
        plan: list[dict[str, Any]] = []
        missing = points
        candidates = chain(
            [first] if first is not None else [],
            self._spendable(exclude=first.lot_id if first is not None else None),
        )
        for lot in candidates:
            if missing == 0:
                break
            take = min(lot.remaining, missing)
            if take > 0:
                plan.append(_portion(lot, take))
                missing -= take
        return plan, missing

    def _consume(self, lots: list[dict[str, Any]]) -> None:
        for portion in lots:
            self._change_remaining(self.lots[portion["lot_id"]], -portion["points"])

    def redeem(
        self,
        now: datetime,
        rules: ProgramRules,
        partner: PartnerTerms,
        redemption_id: str,
        transaction_id: str,
        points: int,
        occurred_at: datetime,
        description: str | None,
    ) -> None:
        self.check_active()
        if points <= 0:
            raise InvalidCommand("points must be greater than zero", field="points")
        check_at_most(points, MAX_POINTS_PER_OPERATION, "points")
        rules.check_occurred_at(occurred_at, now)
        if points > self.available:
            raise InsufficientPoints(
                f"member {self.member_id} has {self.available} points available, not {points}"
            )
        lots, _ = self._take_available(points)
        self.trigger_event(
            self.PointsRedeemed,
            timestamp=now,
            redemption_id=redemption_id,
            partner_id=partner.partner_id,
            transaction_id=transaction_id,
            points=points,
            occurred_at=occurred_at,
            description=description,
            lots=lots,
            reimbursement_rate=partner.reimbursement_rate,
            reimbursement_amount=round_money(points * partner.reimbursement_rate, partner.currency),
            currency=partner.currency,
            **self._after(available=-points),
        )

    @event(PointsRedeemed)
    def _redeem(
        self,
        redemption_id: str,
        partner_id: str,
        transaction_id: str,
        points: int,
        lots: list[dict[str, Any]],
        reimbursement_rate: Decimal,
        currency: str,
    ) -> None:
        self._consume(lots)
        self.lifetime_redeemed += points
        self.redemptions[_key(partner_id, transaction_id)] = RedemptionRecord(
            redemption_id=redemption_id,
            partner_id=partner_id,
            transaction_id=transaction_id,
            points=points,
            lots=lots,
            reimbursement_rate=reimbursement_rate,
            currency=currency,
        )

    def reverse_accrual(
        self,
        now: datetime,
        rules: ProgramRules,
        partner_id: str,
        reversal_id: str,
        transaction_id: str,
        accrual_transaction_id: str,
        refund_amount: Decimal | None,
        occurred_at: datetime,
        reason: str | None,
    ) -> None:
        self.check_not_closed()
        rules.check_occurred_at(occurred_at, now)
        accrual = self.accrual(partner_id, accrual_transaction_id)
        if accrual is None:
            raise NotFound(f"accrual {accrual_transaction_id} not found")
        refundable = accrual.amount - accrual.refunded
        if refundable <= 0:
            raise AlreadyReversed(f"accrual {accrual_transaction_id} is already fully reversed")
        if refund_amount is not None:
            if refund_amount <= 0:
                raise InvalidCommand("refund_amount must be greater than zero", "refund_amount")
            check_minor_digits(refund_amount, accrual.currency, "refund_amount")
            if refund_amount > refundable:
                raise RefundExceedsOriginal(
                    f"refund {refund_amount} exceeds the {refundable} not yet refunded"
                )
        refund = refundable if refund_amount is None else refund_amount
        unreversed = accrual.points - accrual.points_reversed
        if refund == refundable:
            points = unreversed
        else:
            points = min(unreversed, floor_points(accrual.points * refund / accrual.amount))
        own_lot = self.lots[accrual.lot_id]
        lots, missing = self._take_available(points, first=own_lot)
        self._trigger_taking(
            self.AccrualReversed,
            lots,
            timestamp=now,
            reversal_id=reversal_id,
            partner_id=partner_id,
            transaction_id=transaction_id,
            accrual_id=accrual.accrual_id,
            accrual_transaction_id=accrual_transaction_id,
            refund_amount=refund,
            currency=accrual.currency,
            points_reversed=points,
            debt_created=missing,
            funding_rate=accrual.funding_rate,
            funding_amount=round_money(points * accrual.funding_rate, accrual.currency),
            occurred_at=occurred_at,
            reason=reason,
        )

    @event(AccrualReversed)
    def _reverse_accrual(
        self,
        partner_id: str,
        accrual_transaction_id: str,
        refund_amount: Decimal,
        points_reversed: int,
        lots: list[dict[str, Any]],
        debt_created: int,
    ) -> None:
        self._consume(lots)
        self.debt += debt_created
        self.lifetime_reversed += points_reversed
        accrual = self.accruals[_key(partner_id, accrual_transaction_id)]
        accrual.refunded += refund_amount
        accrual.points_reversed += points_reversed
        self.spend.change(accrual.occurred_at, accrual.spend_seq, -refund_amount)

    def reverse_redemption(
        self,
        now: datetime,
        rules: ProgramRules,
        partner_id: str,
        reversal_id: str,
        transaction_id: str,
        redemption_transaction_id: str,
        occurred_at: datetime,
        reason: str | None,
    ) -> None:
        self.check_not_closed()
        rules.check_occurred_at(occurred_at, now)
        redemption = self.redemption(partner_id, redemption_transaction_id)
        if redemption is None:
            raise NotFound(f"redemption {redemption_transaction_id} not found")
        if redemption.reversed:
            raise AlreadyReversed(f"redemption {redemption_transaction_id} is already reversed")
        debt_paid = min(self.debt, redemption.points)
        rest = redemption.points - debt_paid
        restored = []
        for portion in redemption.lots:
            give = min(rest, portion["points"])
            if give > 0:
                restored.append({**portion, "points": give})
                rest -= give
        self.trigger_event(
            self.RedemptionReversed,
            timestamp=now,
            reversal_id=reversal_id,
            partner_id=partner_id,
            transaction_id=transaction_id,
            redemption_id=redemption.redemption_id,
            redemption_transaction_id=redemption_transaction_id,
            points_restored=redemption.points,
            debt_paid=debt_paid,
            lots=restored,
            reimbursement_rate=redemption.reimbursement_rate,
            reimbursement_amount=round_money(
                redemption.points * redemption.reimbursement_rate, redemption.currency
            ),
            currency=redemption.currency,
            occurred_at=occurred_at,
            reason=reason,
            **self._after(available=redemption.points),
        )

    @event(RedemptionReversed)
    def _reverse_redemption(
        self,
        partner_id: str,
        redemption_transaction_id: str,
        points_restored: int,
        debt_paid: int,
        lots: list[dict[str, Any]],
    ) -> None:
        self.debt -= debt_paid
        for portion in lots:
            self._change_remaining(self.lots[portion["lot_id"]], portion["points"])
        self.lifetime_redeemed -= points_restored
        self.redemptions[_key(partner_id, redemption_transaction_id)].reversed = True

    # ----------------------------------------------------------------- status

    def suspend(self, now: datetime) -> None:
        self.check_not_closed()
        if self.status == "active":
            self.trigger_event(self.MemberSuspended, timestamp=now, **self._after())

    @event(MemberSuspended)
    def _suspend(self) -> None:
        self.status = "suspended"

    def reactivate(self, now: datetime) -> None:
        self.check_not_closed()
        if self.status == "suspended":
            self.trigger_event(self.MemberReactivated, timestamp=now, **self._after())

    @event(MemberReactivated)
    def _reactivate(self) -> None:
        self.status = "active"

    def close(self, now: datetime, reason: str | None = None) -> None:
        if self.status == "closed":
            return
        forfeited = [
            _portion(lot, lot.remaining) for lot in self.lots.values() if lot.remaining > 0
        ]
        self._trigger_taking(self.MemberClosed, forfeited, timestamp=now, reason=reason)

    @event(MemberClosed)
    def _close(self, lots: list[dict[str, Any]]) -> None:
        for portion in lots:
            self._change_remaining(self.lots[portion["lot_id"]], -portion["points"])
            self.lifetime_expired += portion["points"]
        self.status = "closed"


# The event classes, as the decorators made them, for the code that looks for one of them
# among the events a command or a sweep triggered.
PointsAccrued = Member.PointsAccrued
PointsRedeemed = Member.PointsRedeemed
AccrualReversed = Member.AccrualReversed
RedemptionReversed = Member.RedemptionReversed
PointsActivated = Member.PointsActivated
PointsExpired = Member.PointsExpired
TierChanged = Member.TierChanged
