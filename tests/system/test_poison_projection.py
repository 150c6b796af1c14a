"""An event one projection group cannot apply, under a real `serve`: the database refuses the
finance row of partner `bad` (a constraint the test adds). The members group goes on applying,
the failure shows in /metrics, in the log (group and position) and on /readyz, is retried
with back-off, and once the cause is removed the finance group catches up, each event once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.config import Settings
from projections.definitions import ALL, GROUPS
from tests.system.serve_support import Served, accrual, partner, serve, wait_until

pytestmark = pytest.mark.slow

FINANCE = sorted(p.name for p in ALL if p.name in dict(GROUPS)["finance"])
MEMBERS = sorted(p.name for p in ALL if p.name in dict(GROUPS)["members"])
READY_MAX_LAG_SECONDS = 2


def _poison(served: Served) -> None:
    if served.url.startswith("sqlite"):
        for verb in ("INSERT", "UPDATE"):
            served.sql(
                f"CREATE TRIGGER poison_{verb.lower()} BEFORE {verb} ON partner_positions "
                "WHEN NEW.partner_id = 'bad' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
            )
    else:
        served.sql(
            "ALTER TABLE partner_positions ADD CONSTRAINT poison "
            "CHECK (partner_id <> 'bad') NOT VALID"
        )


def _cure(served: Served) -> None:
    if served.url.startswith("sqlite"):
        served.sql("DROP TRIGGER poison_insert")
        served.sql("DROP TRIGGER poison_update")
    else:
        served.sql("ALTER TABLE partner_positions DROP CONSTRAINT poison")


def _gauge(gauges: dict[str, float], name: str, projections: list[str]) -> set[float]:
    return {gauges[f'ledger_projection_{name}{{projection="{p}"}}'] for p in projections}


def _failures(served: Served) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in served.stderr.read_text().splitlines() if "{" in line]
    return [
        line
        for line in lines
        if isinstance(line, dict) and "cannot apply the event" in line.get("message", "")
    ]


def _head(served: Served) -> int:
    ledger = Ledger(settings=Settings(database_url=served.url))
    try:
        return int(ledger.recorder.max_notification_id() or 0)
    finally:
        ledger.close()


def test_a_poison_event_holds_only_its_group_and_resumes_exactly_once(
    database_url: str, tmp_path: Path
) -> None:
    served = serve(database_url, tmp_path, LEDGER_READY_MAX_LAG_SECONDS=str(READY_MAX_LAG_SECONDS))
    try:
        served.until_accepted("POST", "/v1/partners", partner("bad"))
        for member_id in ("m1", "m2"):
            served.until_accepted("POST", "/v1/members", {"member_id": member_id})
        served.until_accepted("POST", "/v1/accruals", accrual("m1", "good-0"))
        wait_until(
            lambda: _gauge(served.metrics(), "lag_events", FINANCE + MEMBERS) == {0},
            60,
            "the projections to catch up",
        )
        _poison(served)

        poisoned = served.until_accepted("POST", "/v1/accruals", accrual("m2", "bad-1", "bad"))
        good = [
            served.until_accepted("POST", "/v1/accruals", accrual("m1", f"good-{n}")).json()
            for n in range(1, 4)
        ]
        # The members group applies past the event finance cannot.
        expected = {
            "m1": good[-1]["balance"]["available"],
            "m2": poisoned.json()["balance"]["available"],
        }
        wait_until(
            lambda: (
                {
                    m: served.request("GET", f"/v1/members/{m}/balance").json()["available"]
                    for m in expected
                }
                == expected
            ),
            60,
            "plain reads to show every accrual",
        )
        rows = served.sql("SELECT position FROM member_statement WHERE transaction_id = 'bad-1'")
        position = int(rows[0][0])

        wait_until(lambda: len(_failures(served)) >= 2, 60, "the failure to be logged twice")
        failures = _failures(served)
        assert {f["group"] for f in failures} == {"finance"}
        assert {f["failed_position"] for f in failures} == {position}
        assert f"finance cannot apply the event at position {position}" in failures[0]["message"]
        assert "poison" in failures[0]["error"]
        waits = [f["retry_in_seconds"] for f in failures]
        assert waits == [min(2.0**n, 30.0) for n in range(len(waits))]  # back-off, no loop

        head = _head(served)
        gauges = served.metrics()
        assert _gauge(gauges, "position", MEMBERS) == {head}
        assert _gauge(gauges, "lag_events", MEMBERS) == {0}
        assert _gauge(gauges, "position", FINANCE) == {position - 1}
        assert _gauge(gauges, "lag_events", FINANCE) == {head - position + 1}
        assert gauges['ledger_projection_failures_total{group="finance"}'] >= 2
        assert gauges.get('ledger_projection_failures_total{group="members"}', 0) == 0

        wait_until(
            lambda: served.request("GET", "/readyz").status_code == 503,
            60,
            "/readyz to turn 503",
        )
        not_ready = served.request("GET", "/readyz")
        assert not_ready.json()["type"].endswith("/unavailable")
        assert f"at position {position - 1} of {head}" in not_ready.json()["detail"]
        assert not_ready.json()["detail"].split()[1] in FINANCE

        _cure(served)
        wait_until(
            lambda: _gauge(served.metrics(), "lag_events", FINANCE) == {0}, 60, "finance resumes"
        )
        assert served.request("GET", "/readyz").status_code == 200
        issued = dict(
            served.sql(
                "SELECT partner_id, sum(points_issued) FROM partner_positions GROUP BY partner_id"
            )
        )
        assert issued == {
            "bad": poisoned.json()["points"],
            "p1": sum(a["points"] for a in good) + 10,
        }
        wait_until(
            lambda: "projection group finance applying again" in served.stderr.read_text(),
            30,
            "the recovery to be logged",
        )
        statuses = dict(served.statuses)
        assert 500 not in statuses, statuses
        assert served.stop() == 0
    finally:
        served.close()
