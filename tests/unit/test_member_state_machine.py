"""Random command sequences on one member through a real Ledger on a SQLite file.

After every step the §5 invariants hold, and the member reloaded from the store is identical
to the aggregate the last command saved.
"""

from __future__ import annotations

import copy
import itertools
import tempfile
from collections.abc import Callable
from datetime import timedelta
from decimal import ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ledger import application
from ledger.application import Ledger, Outcome
from ledger.clock import ManualClock
from ledger.commands import Adjust, ReverseAccrual, ReverseRedemption
from ledger.config import Settings
from ledger.errors import AlreadyReversed, InsufficientPoints, LedgerError, RefundExceedsOriginal
from ledger.infrastructure.unit_of_work import UnitOfWork
from ledger.member import Member
from ledger.program import ProgramRules
from tests.integration.ledger_helpers import accrual, open_shop, redemption, stored_events
from tests.unit.member_helpers import T0, assert_balanced

MULTIPLIERS = {
    "basic": Decimal("1.0"),
    "silver": Decimal("1.25"),
    "gold": Decimal("1.5"),
    "diamond": Decimal("2.0"),
}
RULES = ProgramRules()
CENT = Decimal("0.01")
DAY = 24 * 3600


class CapturingUnitOfWork(UnitOfWork):
    """Keeps a copy of each member aggregate as it was in memory right after its last save."""

    members: dict[str, Member] = {}

    def commit(self, *args: Any, **kwargs: Any) -> dict[Any, int]:
        positions = super().commit(*args, **kwargs)
        for aggregate in self._aggregates.values():
            if isinstance(aggregate, Member):
                CapturingUnitOfWork.members[aggregate.member_id] = copy.deepcopy(aggregate)
        return positions


def state_of(member: Member) -> dict[str, Any]:
    return {k: v for k, v in vars(member).items() if k != "_pending_events"}


class MemberLedger(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.TemporaryDirectory()
        self.patch = mock.patch.object(application, "UnitOfWork", CapturingUnitOfWork)
        self.patch.start()
        CapturingUnitOfWork.members = {}
        self.clock = ManualClock(T0)
        url = f"sqlite:///{self.directory.name}/ledger.sqlite"
        self.ledger: Ledger = Ledger(settings=Settings(database_url=url), clock=self.clock)
        open_shop(self.ledger, "m1")
        self.tx = itertools.count(1)
        self.accruals: list[str] = []
        self.redemptions: list[str] = []

    def teardown(self) -> None:
        self.ledger.close()
        self.patch.stop()
        self.directory.cleanup()

    # ------------------------------------------------------------------ helpers

    def probe(self) -> Member:
        """The member as the next command will see it: stored state plus what is due now."""
        member = self.ledger.member("m1")
        member.run_due(self.clock.now(), RULES)
        return member

    def expect(self, error: type[LedgerError] | None, command: Callable[[], Outcome]) -> None:
        if error is None:
            command()
            return
        before = stored_events(self.ledger)
        with pytest.raises(error):
            command()
        assert stored_events(self.ledger) == before

    def next_tx(self, prefix: str) -> str:
        return f"{prefix}{next(self.tx)}"

    # -------------------------------------------------------------------- rules

    @rule(
        amount=st.decimals(min_value=CENT, max_value=Decimal("6500"), places=2),
        pending_days=st.one_of(st.none(), st.integers(0, 40)),
        bonus=st.sampled_from([0, 0, 7, 50]),
    )
    def accrue(self, amount: Decimal, pending_days: int | None, bonus: int) -> None:
        multiplier = MULTIPLIERS[self.probe().tier]
        tx = self.next_tx("a")
        outcome = self.ledger.execute(
            accrual(tx, str(amount), self.clock.now(), pending_days=pending_days, bonus=bonus)
        )
        expected = int((amount * multiplier).to_integral_value(ROUND_FLOOR)) + bonus
        assert outcome.body["points"] == expected
        self.accruals.append(tx)

    @rule(points=st.integers(1, 4000))
    def redeem(self, points: int) -> None:
        enough = points <= self.probe().available
        tx = self.next_tx("r")
        command = redemption(tx, points, self.clock.now())
        self.expect(None if enough else InsufficientPoints, lambda: self.ledger.execute(command))
        if enough:
            self.redemptions.append(tx)
            assert self.ledger.member("m1").available >= 0

    @precondition(lambda self: bool(self.accruals))
    @rule(data=st.data(), percent=st.one_of(st.none(), st.integers(1, 110)))
    def reverse_accrual(self, data: st.DataObject, percent: int | None) -> None:
        original = data.draw(st.sampled_from(self.accruals))
        record = self.probe().accrual("shop", original)
        assert record is not None
        refundable = record.amount - record.refunded
        refund = None
        if percent is not None:
            refund = max(CENT, (refundable * percent / 100).quantize(CENT, ROUND_DOWN))
        error: type[LedgerError] | None = None
        if refundable <= 0:
            error = AlreadyReversed
        elif refund is not None and refund > refundable:
            error = RefundExceedsOriginal
        command = ReverseAccrual(
            "shop", self.next_tx("x"), original, self.clock.now(), refund_amount=refund
        )
        self.expect(error, lambda: self.ledger.execute(command))

    @precondition(lambda self: bool(self.redemptions))
    @rule(data=st.data())
    def reverse_redemption(self, data: st.DataObject) -> None:
        original = data.draw(st.sampled_from(self.redemptions))
        record = self.probe().redemption("shop", original)
        assert record is not None
        command = ReverseRedemption("shop", self.next_tx("x"), original, self.clock.now())
        error = AlreadyReversed if record.reversed else None
        self.expect(error, lambda: self.ledger.execute(command))

    @rule(
        points=st.integers(-3000, 3000).filter(lambda p: p != 0),
        allow_debt=st.booleans(),
    )
    def adjust(self, points: int, allow_debt: bool) -> None:
        refused = points < 0 and -points > self.probe().available and not allow_debt
        command = Adjust(
            adjustment_id=self.next_tx("adj"),
            member_id="m1",
            points=points,
            reason="test",
            allow_debt=allow_debt,
        )
        self.expect(InsufficientPoints if refused else None, lambda: self.ledger.execute(command))

    @rule(
        seconds=st.one_of(
            st.integers(1, 40 * DAY), st.integers(1, 30).map(lambda months: months * 30 * DAY)
        )
    )
    def advance_clock(self, seconds: int) -> None:
        self.clock.advance(timedelta(seconds=seconds))

    @rule()
    def sweep(self) -> None:
        self.ledger.sweep()
        assert self.ledger.sweep().members_touched == 0

    # --------------------------------------------------------------- invariants

    @invariant()
    def balances_add_up(self) -> None:
        member = self.ledger.member("m1")
        assert_balanced(member)
        assert member.debt >= 0
        assert all(lot.remaining >= 0 for lot in member.lots.values())

    @invariant()
    def reloaded_member_equals_the_saved_one(self) -> None:
        in_memory = CapturingUnitOfWork.members["m1"]
        assert state_of(self.ledger.member("m1")) == state_of(in_memory)


MemberLedger.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_member_ledger = MemberLedger.TestCase
