"""Property: for any history, incremental projections equal a fresh replay, balances equal the
member aggregates, and every trial balance is zero (bounded hypothesis run, SQLite)."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.migrate import migrate
from ledger.application import Ledger
from ledger.clock import ManualClock
from ledger.commands import Accrue, Adjust, Enroll, Redeem, ReverseAccrual, ReverseRedemption
from ledger.config import Settings
from ledger.errors import LedgerError
from ledger.ids import member_id as member_uuid
from projections import reads
from projections.audit import verify
from projections.runner import ProjectionRunner
from projections.store import open_target
from tests.conftest import START
from tests.integration.test_projections import PARTNERS

MEMBERS = ("a", "b")
operation = st.one_of(
    st.tuples(
        st.just("accrue"),
        st.sampled_from(PARTNERS),
        st.sampled_from(MEMBERS),
        st.integers(1, 5000),
        st.sampled_from([None, 0, 3]),
    ),
    st.tuples(
        st.just("redeem"), st.sampled_from(PARTNERS), st.sampled_from(MEMBERS), st.integers(1, 3000)
    ),
    st.tuples(st.just("return"), st.integers(0, 20), st.sampled_from([None, "1.00", "5.00"])),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("adjust"), st.sampled_from(MEMBERS), st.integers(-500, 500)),
    st.tuples(st.just("days"), st.integers(1, 200)),
    st.tuples(st.just("close"), st.sampled_from(MEMBERS)),
)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(operation, min_size=1, max_size=25), st.integers(1, 9))
def test_projections_equal_a_fresh_replay(ops: list[tuple[object, ...]], batch: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        config = Settings(database_url=f"sqlite:///{Path(folder) / 'ledger.sqlite'}")
        migrate(config)
        clock = ManualClock(START)
        ledger = Ledger(settings=config, clock=clock)
        target = open_target(config)
        runner = ProjectionRunner(ledger, target)
        try:
            for terms in PARTNERS:
                ledger.register_partner(terms)
            for member in MEMBERS:
                ledger.execute(Enroll(member_id=member))
            accruals: list[tuple[str, str]] = []
            redemptions: list[tuple[str, str]] = []
            for number, op in enumerate(ops):
                tx = f"x{number}"
                now = clock.now()
                try:
                    if op[0] == "accrue":
                        _, terms, member, cents, days = op
                        ledger.execute(
                            Accrue(
                                partner_id=terms.partner_id,
                                transaction_id=tx,  # type: ignore[attr-defined]
                                member_id=member,
                                amount=Decimal(cents) / 100,  # type: ignore[operator]
                                currency="EUR",
                                occurred_at=now,
                                pending_days=days,
                            )
                        )  # type: ignore[arg-type]
                        accruals.append((terms.partner_id, tx))  # type: ignore[attr-defined]
                    elif op[0] == "redeem":
                        _, terms, member, points = op
                        ledger.execute(
                            Redeem(
                                partner_id=terms.partner_id,
                                transaction_id=tx,  # type: ignore[attr-defined]
                                member_id=member,
                                points=points,  # type: ignore[arg-type]
                                occurred_at=now,
                            )
                        )
                        redemptions.append((terms.partner_id, tx))  # type: ignore[attr-defined]
                    elif op[0] == "return" and accruals:
                        partner, original = accruals[op[1] % len(accruals)]  # type: ignore[operator]
                        refund = Decimal(op[2]) if op[2] else None  # type: ignore[arg-type]
                        ledger.execute(
                            ReverseAccrual(
                                partner_id=partner,
                                transaction_id=tx,
                                original_transaction_id=original,
                                occurred_at=now,
                                refund_amount=refund,
                            )
                        )
                    elif op[0] == "cancel" and redemptions:
                        partner, original = redemptions[op[1] % len(redemptions)]  # type: ignore[operator]
                        ledger.execute(
                            ReverseRedemption(
                                partner_id=partner,
                                transaction_id=tx,
                                original_transaction_id=original,
                                occurred_at=now,
                            )
                        )
                    elif op[0] == "adjust" and op[2]:
                        ledger.execute(
                            Adjust(
                                adjustment_id=tx,
                                member_id=op[1],  # type: ignore[arg-type]
                                points=op[2],
                                reason="test",
                                allow_debt=True,
                            )
                        )  # type: ignore[arg-type]
                    elif op[0] == "days":
                        clock.advance(timedelta(days=op[1]))  # type: ignore[arg-type]
                        ledger.sweep(clock.now())
                    elif op[0] == "close":
                        ledger.change_member_status(op[1], "close")  # type: ignore[arg-type]
                except LedgerError:
                    pass
                if number % batch == 0:
                    runner.catch_up(batch_size=batch)
            runner.catch_up(batch_size=batch)
            report = verify(ledger, target)
            assert report["ok"], report
            assert reads.trial_balance(target)["total"] == 0
            for member in MEMBERS:
                aggregate = ledger.repository.get(member_uuid(member))
                projected = reads.balance(target, member)
                assert projected is not None
                assert {k: projected[k] for k in aggregate.full_balance()} == (
                    aggregate.full_balance()
                )
        finally:
            target.close()
            ledger.close()
