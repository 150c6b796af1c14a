"""The base every ledger aggregate derives from: versioned events from day one."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate

from ledger.infrastructure.events import trigger


class LedgerAggregate(Aggregate):
    class Event(Aggregate.Event):
        # Raise per event class (with an upcast_v1_v2) when an event's shape changes.
        class_version = 1

    class Created(Event, Aggregate.Created):
        pass

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        """The library's, with the event built as the library rebuilds stored ones."""
        trigger(self, event_class, kwargs)
