"""Events built by ledger/infrastructure/events.py (`LedgerAggregate.trigger_event`) are the
library's events, attribute for attribute."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, Mapper, UUIDAsHex

from ledger import ids
from ledger.infrastructure.events import create, new_event
from ledger.infrastructure.transcoder import DateAsISO, OrjsonTranscoder
from ledger.member import Member
from ledger.transaction_key import TransactionKey

NOW = datetime(2026, 11, 22, 13, 45, 1, 123456, tzinfo=UTC)
RECORDED: Any = TransactionKey.TransactionRecorded  # type: ignore[attr-defined]
TIER_CHANGED: Any = Member.TierChanged  # type: ignore[attr-defined]


def stored(domain_event: Any) -> Any:
    transcoder = OrjsonTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(transcoding)
    return Mapper(transcoder=transcoder).to_stored_event(domain_event)


def key_attributes() -> dict[str, Any]:
    return {
        "timestamp": NOW,
        "partner_id": "shop",
        "transaction_id": "t1",
        "operation": "accrue",
        "member_id": "m1",
        "fingerprint": "f" * 64,
        "result": {"points": 12, "amount": Decimal("12.50"), "recorded_at": NOW},
    }


def test_create_builds_what_the_class_call_builds() -> None:
    by_library = TransactionKey(**key_attributes())
    ours = create(
        TransactionKey, RECORDED, ids.transaction_key_id("shop", "t1"), **key_attributes()
    )
    assert vars(ours).keys() == vars(by_library).keys()
    assert {k: v for k, v in vars(ours).items() if k != "_pending_events"} == {
        k: v for k, v in vars(by_library).items() if k != "_pending_events"
    }
    [mine], [theirs] = ours.pending_events, by_library.pending_events
    assert type(mine) is type(theirs) and list(vars(mine).items()) == list(vars(theirs).items())
    assert stored(mine) == stored(theirs)


def enrolled() -> Member:
    member = Member(
        timestamp=NOW,
        member_id="m1",
        enrolled_at=NOW,
        birth_date=None,
        enrolled_by="operator",
        tier="basic",
    )
    member.collect_events()
    return member


def test_trigger_event_applies_what_the_librarys_applies() -> None:
    attributes = {
        "timestamp": NOW,
        "from_tier": "basic",
        "to_tier": "gold",
        "reason": "upgrade",
        "qualifying_spend": Decimal("6000"),
        "guaranteed_until": None,
        "available_after": 0,
        "pending_after": 0,
    }
    by_library, ours = enrolled(), enrolled()
    Aggregate.trigger_event(by_library, TIER_CHANGED, **attributes)
    ours.trigger_event(TIER_CHANGED, **attributes)
    assert (ours.tier, ours.version, ours.modified_on) == ("gold", 2, NOW)
    assert (by_library.tier, by_library.version) == ("gold", 2)
    [mine], [theirs] = ours.collect_events(), by_library.collect_events()
    assert list(vars(mine).items()) == list(vars(theirs).items())
    assert stored(mine) == stored(theirs)


def test_a_missing_or_unexpected_attribute_is_refused_as_the_class_refuses_it() -> None:
    good = {
        "originator_id": ids.member_id("m1"),
        "originator_version": 2,
        "timestamp": NOW,
        "from_tier": "a",
        "to_tier": "b",
        "reason": "r",
        "qualifying_spend": Decimal(0),
        "guaranteed_until": None,
        "available_after": 0,
        "pending_after": 0,
    }
    assert vars(new_event(TIER_CHANGED, good)) == vars(TIER_CHANGED(**good))
    with pytest.raises(TypeError):
        new_event(TIER_CHANGED, {k: v for k, v in good.items() if k != "reason"})
    with pytest.raises(TypeError):
        new_event(TIER_CHANGED, {**good, "colour": "red"})
    with pytest.raises(TypeError):  # the library's own check that the id is a UUID
        new_event(TIER_CHANGED, {**good, "originator_id": "m1"})
