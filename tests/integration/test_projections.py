"""Every projection against hand-computed numbers for a small coalition, on both backends.

The coalition (program: enrollment bonus 50, lots live one month, default tiers):
- partners air (earn 2, funds 0.010, reimbursed 0.008), shop (earn 1, 0.012, 0.009, 14 days
  pending), cafe (earn 3, 0.005, 0.007);
- m1 earns 2000 + 200 (pending) + 6000 (upgrade to silver), redeems 500 at cafe (cancelled),
  returns a quarter of the first purchase (500 points back);
- m2 earns 30 at cafe, redeems 70 at air, returns the cafe purchase: 20 points of debt, paid
  by a +25 adjustment;
- m3 earns 100 pending at shop, and closes after activation (150 forfeited);
- sweeps: activations (Feb 1), expiries (Mar 1, Apr 1), m1's downgrade when the guarantee
  lapses (2027-01-16).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.clock import ManualClock
from ledger.commands import Accrue, Adjust, Enroll, Redeem, ReverseAccrual, ReverseRedemption
from ledger.config import Settings
from ledger.ids import member_id as member_uuid
from ledger.partner import PartnerTerms
from ledger.program import ProgramRules
from projections import reads
from projections.eventlog import LoggedEvent
from projections.runner import ProjectionRunner
from projections.store import Target, open_target
from projections.sweeps import run_sweep

D = Decimal
DAY1 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
BEFORE = DAY1 - timedelta(hours=1)
PARTNERS = (
    PartnerTerms("air", "Air", "EUR", D("2"), D("0.010"), D("0.008"), 0),
    PartnerTerms("shop", "Shop", "EUR", D("1"), D("0.012"), D("0.009"), 14),
    PartnerTerms("cafe", "Cafe", "EUR", D("3"), D("0.005"), D("0.007"), 0),
)
END_OF_JANUARY = datetime(2026, 1, 31, 23, 0, tzinfo=UTC)


def build_coalition(ledger: Ledger, clock: ManualClock, sweep: Any = None) -> None:
    """Write the coalition's history; `sweep(ledger, as_of)` runs the sweeps."""
    sweep = sweep or (lambda app, as_of: app.sweep(as_of))
    clock.set(DAY1)
    ledger.configure_program(ProgramRules(points_lifetime_months=1, enrollment_bonus_points=50))
    for terms in PARTNERS:
        ledger.register_partner(terms)
    for member in ("m1", "m2", "m3"):
        ledger.execute(Enroll(member_id=member, partner_id="air"))

    def accrue(partner: str, tx: str, member: str, amount: str) -> None:
        ledger.execute(
            Accrue(
                partner_id=partner,
                transaction_id=tx,
                member_id=member,
                amount=D(amount),
                currency="EUR",
                occurred_at=BEFORE,
            )
        )

    def redeem(partner: str, tx: str, member: str, points: int) -> None:
        ledger.execute(
            Redeem(
                partner_id=partner,
                transaction_id=tx,
                member_id=member,
                points=points,
                occurred_at=BEFORE,
            )
        )

    accrue("air", "t1", "m1", "1000.00")
    accrue("shop", "t2", "m1", "200.00")
    accrue("air", "t3", "m1", "3000.00")
    redeem("cafe", "r1", "m1", 500)
    accrue("cafe", "t4", "m2", "10.00")
    redeem("air", "r2", "m2", 70)
    ledger.execute(
        ReverseAccrual(
            partner_id="cafe", transaction_id="ret4", original_transaction_id="t4", occurred_at=DAY1
        )
    )
    accrue("shop", "t5", "m3", "100.00")
    ledger.execute(
        ReverseRedemption(
            partner_id="cafe", transaction_id="c1", original_transaction_id="r1", occurred_at=DAY1
        )
    )
    ledger.execute(
        ReverseAccrual(
            partner_id="air",
            transaction_id="ret1",
            original_transaction_id="t1",
            occurred_at=DAY1,
            refund_amount=D("250.00"),
        )
    )
    for moment, action in (
        (datetime(2026, 2, 1, tzinfo=UTC), "sweep"),
        (datetime(2026, 2, 5, 10, tzinfo=UTC), "adjust"),
        (datetime(2026, 2, 10, 10, tzinfo=UTC), "close"),
        (datetime(2026, 3, 1, tzinfo=UTC), "sweep"),
        (datetime(2026, 4, 1, tzinfo=UTC), "sweep"),
        (datetime(2027, 1, 16, tzinfo=UTC), "sweep"),
    ):
        clock.set(moment)
        if action == "sweep":
            sweep(ledger, moment)
        elif action == "adjust":
            ledger.execute(
                Adjust(adjustment_id="adj1", member_id="m2", points=25, reason="goodwill")
            )
        else:
            ledger.change_member_status("m3", "close")


@pytest.fixture
def coalition(ledger: Ledger, clock: ManualClock, target: Target) -> ProjectionRunner:
    build_coalition(ledger, clock, sweep=lambda app, as_of: run_sweep(app, as_of, target=target))
    runner = ProjectionRunner(ledger, target)
    runner.catch_up()
    return runner


def balance(target: Target, member: str) -> dict[str, Any]:
    found = reads.balance(target, member)
    assert found is not None
    return {
        k: found[k]
        for k in (
            "available",
            "pending",
            "lifetime_earned",
            "lifetime_adjusted",
            "lifetime_redeemed",
            "lifetime_expired",
            "lifetime_reversed",
            "tier",
        )
    }


def test_member_balances(coalition: ProjectionRunner, target: Target) -> None:
    assert balance(target, "m1") == {
        "available": 0,
        "pending": 0,
        "lifetime_earned": 8250,
        "lifetime_adjusted": 0,
        "lifetime_redeemed": 0,
        "lifetime_expired": 7750,
        "lifetime_reversed": 500,
        "tier": "basic",
    }
    assert balance(target, "m2") == {
        "available": 0,
        "pending": 0,
        "lifetime_earned": 80,
        "lifetime_adjusted": 25,
        "lifetime_redeemed": 70,
        "lifetime_expired": 5,
        "lifetime_reversed": 30,
        "tier": "basic",
    }
    assert balance(target, "m3")["lifetime_expired"] == 150
    assert reads.member(target, "m3")["status"] == "closed"  # type: ignore[index]


def test_balances_equal_the_aggregates(coalition: ProjectionRunner, target: Target) -> None:
    for member in ("m1", "m2", "m3"):
        aggregate = coalition.ledger.repository.get(member_uuid(member))
        projected = reads.balance(target, member)
        assert projected is not None
        for field, value in aggregate.full_balance().items():
            assert projected[field] == value, (member, field)


def test_statement_has_running_balances(coalition: ProjectionRunner, target: Target) -> None:
    page = reads.statement(target, "m2", limit=100)
    lines = [
        (x["type"], x["points"], x["available_after"], x["pending_after"]) for x in page["lines"]
    ]
    assert lines == [
        ("MemberEnrolled", 0, 0, 0),
        ("BonusGranted", 50, 50, 0),
        ("PointsAccrued", 30, 80, 0),
        ("PointsRedeemed", -70, 10, 0),
        ("AccrualReversed", -30, -20, 0),
        ("PointsAdjusted", 25, 5, 0),
        ("PointsExpired", -5, 0, 0),
    ]
    assert page["lines"][4]["detail"]["debt_created"] == 20
    assert page["lines"][4]["transaction_id"] == "ret4"
    assert page["lines"][4]["partner_id"] == "cafe"
    first = reads.statement(target, "m2", limit=3)
    rest = reads.statement(target, "m2", limit=100, cursor=first["next_cursor"])
    assert first["lines"] + rest["lines"] == page["lines"]
    assert rest["next_cursor"] is None


def test_pending_lot_and_activation_in_statement(
    coalition: ProjectionRunner, target: Target
) -> None:
    lines = reads.statement(target, "m1", limit=100)["lines"]
    pending = next(x for x in lines if x["transaction_id"] == "t2")
    assert (pending["points"], pending["pending_after"]) == (200, 200)
    activation = next(x for x in lines if x["type"] == "PointsActivated")
    assert (activation["available_after"], activation["pending_after"]) == (7750, 0)


def test_tiers(coalition: ProjectionRunner, target: Target) -> None:
    tier = reads.tier(target, coalition.ledger, "m1", at=datetime(2026, 2, 1, tzinfo=UTC))
    assert tier is not None
    assert tier["tier"] == "basic"  # downgraded on 2027-01-16
    assert tier["since"] == datetime(2027, 1, 16, tzinfo=UTC)
    assert tier["guaranteed_until"] is None
    assert tier["qualifying_spend"] == D("3950.00")  # as of Feb 1, 2026
    assert tier["next_tier"] == "silver"
    assert tier["spend_to_next_tier"] == D("0.00")
    assert reads.tier_report(target) == {"tiers": [{"code": "basic", "members": 2}]}


def _utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def test_settlement(coalition: ProjectionRunner, target: Target) -> None:
    report = reads.settlement(target, _utc(2026, 1, 1), _utc(2026, 2, 1), "EUR")
    assert report["partners"] == [
        {
            "partner_id": "air",
            "points_issued": 7500,
            "amount_funded": D("75.00"),
            "points_redeemed": 70,
            "amount_reimbursed": D("0.56"),
            "net": D("74.44"),
        },
        {
            "partner_id": "cafe",
            "points_issued": 0,
            "amount_funded": D("0.00"),
            "points_redeemed": 0,
            "amount_reimbursed": D("0.00"),
            "net": D("0.00"),
        },
        {
            "partner_id": "shop",
            "points_issued": 300,
            "amount_funded": D("3.60"),
            "points_redeemed": 0,
            "amount_reimbursed": D("0.00"),
            "net": D("3.60"),
        },
    ]
    assert report["totals"] == {
        "points_issued": 7800,
        "amount_funded": D("78.60"),
        "points_redeemed": 70,
        "amount_reimbursed": D("0.56"),
        "net": D("78.04"),
    }
    assert reads.settlement(target, _utc(2026, 2, 1), _utc(2026, 3, 1), "EUR")["partners"] == []


def test_breakage(coalition: ProjectionRunner, target: Target) -> None:
    report = reads.breakage(target, _utc(2026, 1, 1), _utc(2027, 1, 1))
    assert report["sources"] == [
        {"source": "air", "points_expired": 7500, "points_forfeited": 0, "points": 7500},
        {"source": "operator", "points_expired": 55, "points_forfeited": 50, "points": 105},
        {"source": "shop", "points_expired": 200, "points_forfeited": 100, "points": 300},
    ]
    assert report["total_points"] == 7905
    march = reads.breakage(target, _utc(2026, 3, 1), _utc(2026, 3, 2))
    assert march["total_points"] == 7750


def test_trial_balance(coalition: ProjectionRunner, target: Target) -> None:
    report = reads.trial_balance(target)
    accounts = {a["account"]: (a["debit"], a["credit"]) for a in report["accounts"]}
    assert accounts == {
        "member:m1": (8750, 8750),
        "member:m2": (105, 105),
        "member:m3": (150, 150),
        "operator:bonus": (175, 0),
        "operator:breakage": (0, 7905),
        "partner:air:issued": (8000, 500),
        "partner:air:redeemed": (0, 70),
        "partner:cafe:issued": (30, 30),
        "partner:cafe:redeemed": (500, 500),
        "partner:shop:issued": (300, 0),
    }
    assert report["total"] == 0
    january = reads.trial_balance(target, as_of=END_OF_JANUARY)
    assert {a["account"]: a["debit"] - a["credit"] for a in january["accounts"]}[
        "operator:bonus"
    ] == 150


def test_liability_now_and_as_of(coalition: ProjectionRunner, target: Target) -> None:
    now = reads.liability(target, point_value=D("0.01"), currency="EUR")
    assert (now["outstanding_points"], now["pending_points"], now["debt_points"]) == (0, 0, 0)
    then = reads.liability_as_of(coalition.ledger, END_OF_JANUARY)
    assert then["outstanding_points"] == 7900
    assert then["pending_points"] == 300
    assert then["debt_points"] == 20
    assert then["value"] == D("79.00")
    assert then["by_source"] == [
        {"source": "air", "points": 7500},
        {"source": "operator", "points": 100},
        {"source": "shop", "points": 300},
    ]


def test_lots_schedule_and_chain(coalition: ProjectionRunner, target: Target) -> None:
    assert reads.expiring(target, "m1", datetime(2026, 2, 1, tzinfo=UTC), 90) == []
    digest = reads.digest(target)
    assert digest["position"] == coalition.head()
    assert len(digest["hash"]) == 64


def test_catch_up_is_incremental_and_idempotent(
    ledger: Ledger, clock: ManualClock, target: Target
) -> None:
    build_coalition(ledger, clock)
    runner = ProjectionRunner(ledger, target)
    runner.catch_up(batch_size=7)
    assert runner.position() == runner.head()
    before = {t.name: list(target.iter_rows(t)) for t in runner.tables.values()}
    assert runner.catch_up() == runner.head()
    runner.rebuild()
    after = {t.name: list(target.iter_rows(t)) for t in runner.tables.values()}
    assert before == after


def test_a_stale_batch_is_not_applied_twice(
    ledger: Ledger, clock: ManualClock, target: Target
) -> None:
    build_coalition(ledger, clock)
    first = ProjectionRunner(ledger, target)
    first.catch_up(until=10)
    logged = first.log.read(11, 5)
    assert _commit_batch(first, logged, 10)
    applied = reads.digest(target)
    # A second runner that still believes the position is 10 must lose, writing nothing.
    assert not _commit_batch(first, logged, 10)
    assert first.position() == logged[-1].position
    assert reads.digest(target) == applied


def _commit_batch(runner: ProjectionRunner, logged: list[LoggedEvent], old: int) -> bool:
    """One batch of every group written from `old`, as a runner that read `old` would."""
    lane = runner.lane(runner.groups)
    rows = runner._batch_rows(lane, logged, None, {})
    end = logged[-1].position
    upserts, inserts, merges = rows.upserts(), rows.insert_values(), rows.merges()
    return runner.target.commit_batch(upserts, inserts, lane.names, old, end, merges)


def test_ledger_settings_round_trip(database_url: str, clock: ManualClock) -> None:
    app = Ledger(settings=Settings(database_url=database_url), clock=clock)
    try:
        target = open_target(app.settings)
        target.ensure_schema()
        target.ensure_schema()  # idempotent
        assert ProjectionRunner(app, target).catch_up() == 0
        target.close()
    finally:
        app.close()
