"""One `Ledger.execute_batch` of accruals on SQLite, to count instructions per accrual with
callgrind, which the machine's load does not move (the difference of two sizes / 2,000):

    valgrind --tool=callgrind .venv/bin/python -m bench.accrual_instructions 500
    valgrind --tool=callgrind .venv/bin/python -m bench.accrual_instructions 2500
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime
from decimal import Decimal

from ledger.application import Ledger
from ledger.commands import Accrue, Enroll
from ledger.config import Settings
from ledger.partner import PartnerTerms

PARTNER = PartnerTerms("shop", "Shop", "EUR", Decimal("1"), Decimal("0.01"), Decimal("0.008"), 0)
MEMBERS = 100


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("accruals", type=int)
    accruals = parser.parse_args().accruals
    with tempfile.TemporaryDirectory() as folder:
        ledger = Ledger(settings=Settings(database_url=f"sqlite:///{folder}/l.sqlite"))
        ledger.register_partner(PARTNER)
        ledger.execute_batch([Enroll(member_id=f"m{i}") for i in range(MEMBERS)])
        now = datetime.now(UTC)
        ledger.execute_batch(
            [
                Accrue("shop", f"t{i}", f"m{i % MEMBERS}", Decimal("12.34"), "EUR", now)
                for i in range(accruals)
            ]
        )
        ledger.close()


if __name__ == "__main__":
    main()
