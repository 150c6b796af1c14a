"""One log line per command: operation, partner, member, transaction id and outcome.

Written in the thread that asked for the command, so the line carries that request's
context (its request id, in the API) even when the command ran in a group on another thread.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from ledger.commands import Command
from ledger.errors import LedgerError

log = logging.getLogger("ledger.commands")


class Answered(Protocol):
    body: dict[str, Any]
    replayed: bool


def log_command(
    command: Command, result: Answered | LedgerError, level: int = logging.INFO
) -> None:
    if not log.isEnabledFor(level):  # a batch logs every command: skip building them
        return
    if isinstance(result, LedgerError):
        outcome, member_id = result.slug, getattr(command, "member_id", None)
    else:
        outcome = "replayed" if result.replayed else "applied"
        member_id = result.body.get("member_id", getattr(command, "member_id", None))
    transaction_id = getattr(command, "transaction_id", getattr(command, "adjustment_id", None))
    fields = {
        "operation": command.operation,
        "partner_id": getattr(command, "partner_id", None),
        "member_id": member_id,
        "transaction_id": transaction_id,
        "outcome": outcome,
    }
    log.log(level, "command %s %s", command.operation, outcome, extra={"fields": fields})
