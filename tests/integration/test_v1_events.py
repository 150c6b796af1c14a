"""A database written by the code before member events recorded their own facts (version 1:
tests/fixtures/v1_ledger.py), on both backends: its stored events, inserted as they were
stored, project to exactly the rows that code built, rebuilt or replayed by the audit; its
members load with the same balances; and events recorded now (version 2) after them keep
every projection in step with the aggregates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from api.migrate import migrate
from ledger.application import Ledger
from ledger.clock import ManualClock
from ledger.commands import Accrue, Adjust, Redeem, ReverseAccrual
from ledger.config import Settings
from ledger.ids import member_id as member_uuid
from projections import audit, reads
from projections.decoding import StateDecoder
from projections.definitions import ALL, TABLES, Members
from projections.eventlog import EventLog
from projections.model import Fact, Table
from projections.runner import ProjectionRunner
from projections.store import Target, open_target, scratch_target
from tests.fixtures.v1_ledger import MEMBERS, load
from tests.integration.test_audit_tamper import EventsTable

FIXTURE = load()
OLD_HEAD = len(FIXTURE["events"])
# The projections of the code that wrote the fixture, each tracked on its own.
OLD_NAMES = (
    "member_balances",
    "member_lots",
    "member_statement",
    "member_tiers",
    "partner_positions",
    "postings",
    "event_hashes",
)
LAST_OLD = datetime(2027, 1, 16, tzinfo=UTC)  # the fixture's last recorded time
D = Decimal
_TYPED = {"decimal": Decimal, "time": datetime.fromisoformat, "date": date.fromisoformat}


@pytest.fixture
def old_ledger(database_url: str) -> Iterator[tuple[Ledger, ManualClock, Target]]:
    """A new database holding the fixture's stored events, as they were stored."""
    clock = ManualClock(LAST_OLD + timedelta(days=1))
    ledger = Ledger(settings=Settings(database_url=database_url), clock=clock)
    migrate(ledger.settings)
    target = open_target(ledger.settings)
    positions = ledger.recorder.insert_events(
        [
            StoredEvent(
                originator_id=UUID(stored["originator_id"]),
                originator_version=stored["originator_version"],
                topic=stored["topic"],
                state=stored["state"],
            )
            for stored in FIXTURE["events"]
        ]
    )
    assert list(positions or ()) == [stored["position"] for stored in FIXTURE["events"]]
    yield ledger, clock, target
    target.close()
    ledger.close()


def _typed(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    kinds = {c.name: c.type for c in table.columns}
    return {
        name: value if value is None or kinds[name] not in _TYPED else _TYPED[kinds[name]](value)
        for name, value in row.items()
    }


def _rows(target: Target) -> dict[str, list[dict[str, Any]]]:
    return {table.name: list(target.iter_rows(table)) for table in TABLES}


def _old_rows() -> dict[str, list[dict[str, Any]]]:
    return {
        table.name: [_typed(table, row) for row in FIXTURE["tables"][table.name]]
        for table in TABLES
    }


def _facts(ledger: Ledger, start: int = 1) -> list[Fact]:
    decoder = StateDecoder(ledger.mapper)
    facts = []
    for position, originator_id, version, topic, state in EventLog(ledger).read(start, 10_000):
        kind = topic.rpartition(".")[2]
        data = decoder.decode(topic, state)
        facts.append(
            Fact(position, originator_id, version, topic, state, kind, originator_id.hex, data)
        )
    return facts


def test_old_events_project_to_the_rows_the_old_code_built(
    old_ledger: tuple[Ledger, ManualClock, Target],
) -> None:
    ledger, _, target = old_ledger
    runner = ProjectionRunner(ledger, target)
    assert runner.catch_up(batch_size=7) == OLD_HEAD
    assert _rows(target) == _old_rows()
    runner.rebuild()
    assert _rows(target) == _old_rows()
    verified = audit.verify(ledger, target)
    assert verified["ok"] and verified["chain_ok"], verified
    assert [p["name"] for p in verified["projections"] if p["ok"]] == [p.name for p in ALL]
    # The statement the API serves: a pending lot's expiry, a reversal from a pending lot,
    # and a close with both kinds of lot, as the old code told them.
    lines = reads.statement(target, "m3", None, None, 100, None)["lines"]
    assert [
        (line["type"], line["points"], line["available_after"], line["pending_after"])
        for line in lines
    ] == [
        ("MemberEnrolled", 0, 0, 0),
        ("BonusGranted", 50, 50, 0),
        ("PointsAccrued", 100, 50, 100),
        ("AccrualReversed", -40, 50, 60),
        ("MemberClosed", -110, 0, 0),
    ]
    assert lines[-1]["detail"] == {
        "lots": [
            {"lot_id": "L1", "points": 50, "source": "operator"},
            {"lot_id": "L2", "points": 60, "source": "shop"},
        ],
        "reason": "moved away",
    }


def test_old_events_replay_to_the_members_the_old_code_held(
    old_ledger: tuple[Ledger, ManualClock, Target],
) -> None:
    ledger, _, _ = old_ledger
    for member_id in MEMBERS:
        member = ledger.member(member_id)
        expected = FIXTURE["members"][member_id]
        assert member.full_balance() == expected["balance"]
        assert (member.status, member.debt) == (expected["status"], expected["debt"])
        assert {
            lot.lot_id: {"remaining": lot.remaining, "pending": lot.pending}
            for lot in member.lots.values()
        } == expected["lots"]


def _write_new_events(ledger: Ledger, clock: ManualClock) -> None:
    """Version 2 events after the old ones: debt paid by an accrual, a pending lot expired,
    a reversal from a pending lot, a close with both kinds of lot."""
    now = LAST_OLD + timedelta(days=1)
    clock.set(now)

    def accrue(partner: str, tx: str, member: str, amount: str) -> None:
        ledger.execute(Accrue(partner, tx, member, D(amount), "EUR", occurred_at=now))

    accrue("air", "n1", "m5", "20.00")  # pays m5's 10 of debt
    accrue("slow", "n2", "m4", "80.00")  # pending until after its lot expires
    accrue("shop", "n3", "m1", "40.00")
    ledger.execute(Redeem("air", "n4", "m1", 300, occurred_at=now))
    ledger.execute(
        ReverseAccrual("shop", "n5", "t10", occurred_at=now, refund_amount=D("20.00"))
    )  # from m2's pending lot
    ledger.execute(Adjust("n6", "m2", -40, "correction", allow_debt=True))
    ledger.change_member_status("m1", "close", "left")
    march = datetime(2027, 3, 1, tzinfo=UTC)
    clock.set(march)
    ledger.sweep(march)  # m2's shop lot activates, paying 30 of its 40 of debt; m4's expires


def test_new_events_after_old_ones_keep_the_projections_in_step_with_the_members(
    old_ledger: tuple[Ledger, ManualClock, Target],
) -> None:
    ledger, clock, target = old_ledger
    runner = ProjectionRunner(ledger, target)
    runner.catch_up()
    _write_new_events(ledger, clock)
    head = runner.catch_up(batch_size=3)
    assert head > OLD_HEAD
    for member_id in MEMBERS:
        member = ledger.member(member_id)
        balance = reads.balance(target, member_id)
        assert balance is not None
        assert {k: balance[k] for k in member.full_balance()} == member.full_balance()
        lots = target.query(
            "SELECT lot_id, remaining, is_pending FROM member_lots WHERE member_key = ?",
            [member_uuid(member_id).hex],
        )
        assert {r["lot_id"]: (r["remaining"], r["is_pending"]) for r in lots} == {
            lot.lot_id: (lot.remaining, lot.pending) for lot in member.lots.values()
        }
        last = reads.statement(target, member_id, None, None, 1000, None)["lines"][-1]
        assert (last["available_after"], last["pending_after"]) == (
            member.available,
            member.pending,
        )
    assert reads.balance(target, "m4")["lifetime_expired"] == 130 + 80  # type: ignore[index]
    assert reads.balance(target, "m2")["available"] == -10  # type: ignore[index]
    # The old rows are as they were; a rebuild and the audit's replay agree with them.
    incremental = _rows(target)
    old = _old_rows()
    assert incremental["event_hashes"][:OLD_HEAD] == old["event_hashes"]
    assert [r for r in incremental["member_statement"] if r["position"] <= OLD_HEAD] == old[
        "member_statement"
    ]
    runner.rebuild()
    assert _rows(target) == incremental
    verified = audit.verify(ledger, target)
    assert verified["ok"], verified


def test_a_database_the_old_code_projected_upgrades_and_goes_on(
    old_ledger: tuple[Ledger, ManualClock, Target],
) -> None:
    ledger, clock, target = old_ledger
    # As the old code left it: its rows, each of its projections tracked at the head, and
    # migration 0007 not applied.
    old = _old_rows()
    inserts = {table: [table.row_values(row) for row in old[table.name]] for table in TABLES}
    assert target.commit_batch({}, inserts, OLD_NAMES, 0, OLD_HEAD)
    EventsTable(ledger.settings.database_url)._execute(
        "DELETE FROM _yoyo_migration WHERE migration_id = ?", ("0007_members_projection",)
    )
    assert migrate(ledger.settings) == ["0007_members_projection"]
    assert target.positions() == {p.name: OLD_HEAD for p in ALL}
    _write_new_events(ledger, clock)
    runner = ProjectionRunner(ledger, target)
    runner.catch_up()
    upgraded = _rows(target)
    runner.rebuild()
    assert _rows(target) == upgraded
    assert audit.verify(ledger, target)["ok"]


def test_only_old_events_make_a_projection_read_and_only_its_own_rows(
    old_ledger: tuple[Ledger, ManualClock, Target],
) -> None:
    ledger, clock, _ = old_ledger
    _write_new_events(ledger, clock)
    facts = _facts(ledger)
    members = Members()
    new = [f for f in facts if f.position > OLD_HEAD and members.handles(f.kind)]
    assert {f.kind for f in new} >= {"PointsExpired", "AccrualReversed", "MemberClosed"}
    assert [f.position for f in new if list(members.reads(f))] == []
    old = [f for f in facts if f.position <= OLD_HEAD and members.handles(f.kind)]
    # Every member event of version 1 but the enrollments reads the projection's own rows.
    assert [f.kind for f in old if not list(members.reads(f))] == ["MemberEnrolled"] * 5
    for projection in ALL:
        own = {t.name for t in projection.tables}
        for fact in facts:
            if projection.handles(fact.kind):
                assert {name for name, _ in projection.reads(fact)} <= own, projection.name


def test_the_projections_give_the_same_rows_in_any_order(
    old_ledger: tuple[Ledger, ManualClock, Target],
) -> None:
    ledger, clock, target = old_ledger
    _write_new_events(ledger, clock)
    ProjectionRunner(ledger, target).catch_up()
    scratch = scratch_target()
    try:
        ProjectionRunner(ledger, scratch, projections=tuple(reversed(ALL))).catch_up()
        assert _rows(scratch) == _rows(target)
    finally:
        scratch.close()
