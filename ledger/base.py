"""The base every ledger aggregate derives from: versioned events from day one."""

from __future__ import annotations

from eventsourcing.domain import Aggregate


class LedgerAggregate(Aggregate):
    class Event(Aggregate.Event):
        # Raise per event class (with an upcast_v1_v2) when an event's shape changes.
        class_version = 1

    class Created(Event, Aggregate.Created):
        pass
