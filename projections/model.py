"""The vocabulary projections are written in: facts in, row changes out.

A projection is a name, the tables it owns, the event types it handles and a pure function
`apply(fact, rows) -> changes`. `rows` is read-only access to its own tables as they stand
just before this fact, so the function needs no I/O and gives the same changes for the same
inputs; it reads no other projection's tables, so projections may run in any order. Only the
runner knows about connections, transactions and tracking.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from operator import itemgetter
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol
from uuid import UUID

import orjson

ZERO = Decimal(0)
COLUMN_TYPES = ("int", "text", "decimal", "time", "date", "bool")


@dataclass(frozen=True)
class Column:
    name: str
    type: str

    def default(self) -> Any:
        return {"int": 0, "decimal": ZERO, "bool": False}.get(self.type)

    @property
    def additive(self) -> bool:
        """Whether `Upsert.add` can apply to it (and a merge adds it: see `Table.merged`)."""
        return self.type in ("int", "decimal")


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    # No projection reads this table back (`Rows.get` refuses it), so the runner never loads
    # its rows: it writes each batch's changes of a row as one merge into whatever row is
    # stored (columns an `Upsert` set are replaced, numbers are added), which spares a
    # load of the row and works the same when the row is not there yet.
    merged: bool = False
    column_names: tuple[str, ...] = field(init=False, compare=False)
    values: frozenset[str] = field(init=False, compare=False)  # the columns that are not the key
    # A row's values in `column_names` order, as a tuple (what the targets write).
    row_values: Callable[[Mapping[str, Any]], tuple[Any, ...]] = field(
        init=False, repr=False, compare=False
    )
    _defaults: Mapping[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = tuple(c.name for c in self.columns)
        object.__setattr__(self, "column_names", names)
        object.__setattr__(self, "values", frozenset(names) - set(self.key))
        object.__setattr__(self, "_defaults", {c.name: c.default() for c in self.columns})
        # itemgetter of one name gives the value itself, not a 1-tuple.
        getter = itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
        object.__setattr__(self, "row_values", getter)

    def new_row(self, key: tuple[Any, ...]) -> dict[str, Any]:
        row = dict(self._defaults)
        row.update(zip(self.key, key, strict=True))
        return row

    def key_of(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(row[name] for name in self.key)


def table(name: str, key: tuple[str, ...], merged: bool = False, **columns: str) -> Table:
    for kind in columns.values():
        assert kind in COLUMN_TYPES, kind
    return Table(name, tuple(Column(n, t) for n, t in columns.items()), key, merged)


def event_kind(topic: str) -> str:
    """The event class name a topic ends with (`ledger.member:Member.PointsAccrued` →
    `PointsAccrued`): what projections select on and the event listings call `type`."""
    return topic.rpartition(".")[2]


class Fact(NamedTuple):
    """One event from the log: its position, stored bytes and (when needed) decoded state.

    `data` is the event's state as plain values (Decimal, datetime, ...), the same attributes
    the domain event object would have; `kind` is the event class name, `member_key` the
    originator id in hex."""

    position: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes
    kind: str
    member_key: str
    data: Mapping[str, Any]
    # `to_json(detail_of(data))` when the runner made it from the stored state (cheaper),
    # for projections with `needs_text`; None otherwise.
    text: str | None = None


NOTHING: Mapping[str, Any] = MappingProxyType({})


class Upsert(NamedTuple):
    """Create the row if missing (column defaults), then `set` columns and `add` to others."""

    table: str
    key: tuple[Any, ...]
    set: Mapping[str, Any] = NOTHING
    add: Mapping[str, Any] = NOTHING

    def merge_into(self, row: dict[str, Any]) -> None:
        row.update(self.set)
        for name, delta in self.add.items():
            row[name] = row[name] + delta


class Insert(NamedTuple):
    """Append a row (statement lines, postings, hashes: never updated)."""

    table: str
    row: Mapping[str, Any]


class Create(NamedTuple):
    """A row whose key the event itself mints (a new lot, a new accrual's spend), so it
    cannot be stored yet: `set` over the column defaults. Later changes, in this batch or
    another, update it like any row. The runner writes it with the bulk insert instead of
    an upsert (a third less database work per row); a key that is already stored fails the
    batch, as a broken invariant should."""

    table: str
    key: tuple[Any, ...]
    set: Mapping[str, Any]


Change = Upsert | Insert | Create
RowKey = tuple[str, tuple[Any, ...]]


class Rows(Protocol):
    def get(self, table: str, key: tuple[Any, ...]) -> Mapping[str, Any] | None: ...


class Projection:
    name: str = ""
    tables: tuple[Table, ...] = ()
    topics: frozenset[str] = frozenset()  # event class names; empty means every event
    needs_decoding: bool = True
    needs_text: bool = False  # whether `apply` uses `fact.text` when it is there

    def handles(self, kind: str) -> bool:
        return not self.topics or kind in self.topics

    def reads(self, fact: Fact) -> Iterable[RowKey]:
        """Rows `apply` will read, so the runner can fetch them for a whole batch at once."""
        return ()

    def apply(self, fact: Fact, rows: Rows) -> Iterable[Change]:
        raise NotImplementedError


_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def to_json(data: Mapping[str, Any]) -> str:
    """Compact JSON with sorted keys, ASCII only: what `json.dumps` gives, made by orjson.

    orjson writes non-ASCII and DEL unescaped, so such texts (rare) go through json itself.
    (Its number format differs from json's only for floats in exponent form; member events
    hold no floats: points are int, money is Decimal.)"""
    try:
        encoded = orjson.dumps(data, default=_json_default, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:  # a lone surrogate or a 65-bit int: json decides
        encoded = b"\x7f"
    if encoded.isascii() and b"\x7f" not in encoded:
        return encoded.decode()
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


ENVELOPE = frozenset({"originator_id", "originator_version", "originator_topic", "timestamp"})


def event_data(state: Mapping[str, Any]) -> dict[str, Any]:
    """An event's own facts (its state or `vars(event)`), without the store's envelope."""
    data = dict(state)
    for name in ENVELOPE:
        data.pop(name, None)
    return data


# What member events record for read models since version 2 (None in older ones): the
# balance right after the event, which a statement line shows in its own columns, and the
# points taken from pending lots.
READ_MODEL_FACTS = frozenset({"available_after", "pending_after", "from_pending"})
NOT_IN_DETAIL = ENVELOPE | READ_MODEL_FACTS


def detail_of(state: Mapping[str, Any]) -> dict[str, Any]:
    """A statement line's `detail`: the event's particulars, as API.md documents them. The
    read models' facts are left out, so a line reads the same whichever version of the event
    recorded it."""
    return {name: value for name, value in state.items() if name not in NOT_IN_DETAIL}
