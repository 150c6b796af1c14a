"""Tampering with the events table, as an attacker with database access would (the
append-only triggers dropped), is named at its exact position by `GET /v1/audit/verify` and by
`loyalty-ledger audit verify`, on SQLite and PostgreSQL; a digest kept before the tamper is
no longer on the chain; verify checks the whole log, also where the projections have not
applied it yet."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient

from api.app import create_app
from api.migrate import migrate
from ledger.application import Ledger
from ledger.clock import ManualClock
from ledger.commands import Adjust
from ledger.config import Settings, database_backend, sqlite_path
from projections.audit import verify
from projections.definitions import ALL
from projections.runner import ProjectionRunner
from projections.store import open_target
from tests.integration.test_projections import build_coalition

ADMIN = "test-admin"
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Row:
    position: int
    stream_id: Any  # as stored: a UUID (PostgreSQL) or its hex text (SQLite)
    version: int
    topic: str
    state: bytes  # None only where a tamper left it

    @property
    def kind(self) -> str:
        return self.topic.rpartition(".")[2]


class EventsTable:
    """The events table as an attacker edits it: by position, with the triggers dropped."""

    def __init__(self, url: str) -> None:
        self.postgres = database_backend(url) == "postgres"
        self.url = url

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.postgres:
            with psycopg.connect(self.url, autocommit=True) as conn:
                cursor = conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
                return cursor.fetchall() if cursor.description else []
        file = sqlite3.connect(sqlite_path(self.url), isolation_level=None)
        try:
            return file.execute(sql, params).fetchall()
        finally:
            file.close()

    @property
    def _table(self) -> tuple[str, str]:
        return ("ledger_events", "notification_id") if self.postgres else ("stored_events", "rowid")

    def rows(self) -> list[Row]:
        table, position = self._table
        found = self._execute(
            f"SELECT {position}, originator_id, originator_version, topic, state FROM {table} "
            f"ORDER BY {position}"
        )
        return [Row(int(p), i, int(v), t, s and bytes(s)) for p, i, v, t, s in found]

    def drop_triggers(self) -> None:
        if self.postgres:
            self._execute("ALTER TABLE ledger_events DISABLE TRIGGER ALL")
        else:
            for name in ("stored_events_no_update", "stored_events_no_delete"):
                self._execute(f"DROP TRIGGER IF EXISTS {name}")

    def set(self, position: int, column: str, value: Any) -> None:
        table, key = self._table
        self._execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (value, position))

    def delete(self, position: int) -> None:
        table, key = self._table
        self._execute(f"DELETE FROM {table} WHERE {key} = ?", (position,))


def member_rows(rows: list[Row]) -> dict[Any, list[Row]]:
    members = {r.stream_id for r in rows if r.kind == "MemberEnrolled"}
    streams: dict[Any, list[Row]] = {m: [] for m in members}
    for row in rows:
        if row.stream_id in members:
            streams[row.stream_id].append(row)
    return streams


# Each tamper edits one stored event and returns its position.
def move_to_another_member(table: EventsTable) -> int:
    streams = member_rows(table.rows())
    for member, events in streams.items():
        for row in events:
            for other, theirs in streams.items():
                if other != member and row.version not in {r.version for r in theirs}:
                    table.set(row.position, "originator_id", other)
                    return row.position
    raise AssertionError("no event can move without clashing")


def renumber(table: EventsTable) -> int:
    row = next(r for r in table.rows() if r.kind == "PointsAccrued")
    table.set(row.position, "originator_version", row.version + 100)
    return row.position


def edit_one_byte(table: EventsTable) -> int:
    row = next(r for r in table.rows() if r.kind == "PointsAccrued")
    digits = re.search(rb'"points":(\d+)', row.state)
    assert digits is not None
    at = digits.end(1) - 1  # the last digit: the JSON stays valid, the number changes
    changed = bytes([ord("0") + (row.state[at] - ord("0") + 1) % 10])
    table.set(row.position, "state", row.state[:at] + changed + row.state[at + 1 :])
    return row.position


def number_to_string(table: EventsTable) -> int:
    row = next(r for r in table.rows() if r.kind == "PointsAccrued")
    data = json.loads(row.state)
    data["points"] = str(data["points"])
    table.set(row.position, "state", json.dumps(data, separators=(",", ":")).encode())
    return row.position


def object_to_list(table: EventsTable) -> int:
    row = next(r for r in table.rows() if r.kind == "BonusGranted")
    data = json.loads(row.state)
    assert isinstance(data["lot"], dict)
    data["lot"] = list(data["lot"].values())
    table.set(row.position, "state", json.dumps(data, separators=(",", ":")).encode())
    return row.position


def null_state(table: EventsTable) -> int:
    row = next(r for r in table.rows() if r.kind == "PointsRedeemed")
    table.set(row.position, "state", None)
    return row.position


def delete_an_event(table: EventsTable) -> int:
    row = next(r for r in table.rows() if r.kind == "PointsRedeemed")
    table.delete(row.position)
    return row.position


TAMPERS: dict[str, Callable[[EventsTable], int]] = {
    "moved to another member": move_to_another_member,
    "renumbered": renumber,
    "one byte edited": edit_one_byte,
    "a number made a string": number_to_string,
    "an object made a list": object_to_list,
    "state set to null": null_state,
    "deleted": delete_an_event,
}


@pytest.fixture
def recorded(database_url: str, clock: ManualClock) -> Iterator[str]:
    """The coalition's history, fully projected (the projection tables hold its hashes)."""
    settings = Settings(database_url=database_url)
    migrate(settings)
    ledger = Ledger(settings=settings, clock=clock)
    target = open_target(settings)
    try:
        build_coalition(ledger, clock)
        ProjectionRunner(ledger, target).catch_up()
    finally:
        target.close()
        ledger.close()
    yield database_url


def api_verify(url: str, **query: Any) -> tuple[int, Any]:
    """GET /v1/audit/verify through the Flask app on this database."""
    app = create_app(Settings(database_url=url, admin_key=ADMIN))
    try:
        client: FlaskClient = app.test_client()
        response = client.get(
            "/v1/audit/verify", query_string=query, headers={"Authorization": f"Bearer {ADMIN}"}
        )
        return response.status_code, response.get_json()
    finally:
        target = app.extensions.get("projections")
        if target is not None:
            target.close()
        app.extensions["ledger"].close()


def api_digest(url: str) -> dict[str, Any]:
    app = create_app(Settings(database_url=url, admin_key=ADMIN))
    try:
        response = app.test_client().get(
            "/v1/audit/digest", headers={"Authorization": f"Bearer {ADMIN}"}
        )
        assert response.status_code == 200
        return dict(response.get_json())
    finally:
        target = app.extensions.get("projections")
        if target is not None:
            target.close()
        app.extensions["ledger"].close()


def cli_verify(url: str, *args: str) -> tuple[int, dict[str, Any], str]:
    """`loyalty-ledger audit verify` in its own process: (exit code, report, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "audit", "verify", *args],
        cwd=ROOT,
        env={**env, "LEDGER_DATABASE_URL": url, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


@pytest.mark.parametrize("tamper", TAMPERS, ids=list(TAMPERS))
def test_a_tampered_event_is_named_at_its_position(recorded: str, tamper: str) -> None:
    table = EventsTable(recorded)
    events = len(table.rows())
    kept = api_digest(recorded)
    assert kept["position"] == table.rows()[-1].position
    status, before = api_verify(recorded, position=kept["position"], hash=kept["hash"])
    assert status == 200
    assert (before["ok"], before["chain_ok"], before["digest_ok"]) == (True, True, True)
    assert (before["first_broken_position"], before["checked_events"]) == (None, events)

    table.drop_triggers()
    position = TAMPERS[tamper](table)

    status, after = api_verify(recorded, position=kept["position"], hash=kept["hash"])
    assert status == 200
    assert (after["ok"], after["chain_ok"]) == (False, False)
    assert after["first_broken_position"] == position
    assert after["digest_ok"] is False
    assert after["checked_events"] == len(table.rows())

    code, report, stderr = cli_verify(recorded, "--digest", f"{kept['position']}:{kept['hash']}")
    assert code == 1
    assert (report["ok"], report["first_broken_position"], report["digest_ok"]) == (
        False,
        position,
        False,
    )
    assert f"audit verify FAILED: first broken position {position}" in stderr


def test_an_untouched_log_verifies_and_a_foreign_digest_does_not(recorded: str) -> None:
    kept = api_digest(recorded)
    code, report, _ = cli_verify(recorded, "--digest", f"{kept['position']}:{kept['hash']}")
    assert (code, report["ok"], report["digest_ok"]) == (0, True, True)
    assert report["projections"] and all(p["ok"] for p in report["projections"])
    forged = f"{kept['position']}:{'0' * 64}"
    code, report, stderr = cli_verify(recorded, "--digest", forged)
    assert (code, report["ok"], report["chain_ok"], report["digest_ok"]) == (1, False, True, False)
    assert "audit verify FAILED: the digest is not on the chain" in stderr
    status, body = api_verify(recorded, position=kept["position"] + 1000, hash=kept["hash"])
    assert (status, body["ok"], body["digest_ok"]) == (200, False, False)


def test_verify_checks_the_whole_log_when_the_projections_are_behind(
    database_url: str, clock: ManualClock
) -> None:
    settings = Settings(database_url=database_url)
    migrate(settings)
    ledger = Ledger(settings=settings, clock=clock)
    target = open_target(settings)
    try:
        build_coalition(ledger, clock)
        head = int(ledger.recorder.max_notification_id() or 0)
        ProjectionRunner(ledger, target).catch_up(until=head // 2)
    finally:
        target.close()
        ledger.close()
    table = EventsTable(database_url)
    events = len(table.rows())

    status, body = api_verify(database_url)
    assert status == 200
    assert (body["ok"], body["chain_ok"], body["position"]) == (True, True, head // 2)
    assert body["checked_events"] == events == head

    # Beyond what the projections applied there is no stored hash to differ from; an event
    # that cannot be applied is still found, by verify's own replay to the head.
    table.drop_triggers()
    late = next(r for r in table.rows() if r.position > head // 2 and r.kind == "PointsAccrued")
    data = json.loads(late.state)
    data["points"] = str(data["points"])
    table.set(late.position, "state", json.dumps(data, separators=(",", ":")).encode())
    status, body = api_verify(database_url)
    assert (status, body["ok"], body["first_broken_position"]) == (200, False, late.position)
    assert body["replay_error"]["position"] == late.position
    assert body["checked_events"] == events
    code, report, _ = cli_verify(database_url)
    assert (code, report["first_broken_position"]) == (1, late.position)


def test_a_digest_needs_both_its_position_and_its_hash(recorded: str) -> None:
    status, body = api_verify(recorded, position=3)
    assert status == 422 and body["type"].endswith("/validation-error")
    assert "hash" in json.dumps(body)
    status, body = api_verify(recorded, hash="ab" * 32)
    assert status == 422 and "position" in json.dumps(body)
    status, body = api_verify(recorded, position=3, hash="not-hex")
    assert status == 422 and "hash" in json.dumps(body)


def test_an_upgraded_database_rebuilds_its_chain_and_verifies(
    database_url: str, clock: ManualClock
) -> None:
    settings = Settings(database_url=database_url)
    migrate(settings)
    ledger = Ledger(settings=settings, clock=clock)
    try:
        build_coalition(ledger, clock)
        target = open_target(settings)
        ProjectionRunner(ledger, target).catch_up()
        target.close()
        # As version 1 left it: hashes over topic and state only; migration 0005 not applied.
        table = EventsTable(database_url)
        previous = "0" * 64
        for row in table.rows():
            record = bytes.fromhex(previous) + row.topic.encode() + b"\x00" + row.state
            previous = hashlib.sha256(record).hexdigest()
            table._execute(
                "UPDATE event_hashes SET hash = ? WHERE position = ?", (previous, row.position)
            )
        table._execute("UPDATE chain_head SET hash = ?", (previous,))
        table._execute(
            "DELETE FROM _yoyo_migration WHERE migration_id = ?", ("0005_chain_whole_record",)
        )
        status, stale = api_verify(database_url)
        assert (status, stale["chain_ok"], stale["first_broken_position"]) == (200, False, 1)

        assert migrate(settings) == ["0005_chain_whole_record"]
        target = open_target(settings)
        ProjectionRunner(ledger, target).catch_up()
        target.close()
        head = int(ledger.recorder.max_notification_id() or 0)
    finally:
        ledger.close()
    status, body = api_verify(database_url)
    assert (status, body["ok"], body["chain_ok"], body["checked_events"]) == (200, True, True, head)
    assert api_digest(database_url)["position"] == head


def test_verify_of_a_ledger_in_use_is_ok(recorded: str, clock: ManualClock) -> None:
    """Writes and a projection runner go on while verify reads the projection tables (one
    after the other): what it compares must stand at one position."""
    settings = Settings(database_url=recorded)
    stop = threading.Event()
    written: list[int] = []
    # Opened here, one after the other: two ledgers opening at once race on their DDL.
    writing, writing_to = Ledger(settings=settings, clock=clock), open_target(settings)
    ledger, target = Ledger(settings=settings, clock=clock), open_target(settings)

    def keep_writing() -> None:
        runner = ProjectionRunner(writing, writing_to)
        while not stop.is_set():
            n = len(written)
            writing.execute(
                Adjust(adjustment_id=f"live-{n}", member_id="m1", points=1, reason="live")
            )
            runner.catch_up()
            written.append(n)
            time.sleep(0.01)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    reports: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 60
        while len(reports) < 3 or (len(written) < 10 and time.monotonic() < deadline):
            reports.append(verify(ledger, target))
    finally:
        stop.set()
        writer.join(60)
        for opened in (writing_to, writing, target, ledger):
            opened.close()
    assert len(written) >= 10, "the writer kept writing while verify ran"
    expected = (True, [{"name": p.name, "ok": True, "detail": None} for p in ALL])
    assert [(r["ok"], r["projections"]) for r in reports] == [expected] * len(reports)


def api_get(url: str, path: str) -> tuple[int, Any]:
    """GET `path` through the Flask app on this database, as the admin."""
    app = create_app(Settings(database_url=url, admin_key=ADMIN))
    try:
        response = app.test_client().get(path, headers={"Authorization": f"Bearer {ADMIN}"})
        return response.status_code, response.get_json()
    finally:
        target = app.extensions.get("projections")
        if target is not None:
            target.close()
        app.extensions["ledger"].close()


def not_json(table: EventsTable) -> int:
    row = next(r for r in table.rows() if r.kind == "PointsRedeemed")
    table.set(row.position, "state", b"\xff\x00 not json")
    return row.position


@pytest.mark.parametrize("tamper", [null_state, not_json], ids=["null", "not JSON"])
def test_an_undecodable_row_is_listed_as_stored_with_null_data(
    recorded: str, tamper: Callable[[EventsTable], int]
) -> None:
    status, before = api_get(recorded, "/v1/events?limit=1000")
    assert status == 200
    table = EventsTable(recorded)
    redeemed = next(e for e in before["events"] if e["type"] == "PointsRedeemed")
    member_id = next(
        e["data"]["member_id"]
        for e in before["events"]
        if e["type"] == "MemberEnrolled" and e["stream_id"] == redeemed["stream_id"]
    )
    status, member_before = api_get(recorded, f"/v1/members/{member_id}/events?limit=1000")
    assert status == 200
    table.drop_triggers()
    position = tamper(table)
    assert position == redeemed["position"]
    listed = {event["position"]: event for event in before["events"]}
    damaged = {**listed[position], "recorded_at": None, "data": None}
    assert damaged["type"] == "PointsRedeemed"

    status, after = api_get(recorded, "/v1/events?limit=1000")
    assert status == 200
    assert after == {
        "events": [damaged if e["position"] == position else e for e in before["events"]],
        "next_cursor": None,
    }
    status, member_after = api_get(recorded, f"/v1/members/{member_id}/events?limit=1000")
    assert status == 200
    assert member_after["events"] == [
        damaged if e["position"] == position else e for e in member_before["events"]
    ]
    assert sum(e["data"] is None for e in member_after["events"]) == 1
