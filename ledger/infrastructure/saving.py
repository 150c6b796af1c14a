"""The ledger's `Application.save`, for the events the write pipeline hands it.

The write pipeline saves a group's events, never aggregates, and the library's
`collect_events` tests every object it is given against a runtime Protocol first. This saves
events as `Application.save` (eventsourcing 9.5) does after that test: record them in one
transaction, take snapshots, notify. It is the one place that calls the library's private
steps of a save; the cost it spares is in docs/PERFORMANCE.md ("Saving events").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import Recording

log = logging.getLogger("ledger.commands")


class EventSavingApplication(Application[UUID]):
    # Called with the domain events of every successful save (metrics hook in from api/).
    save_observers: list[Callable[[Sequence[Any]], None]]

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        if all(isinstance(obj, DomainEvent) for obj in objs):
            recordings = self._save_events(objs, kwargs)
        else:
            recordings = super().save(*objs, **kwargs)
        saved = [recording.domain_event for recording in recordings]
        for observer in self.save_observers:
            try:
                observer(saved)
            except Exception:
                log.exception("save observer failed")
        return recordings

    def _save_events(
        self, domain_events: Sequence[Any], kwargs: dict[str, Any]
    ) -> list[Recording[UUID]]:
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        processing_event.events.extend(domain_events)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # deprecated hook; kept as the library calls it
        return recordings
