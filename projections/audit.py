"""Auditor tools: verify the hash chain and every projection against a fresh replay of the
events, and write the projections as they stood at an instant (as CSV)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from ledger.application import Ledger
from projections.definitions import ALL, GENESIS_HASH, HashChain, chain_hash
from projections.eventlog import EventLog
from projections.runner import ProjectionRunner, replay_into
from projections.store import Target, scratch_target

PAGE = 5000
# How often verify compares a projection group again when a runner moved it meanwhile.
COMPARE_ATTEMPTS = 5


@dataclass
class ChainCheck:
    checked_events: int = 0  # events in the log, up to its head when the check began
    first_broken: int | None = None  # the first position not on the chain
    digest_ok: bool | None = None  # whether the kept digest is on the chain (None: none given)


def chain_fields(row: Sequence[Any]) -> tuple[int, UUID, int, str, bytes]:
    """What `chain_hash` takes, from an events-table row as stored; ValueError if malformed
    (a stream id that is no UUID, a version that is no integer, a topic or state of another
    type: rows only an edit of the table itself could leave)."""
    position, stream_id, version, topic, state = row
    if not isinstance(stream_id, UUID):
        stream_id = UUID(str(stream_id))  # SQLite keeps it as text
    if type(version) is not int or not isinstance(topic, str) or not isinstance(state, bytes):
        raise ValueError(f"malformed stored event at position {position}")
    return int(position), stream_id, version, topic, state


def verify_chain(
    ledger: Ledger, target: Target, digest: tuple[int, str] | None = None
) -> ChainCheck:
    """Recompute the chain over the whole log, from the events table alone, and hold it
    against the hashes the projection stored and against a digest kept earlier."""
    log = EventLog(ledger)
    hashed_until = target.positions().get(HashChain.name, 0)  # before the head: see below
    head = int(ledger.recorder.max_notification_id() or 0)
    check = ChainCheck()
    previous: str | None = GENESIS_HASH  # None once a malformed row cut the chain
    start = 1
    while start <= head:
        rows = log.stored_rows(start, PAGE, head)
        if not rows:
            break
        last = int(rows[-1][0])
        kept = _stored_hashes(target, start, last)
        broken = None
        for row in rows:
            position = int(row[0])
            check.checked_events += 1
            try:
                previous = None if previous is None else chain_hash(previous, *chain_fields(row))
            except (ValueError, TypeError):
                previous = None
            stored = kept.pop(position, None)
            # Every event up to `hashed_until` has a stored hash; one without was inserted.
            expected = stored is not None or position <= hashed_until
            if broken is None and (previous is None or (expected and stored != previous)):
                broken = position
            if digest is not None and digest[0] == position:
                check.digest_ok = previous is not None and previous == digest[1]
        # A stored hash whose event is gone: that event was deleted.
        broken = min([p for p in (broken, min(kept, default=None)) if p is not None], default=None)
        if check.first_broken is None:
            check.first_broken = broken
        start = last + 1
    if check.first_broken is None:
        # Events applied (hashed) before the head was read, but no longer in the log.
        check.first_broken = min(_stored_hashes(target, start, hashed_until), default=None)
    if digest is not None and check.digest_ok is None:
        check.digest_ok = False  # no event at that position: not on this chain
    return check


def _stored_hashes(target: Target, low: int, high: int) -> dict[int, str]:
    rows = target.query(
        "SELECT position, hash FROM event_hashes WHERE position >= ? AND position <= ?",
        [low, high],
    )
    return {int(r["position"]): r["hash"] for r in rows}


def _first_difference(
    ours: list[dict[str, Any]], theirs: list[dict[str, Any]], key: tuple[str, ...]
) -> str | None:
    for stored, replayed in zip(ours, theirs, strict=False):
        if stored != replayed:
            where = ", ".join(f"{k}={stored[k]}" for k in key)
            changed = sorted(c for c in stored if stored[c] != replayed.get(c))
            return f"row {where}: {', '.join(changed)} differ from the replay"
    if len(ours) != len(theirs):
        return f"{len(ours)} rows stored, {len(theirs)} in the replay"
    return None


def _replay(
    runner: ProjectionRunner, until: int, groups: Sequence[str] | None
) -> tuple[int, str] | None:
    """Apply the log to `until`; (position, error) of the first event that cannot be applied."""
    try:
        runner.catch_up(until=until, groups=groups)
        return None
    except Exception:  # any event a projection cannot apply is a finding
        pass
    # Batches that failed wrote nothing: go on one event at a time to name the event.
    try:
        runner.catch_up(until=until, groups=groups, batch_size=1)
    except Exception as error:
        reached = runner.position(groups)
        rows = EventLog(runner.ledger).stored_rows(reached + 1, 1, until)
        return (int(rows[0][0]) if rows else reached + 1), f"{type(error).__name__}: {error}"
    return None


def _compare(
    target: Target, scratch: Target, names: Sequence[str], failed: tuple[int, str] | None, at: int
) -> list[dict[str, Any]]:
    """Each of these projections, standing at `at`, against the replay standing there too."""
    results = []
    for projection in (p for p in ALL if p.name in names):
        detail = None
        if failed is not None and failed[0] <= at:
            detail = f"the event at position {failed[0]} cannot be applied: {failed[1]}"
        for table in () if detail else projection.tables:
            difference = _first_difference(
                list(target.iter_rows(table)), list(scratch.iter_rows(table)), table.key
            )
            if difference:
                detail = f"{table.name}: {difference}"
                break
        results.append({"name": projection.name, "ok": detail is None, "detail": detail})
    return results


def verify(ledger: Ledger, target: Target, digest: tuple[int, str] | None = None) -> dict[str, Any]:
    """The hash chain over the whole log, every projection against a replay of the events up
    to the position it has applied, and the replay on to the head (every event must apply)."""
    stored = ProjectionRunner(ledger, target)
    positions = stored.group_positions()
    chain = verify_chain(ledger, target, digest)
    scratch = scratch_target()
    try:
        replay = ProjectionRunner(ledger, scratch)
        failed: tuple[int, str] | None = None
        results: list[dict[str, Any]] = []
        for group, at in sorted(positions.items(), key=lambda item: item[1]):
            for _ in range(COMPARE_ATTEMPTS):
                failed = failed or _replay(replay, at, [group])
                compared = _compare(target, scratch, stored.groups[group], failed, at)
                # A live runner may have applied a batch while the tables were read, one
                # after the other: their rows were then of two positions. Compare again at
                # the new one (the replay goes on from where it stands).
                moved = stored.group_positions()[group]
                if moved == at:
                    break
                at = moved
            positions[group] = at
            results += compared
        failed = failed or _replay(replay, replay.head(), None)
    finally:
        scratch.close()
    order = {p.name: i for i, p in enumerate(ALL)}
    results.sort(key=lambda r: order[r["name"]])
    broken = [p for p in (chain.first_broken, failed[0] if failed else None) if p is not None]
    return {
        "ok": not broken and chain.digest_ok is not False and all(r["ok"] for r in results),
        "checked_events": chain.checked_events,
        "position": min(positions.values(), default=0),
        "chain_ok": chain.first_broken is None,
        "first_broken_position": min(broken, default=None),
        "digest_ok": chain.digest_ok,
        "replay_error": None if failed is None else {"position": failed[0], "error": failed[1]},
        "projections": results,
    }


def replay_until(ledger: Ledger, until: datetime, out: Path) -> dict[str, int]:
    """Every projection table as it stood at `until`, one CSV file (with header) per table."""
    out.mkdir(parents=True, exist_ok=True)
    scratch = scratch_target()
    try:
        runner = replay_into(ledger, scratch, recorded_until=until)
        counts = {}
        for table in runner.tables.values():
            with (out / f"{table.name}.csv").open("w", newline="") as handle:
                counts[table.name] = scratch.dump_csv(table, handle)
        return counts
    finally:
        scratch.close()
