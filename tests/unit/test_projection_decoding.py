"""The projections' decoder: the statement text it makes from the stored state is exactly
`to_json(detail_of(decoded))`, or it makes none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from eventsourcing.persistence import JSONTranscoder, Mapper

from projections.decoding import StateDecoder
from projections.model import detail_of, to_json
from tests.unit.test_transcoder import ACCRUAL_STATE, STATES, _registered

TOPIC = "tests.unit.test_projection_decoding:StoredState"
UPCAST_TOPIC = "tests.unit.test_projection_decoding:UpcastState"


class StoredState:
    class_version = 1


class UpcastState:
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["added"] = "by the upcast"


@pytest.fixture(params=["library", "orjson"])
def decoder(request: pytest.FixtureRequest) -> StateDecoder:
    from ledger.infrastructure.transcoder import OrjsonTranscoder

    transcoder = JSONTranscoder() if request.param == "library" else OrjsonTranscoder()
    return StateDecoder(Mapper(transcoder=_registered(transcoder)))


def _stored(decoder: StateDecoder, state: dict[str, Any]) -> bytes:
    return decoder._mapper.transcoder.encode(state)


ENVELOPED = {
    **ACCRUAL_STATE,
    "originator_topic": "x:Y",
    "timestamp": datetime(2026, 1, 1, tzinfo=UTC),
}
SECONDS_OFFSET = {"at": datetime(2026, 1, 1, tzinfo=timezone(timedelta(seconds=5)))}


@pytest.mark.parametrize("state", [*STATES, ENVELOPED, SECONDS_OFFSET])
def test_the_text_is_the_decoded_events_json_or_none(
    decoder: StateDecoder, state: dict[str, Any]
) -> None:
    stored = _stored(decoder, state)
    data, text = decoder.decode_with_text(TOPIC, stored)
    decoded = decoder.decode(TOPIC, stored)
    assert repr(data) == repr(decoded)
    if text is not None:
        assert text == to_json(detail_of(decoded))


@pytest.mark.parametrize("state", [ACCRUAL_STATE, ENVELOPED, SECONDS_OFFSET, {}])
def test_times_and_amounts_give_a_text(decoder: StateDecoder, state: dict[str, Any]) -> None:
    text = decoder.decode_with_text(TOPIC, _stored(decoder, state))[1]
    assert text == to_json(detail_of(decoder.decode(TOPIC, _stored(decoder, state))))
    assert '"timestamp"' not in text


def test_other_transcodings_and_upcasts_give_none(decoder: StateDecoder) -> None:
    uuid_state = STATES[2]  # a UUID, stored as hex, written with dashes
    assert decoder.decode_with_text(TOPIC, _stored(decoder, uuid_state))[1] is None
    data, text = decoder.decode_with_text(UPCAST_TOPIC, _stored(decoder, ACCRUAL_STATE))
    assert text is None
    assert data["added"] == "by the upcast"


def test_a_state_stored_at_its_class_version_gives_a_text_without_the_read_model_facts(
    decoder: StateDecoder,
) -> None:
    state = {
        **ACCRUAL_STATE,
        "available_after": 5,
        "pending_after": 0,
        "from_pending": 0,
        "class_version": 2,
    }
    data, text = decoder.decode_with_text(UPCAST_TOPIC, _stored(decoder, state))
    assert "added" not in data and "class_version" not in data  # no upcast
    assert (data["available_after"], data["pending_after"], data["from_pending"]) == (5, 0, 0)
    assert text == to_json(detail_of(decoder.decode(TOPIC, _stored(decoder, ACCRUAL_STATE))))


ODD_MARKERS: list[Any] = [
    {"_type_": "decimal_str", "_data_": "1.50"},
    {"_type_": "decimal_str", "_data_": {"_type_": "decimal_str", "_data_": "2"}},
    {"_type_": "no_such_transcoding", "_data_": "x"},
    {"_type_": ["decimal_str"], "_data_": "1"},
    {"_type_": "decimal_str", "_data_": "1", "more": True},
    {"_type_": "decimal_str"},
]


@pytest.mark.parametrize("marker", ODD_MARKERS)
def test_marker_like_values_decode_or_fail_as_the_librarys(
    decoder: StateDecoder, marker: Any
) -> None:
    stored = orjson.dumps({"a": marker, "b": [marker], "c": {"d": marker}})
    try:
        expected = repr(decoder._mapper.transcoder.decode(stored))
    except Exception as error:  # the library's refusal is the one expected
        with pytest.raises(type(error)):
            decoder.decode(TOPIC, stored)
        with pytest.raises(type(error)):
            decoder.decode_with_text(TOPIC, stored)
        return
    assert repr(decoder.decode(TOPIC, stored)) == expected
    assert repr(decoder.decode_with_text(TOPIC, stored)[0]) == expected
