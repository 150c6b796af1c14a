"""The write side's store reads on both backends: a prefetch reads each aggregate's events
after a version, however many aggregates it names; versions and log positions as stored."""

from __future__ import annotations

from uuid import UUID, uuid5

import pytest
from eventsourcing.persistence import StoredEvent

from ledger.application import Ledger
from ledger.infrastructure.store_reads import FEW_AGGREGATES

NAMESPACE = UUID("6f1c2b9e-8d4a-4c1e-9a57-0c3f2e1d4b6a")


def _id(n: int) -> UUID:
    return uuid5(NAMESPACE, str(n))


def _event(n: int, version: int) -> StoredEvent:
    return StoredEvent(
        _id(n), version, "ledger.member:Member.PointsAccrued", f'{{"n":{n},"v":{version}}}'.encode()
    )


# With the three unknown ids: 6 and FEW_AGGREGATES names looked up each, then joined.
@pytest.mark.parametrize("count", [3, FEW_AGGREGATES - 3, FEW_AGGREGATES - 2, 700])
def test_events_after_each_version_in_aggregate_order(ledger: Ledger, count: int) -> None:
    # Aggregates 0..count-1 have three events each; a prefetch asks for each after a version
    # that cycles 0, 1, 2, 3 (3: nothing newer), plus ids nobody wrote.
    ledger.recorder.insert_events([_event(n, v) for n in range(count) for v in (1, 2, 3)])
    versions = {_id(n): n % 4 for n in range(count)} | {_id(-n): 0 for n in range(1, 4)}

    found = ledger.store_reads.select_after(versions)

    by_aggregate: dict[UUID, list[tuple[int, bytes]]] = {}
    for event in found:
        by_aggregate.setdefault(event.originator_id, []).append(
            (event.originator_version, event.state)
        )
    # Each aggregate's events in version order (the order between aggregates is free).
    assert by_aggregate == {
        _id(n): [(v, _event(n, v).state) for v in (1, 2, 3) if v > n % 4]
        for n in range(count)
        if n % 4 < 3
    }


def test_versions_of_many_aggregates_leave_out_those_never_written(ledger: Ledger) -> None:
    # 450 written (more than one SQLite statement's worth), with 1 to 3 events each.
    ledger.recorder.insert_events([_event(n, v) for n in range(450) for v in range(1, n % 3 + 2)])
    asked = [_id(n) for n in range(450)] + [_id(-1), _id(-2)]

    assert ledger.store_reads.versions_of(asked) == {_id(n): n % 3 + 1 for n in range(450)}
    assert ledger.store_reads.versions_of([]) == {}
    assert ledger.store_reads.version_of(_id(5)) == 3
    assert ledger.store_reads.version_of(_id(-1)) is None


def test_the_log_position_of_a_stored_event(ledger: Ledger) -> None:
    ledger.recorder.insert_events([_event(n, v) for n in range(4) for v in (1, 2, 3)])

    assert [ledger.store_reads.position_of(_id(n), 2) for n in range(4)] == [2, 5, 8, 11]
    assert ledger.store_reads.position_of(_id(3), 3) == 12
    assert ledger.store_reads.position_of(_id(3), 4) is None
    assert ledger.store_reads.position_of(_id(-1), 1) is None
