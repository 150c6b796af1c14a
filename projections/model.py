"""The vocabulary projections are written in: facts in, row changes out.

A projection is a name, the tables it owns, the event types it handles and a pure function
`apply(fact, rows) -> changes`. `rows` is read-only access to the projection tables as they
stand just before this fact (earlier projections' changes for the same fact included), so the
function needs no I/O and gives the same changes for the same inputs. Only the runner knows
about connections, transactions and tracking.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

ZERO = Decimal(0)
COLUMN_TYPES = ("int", "text", "decimal", "time", "date", "bool")


@dataclass(frozen=True)
class Column:
    name: str
    type: str

    def default(self) -> Any:
        return {"int": 0, "decimal": ZERO, "bool": False}.get(self.type)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def new_row(self, key: tuple[Any, ...]) -> dict[str, Any]:
        row = {c.name: c.default() for c in self.columns}
        row.update(zip(self.key, key, strict=True))
        return row

    def key_of(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(row[name] for name in self.key)


def table(name: str, key: tuple[str, ...], **columns: str) -> Table:
    for kind in columns.values():
        assert kind in COLUMN_TYPES, kind
    return Table(name, tuple(Column(n, t) for n, t in columns.items()), key)


@dataclass(frozen=True)
class Fact:
    """One event from the log: its position, stored bytes and (when needed) decoded event."""

    position: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes
    event: Any = None
    kind: str = field(init=False)  # the event class name
    member_key: str = field(init=False)  # the originator id in hex

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", self.topic.rpartition(".")[2])
        object.__setattr__(self, "member_key", self.originator_id.hex)

    @property
    def recorded_at(self) -> datetime:
        return self.event.timestamp  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Upsert:
    """Create the row if missing (column defaults), then `set` columns and `add` to others."""

    table: str
    key: tuple[Any, ...]
    set: Mapping[str, Any] = field(default_factory=dict)
    add: Mapping[str, Any] = field(default_factory=dict)

    def merge_into(self, row: dict[str, Any]) -> None:
        row.update(self.set)
        for name, delta in self.add.items():
            row[name] = row[name] + delta


@dataclass(frozen=True)
class Insert:
    """Append a row (statement lines, postings, hashes: never updated)."""

    table: str
    row: Mapping[str, Any]


Change = Upsert | Insert
RowKey = tuple[str, tuple[Any, ...]]


class Rows(Protocol):
    def get(self, table: str, key: tuple[Any, ...]) -> Mapping[str, Any] | None: ...


class Projection:
    name: str = ""
    tables: tuple[Table, ...] = ()
    topics: frozenset[str] = frozenset()  # event class names; empty means every event
    needs_decoding: bool = True

    def handles(self, kind: str) -> bool:
        return not self.topics or kind in self.topics

    def reads(self, fact: Fact) -> Iterable[RowKey]:
        """Rows `apply` will read, so the runner can fetch them for a whole batch at once."""
        return ()

    def apply(self, fact: Fact, rows: Rows) -> Iterable[Change]:
        raise NotImplementedError


def to_json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def event_data(event: Any) -> dict[str, Any]:
    """An event's own facts, without the envelope the store keeps anyway."""
    envelope = {"originator_id", "originator_version", "originator_topic", "timestamp"}
    return {k: v for k, v in vars(event).items() if k not in envelope}
