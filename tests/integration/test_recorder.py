"""The ledger's PostgreSQL recorder stores exactly what the library's would, in one statement."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from ledger.application import Ledger
from ledger.config import Settings
from ledger.infrastructure.recorder import LedgerRecorder
from ledger.infrastructure.transcoder import OrjsonTranscoder

pytestmark = pytest.mark.postgres

# Every byte value, and the bytes the text format would have had to escape.
AWKWARD_STATE = bytes(range(256)) + b'\\x00 {"a":"\\"} \x00\x00'


@pytest.fixture
def ledger(pg_url: str) -> Iterator[Ledger]:
    app = Ledger(settings=Settings(database_url=pg_url))
    yield app
    app.close()


def _event(originator_id: UUID, version: int, state: bytes = b"{}") -> StoredEvent:
    return StoredEvent(originator_id, version, "ledger.member:Member.PointsAccrued", state)


def test_the_ledger_writes_through_its_recorder_and_transcoder(ledger: Ledger) -> None:
    assert type(ledger.recorder) is LedgerRecorder
    assert type(ledger.mapper.transcoder) is OrjsonTranscoder


def test_events_are_stored_as_given_with_positions_in_order(ledger: Ledger) -> None:
    recorder = ledger.recorder
    assert isinstance(recorder, PostgresApplicationRecorder)
    first, second = uuid4(), uuid4()
    events = [
        _event(first, 1, AWKWARD_STATE),
        _event(second, 1, b""),
        _event(first, 2, "é € 😀".encode()),
    ]

    positions = recorder.insert_events(events)

    assert positions == [1, 2, 3]
    assert list(recorder.select_events(first)) == [events[0], events[2]]
    assert list(recorder.select_events(second)) == [events[1]]
    logged = recorder.select_notifications(start=1, limit=10)
    assert [(n.id, n.originator_id, n.originator_version) for n in logged] == [
        (1, first, 1),
        (2, second, 1),
        (3, first, 2),
    ]
    assert [n.state for n in logged] == [e.state for e in events]


def test_a_clash_in_a_batch_writes_nothing(ledger: Ledger) -> None:
    recorder = ledger.recorder
    existing = uuid4()
    recorder.insert_events([_event(existing, 1)])

    with pytest.raises(IntegrityError):
        recorder.insert_events([_event(uuid4(), 1), _event(existing, 1)])

    assert [
        (n.originator_id, n.originator_version)
        for n in recorder.select_notifications(start=1, limit=10)
    ] == [(existing, 1)]
    (position,) = recorder.insert_events([_event(existing, 2)])
    assert position > 1
