"""Auditor tools: verify the hash chain and every projection against a fresh replay of the
events, and write the projections as they stood at an instant (as CSV)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from ledger.application import Ledger
from projections.definitions import ALL, GENESIS_HASH, chain_hash
from projections.runner import ProjectionRunner, replay_into
from projections.store import Target, scratch_target

PAGE = 5000


def verify_chain(ledger: Ledger, target: Target, until: int) -> tuple[int, int | None]:
    """Recompute the chain from the stored events; (events checked, first broken position)."""
    stored = {
        int(r["position"]): r["hash"]
        for r in target.query(
            "SELECT position, hash FROM event_hashes WHERE position <= ? ORDER BY position", [until]
        )
    }
    previous, checked, start = GENESIS_HASH, 0, 1
    seen: set[int] = set()
    while start <= until:
        notifications = ledger.recorder.select_notifications(start=start, limit=PAGE, stop=until)
        if not notifications:
            break
        for n in notifications:
            previous = chain_hash(previous, n.topic, n.state)
            checked += 1
            seen.add(n.id)
            if stored.get(n.id) != previous:
                return checked, n.id
        start = notifications[-1].id + 1
    missing = sorted(set(stored) - seen)
    return checked, (missing[0] if missing else None)


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


def verify(ledger: Ledger, target: Target) -> dict[str, Any]:
    """Chain and projections against the events, up to the position the projections applied."""
    runner = ProjectionRunner(ledger, target)
    position = runner.position()
    checked, broken = verify_chain(ledger, target, position)
    scratch = scratch_target()
    try:
        ProjectionRunner(ledger, scratch).catch_up(until=position)
        results = []
        for projection in ALL:
            detail = None
            for table in projection.tables:
                difference = _first_difference(
                    list(target.iter_rows(table)), list(scratch.iter_rows(table)), table.key
                )
                if difference:
                    detail = f"{table.name}: {difference}"
                    break
            results.append({"name": projection.name, "ok": detail is None, "detail": detail})
    finally:
        scratch.close()
    chain_ok = broken is None
    return {
        "ok": chain_ok and all(r["ok"] for r in results),
        "checked_events": checked,
        "position": position,
        "chain_ok": chain_ok,
        "first_broken_position": broken,
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
