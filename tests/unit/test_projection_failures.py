"""A runner's memory of failed projection groups: narrowing, back-off, logging, recovery."""

from __future__ import annotations

import itertools
import logging

import psycopg
import pytest
from prometheus_client import REGISTRY

from projections.health import RETRY_MAX_SECONDS, Failures
from projections.runner import CATCH_UP_BATCH


def _count(group: str) -> float:
    found = REGISTRY.get_sample_value("ledger_projection_failures_total", {"group": group})
    return found or 0.0


def test_an_event_error_narrows_the_batch_then_logs_the_position_with_back_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = Failures()
    before = _count("finance")
    sizes = [failures.batch_size(["finance"])]
    with caplog.at_level(logging.INFO, "projections.worker"):
        while failures.batch_size(["finance"]) > 1:
            failures.failed(["finance"], ValueError("refused"), 41)
            sizes.append(failures.batch_size(["finance"]))
            assert failures.next_retry(["finance"]) == 0  # narrowing retries at once
        assert caplog.records == []
        for _ in range(7):
            failures.failed(["finance"], ValueError("refused"), 41)
    assert sizes[0] == CATCH_UP_BATCH and sizes[-1] == 1
    assert all(a // 2 == b for a, b in itertools.pairwise(sizes))
    waits = [r.fields["retry_in_seconds"] for r in caplog.records]  # type: ignore[attr-defined]
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, RETRY_MAX_SECONDS, RETRY_MAX_SECONDS]
    assert {r.fields["failed_position"] for r in caplog.records} == {42}  # type: ignore[attr-defined]
    assert caplog.records[0].getMessage() == (
        "projection group finance cannot apply the event at position 42 (ValueError: "
        "refused); retrying in 1 s"
    )
    assert _count("finance") - before == 7
    assert failures.parts(["members", "finance"]) == [["members"]]  # finance waits its turn

    with caplog.at_level(logging.INFO, "projections.worker"):
        failures.succeeded(["finance"], 50)
    assert (
        caplog.records[-1].getMessage() == "projection group finance applying again (position 50)"
    )
    assert failures.parts(["members", "finance"]) == [["members", "finance"]]
    assert failures.batch_size(["finance"]) == CATCH_UP_BATCH


def test_a_database_error_is_retried_with_back_off_at_full_size(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = Failures()
    with caplog.at_level(logging.WARNING, "projections.worker"):
        failures.failed(["members"], psycopg.OperationalError("server closed"), 7)
        failures.failed(["members"], psycopg.OperationalError("server closed"), None)
    assert failures.batch_size(["members"]) == CATCH_UP_BATCH
    assert [r.fields["retry_in_seconds"] for r in caplog.records] == [1.0, 2.0]  # type: ignore[attr-defined]
    assert "database error at position 7" in caplog.records[0].getMessage()


def test_groups_that_failed_together_are_tried_one_by_one_at_once() -> None:
    failures = Failures()
    failures.failed(["members", "finance"], ValueError("which one?"), 3)
    assert failures.parts(["members", "finance"]) == [["members"], ["finance"]]
    failures.succeeded(["members"], 9)
    assert failures.parts(["members", "finance"]) == [["members"], ["finance"]]
