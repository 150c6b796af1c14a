"""The ledger's bounds hold whatever calls it (the admin CLI, an import, a batch), on both
backends: the command is refused naming the field, and nothing is stored."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from ledger.application import Ledger
from ledger.errors import InvalidCommand
from ledger.program import ProgramRules
from ledger.tiers import Tier
from tests.integration.ledger_helpers import accrual, open_shop, stored_events
from tests.unit.member_helpers import SHOP, T0


def test_out_of_bounds_commands_store_nothing(ledger: Ledger) -> None:
    open_shop(ledger, "m1")
    ledger.execute(accrual("a1", "100.00", T0))
    before = stored_events(ledger)
    huge_multiplier = ProgramRules(tiers=(Tier("basic", "Basic", Decimal(0), Decimal("1E9")),))
    attempts = [
        (lambda: ledger.configure_program(huge_multiplier), "tiers.0.multiplier"),
        (
            lambda: ledger.configure_program(ProgramRules(point_value=Decimal("999999999999999"))),
            "point_value",
        ),
        (
            lambda: ledger.register_partner(
                replace(SHOP, partner_id="greedy", earn_rate=Decimal(10**9))
            ),
            "earn_rate",
        ),
        (
            lambda: ledger.change_partner_terms("shop", {"funding_rate": Decimal(101)}),
            "funding_rate",
        ),
        (lambda: ledger.execute(accrual("a2", "999999999999999.00", T0)), "amount"),
        (
            lambda: ledger.execute(replace(accrual("a3", "1.00", T0), bonus_points=10**6)),
            "bonus_points",
        ),
    ]
    for attempt, field in attempts:
        with pytest.raises(InvalidCommand) as error:
            attempt()
        assert error.value.field == field
    results = ledger.execute_batch([accrual(f"b{i}", "999999999999999.00", T0) for i in range(3)])
    assert [(type(r), getattr(r, "field", None)) for r in results] == [
        (InvalidCommand, "amount")
    ] * 3
    assert stored_events(ledger) == before
    assert ledger.program() == ProgramRules()
    assert ledger.member("m1").balance()["available"] == 100
