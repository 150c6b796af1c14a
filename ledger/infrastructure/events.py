"""New events built the way the library rebuilds stored ones, behind the library's own
extension point: `LedgerAggregate.trigger_event` calls `trigger` (and the application's
transaction keys are made by `create`).

The library's `trigger_event` and calling an aggregate class copy the arguments and run the
frozen dataclass's `__init__` (one `object.__setattr__` per field); the library's mapper
rebuilds a stored event by filling a bare object's `__dict__`. These helpers build new ones
so, with the attributes in the dataclass's field order (the stored state is that `__dict__`,
so its bytes do not change), then apply them exactly as the library does: the event's own
`mutate`, then the aggregate's pending events. docs/PERFORMANCE.md has what that saves.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

E = TypeVar("E")
A = TypeVar("A", bound=Aggregate)

_FIELDS: dict[type, tuple[tuple[str, ...], frozenset[str]]] = {}


def _field_names(event_class: type) -> tuple[tuple[str, ...], frozenset[str]]:
    names = _FIELDS.get(event_class)
    if names is None:
        ordered = tuple(f.name for f in dataclasses.fields(event_class))
        names = _FIELDS[event_class] = ordered, frozenset(ordered)
    return names


def new_event(event_class: type[E], attributes: dict[str, Any]) -> E:
    """`event_class(**attributes)`: the same object, built without its `__init__`."""
    names, expected = _field_names(event_class)
    if attributes.keys() != expected:
        return event_class(**attributes)  # a missing or unexpected one: the class says which
    built = object.__new__(event_class)
    built.__dict__.update({name: attributes[name] for name in names})
    post_init = getattr(built, "__post_init__", None)
    if post_init is not None:
        post_init()
    return built


def trigger(aggregate: Aggregate, event_class: type[Any], attributes: dict[str, Any]) -> None:
    """The library's `aggregate.trigger_event(event_class, **attributes)`; takes `attributes`."""
    if getattr(type(aggregate), "TOPIC", None):
        # Its topic checks are the library's.
        Aggregate.trigger_event(aggregate, event_class, **attributes)
        return
    attributes["originator_id"] = aggregate.id
    attributes["originator_version"] = aggregate.version + 1
    if attributes.get("timestamp") is None:
        attributes["timestamp"] = event_class.create_timestamp()
    domain_event = new_event(event_class, attributes)
    domain_event.mutate(aggregate)
    aggregate.pending_events.append(domain_event)


def create(
    aggregate_class: type[A], created: type[Any], aggregate_id: UUID, **attributes: Any
) -> A:
    """`aggregate_class(**attributes)` through its `created` event, with the id given (what
    the class's `create_id` returns for these attributes)."""
    if getattr(aggregate_class, "TOPIC", None):
        return aggregate_class._create(created, id=aggregate_id, **attributes)
    attributes["originator_topic"] = get_topic(aggregate_class)
    attributes["originator_id"] = aggregate_id
    attributes["originator_version"] = aggregate_class.INITIAL_VERSION
    if attributes.get("timestamp") is None:
        attributes["timestamp"] = created.create_timestamp()
    domain_event = new_event(created, attributes)
    aggregate: A = domain_event.mutate(None)
    aggregate.pending_events.append(domain_event)
    return aggregate
