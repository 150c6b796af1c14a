"""The command table: every command has one handler, one operation name, and says which
transaction key and aggregates it needs."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from ledger import ids
from ledger.application import HANDLERS
from ledger.commands import (
    ADJUSTMENT_SCOPE,
    ENROLLMENT_SCOPE,
    Accrue,
    Adjust,
    Command,
    Enroll,
    ReverseAccrual,
    RunDue,
)

T0 = datetime(2026, 12, 4, tzinfo=UTC)


def _concrete(cls: type[Command]) -> set[type[Command]]:
    found: set[type[Command]] = set()
    for sub in cls.__subclasses__():
        if "operation" in vars(sub) and sub.operation != cls.operation:
            found.add(sub)
        found |= _concrete(sub)
    return found


def test_every_command_has_exactly_one_handler_and_its_own_operation() -> None:
    commands = _concrete(Command)
    assert set(HANDLERS) == commands
    assert len({c.operation for c in commands}) == len(commands) == 17


def test_partner_commands_are_idempotent_per_partner_transaction() -> None:
    accrue = Accrue("shop", "t1", "m1", Decimal("10"), "EUR", T0)
    assert accrue.idempotency_key() == ("shop", "t1")
    assert list(accrue.aggregates()) == [ids.partner_id("shop"), ids.member_id("m1")]
    reverse = ReverseAccrual("shop", "t2", "t1", T0)
    assert reverse.idempotency_key() == ("shop", "t2")
    # The member is named by the accrual's key, which the handler reads first.
    assert list(reverse.aggregates()) == [
        ids.partner_id("shop"),
        ids.transaction_key_id("shop", "t1"),
    ]


def test_operator_commands_use_their_own_scopes() -> None:
    assert Enroll("m1").idempotency_key() == (ENROLLMENT_SCOPE, "m1")
    assert Adjust("adj-1", "m1", 5, "goodwill").idempotency_key() == (ADJUSTMENT_SCOPE, "adj-1")
    assert RunDue("m1", T0).idempotency_key() is None
    assert list(RunDue("m1", T0).aggregates()) == [ids.member_id("m1")]
