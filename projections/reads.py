"""Queries over the projection tables: what the read API, reports and auditors are answered from.

Money is summed here in Python from the per-event rounded amounts (SQLite has no exact
decimal arithmetic); points are summed in SQL.
"""

from __future__ import annotations

import base64
import json
import re
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from ledger.application import Ledger
from ledger.ids import member_id as member_uuid
from ledger.member import QUALIFYING_WINDOW
from ledger.money import round_money
from projections.model import ZERO, event_data
from projections.store import Target, scratch_target

MAX_LIMIT = 1000


def member_key(member_id: str) -> str:
    return member_uuid(member_id).hex


def encode_cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, default=str).encode()).decode()


def decode_cursor(cursor: str) -> dict[str, Any]:
    """Raises ValueError for a cursor this service did not issue."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except Exception as error:
        raise ValueError("not a cursor from this listing") from error
    if not isinstance(data, dict):
        raise ValueError("not a cursor from this listing")
    return data


# ------------------------------------------------------------------- members


def member(target: Target, member_id: str) -> dict[str, Any] | None:
    rows = target.query(
        "SELECT member_id, status, enrolled_at, tier, position FROM member_balances "
        "WHERE member_key = ?",
        [member_key(member_id)],
    )
    return rows[0] if rows else None


def balance(target: Target, member_id: str) -> dict[str, Any] | None:
    rows = target.query(
        "SELECT member_id, available, pending, lifetime_earned, lifetime_adjusted, "
        "lifetime_redeemed, lifetime_expired, lifetime_reversed, tier, position, updated_at "
        "FROM member_balances WHERE member_key = ?",
        [member_key(member_id)],
    )
    return rows[0] if rows else None


def statement(
    target: Target,
    member_id: str,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Lines in position order; `start`/`end` bound the recorded time (inclusive)."""
    after = 0
    if cursor is not None:
        state = decode_cursor(cursor)
        if state.get("member") != member_id:
            raise ValueError("the cursor belongs to another listing")
        after = int(state["after"])
        start = datetime.fromisoformat(state["from"]) if state.get("from") else None
        end = datetime.fromisoformat(state["to"]) if state.get("to") else None
    sql = (
        "SELECT position, recorded_at, occurred_at, type, partner_id, transaction_id, points, "
        "available_after, pending_after, detail FROM member_statement "
        "WHERE member_key = ? AND position > ?"
    )
    params: list[Any] = [member_key(member_id), after]
    if start is not None:
        sql += " AND recorded_at >= ?"
        params.append(start)
    if end is not None:
        sql += " AND recorded_at <= ?"
        params.append(end)
    rows = target.query(sql + " ORDER BY position LIMIT ?", [*params, limit + 1])
    lines = [{**r, "detail": _with_times(json.loads(r["detail"]))} for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(
            {
                "member": member_id,
                "after": lines[-1]["position"],
                "from": start.isoformat() if start else None,
                "to": end.isoformat() if end else None,
            }
        )
    return {"lines": lines, "next_cursor": next_cursor}


_STORED_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?[+-]\d\d:\d\d")


def _with_times(value: Any) -> Any:
    """A statement detail as stored (JSON, times in ISO form) with its times as datetimes again,
    so the API writes them like every other time it answers with."""
    if isinstance(value, dict):
        return {k: _with_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_times(v) for v in value]
    if isinstance(value, str) and _STORED_TIME.fullmatch(value):
        return datetime.fromisoformat(value)
    return value


def qualifying_spend(target: Target, member_id: str, at: datetime) -> Decimal:
    rows = target.query(
        "SELECT amount, refunded FROM qualifying_spend WHERE member_key = ? "
        "AND occurred_at > ? AND occurred_at <= ?",
        [member_key(member_id), at - QUALIFYING_WINDOW, at],
    )
    return sum((r["amount"] - r["refunded"] for r in rows), ZERO)


def tier(target: Target, ledger: Ledger, member_id: str, at: datetime) -> dict[str, Any] | None:
    rows = target.query(
        "SELECT tier, since, guaranteed_until FROM member_tiers WHERE member_key = ?",
        [member_key(member_id)],
    )
    if not rows:
        return None
    state = rows[0]
    ladder = ledger.program().ladder
    spend = qualifying_spend(target, member_id, at)
    above = ladder.next_above(state["tier"])
    return {
        **state,
        "qualifying_spend": spend,
        "next_tier": above.code if above else None,
        "spend_to_next_tier": max(above.threshold - spend, ZERO) if above else None,
    }


def expiring(
    target: Target, member_id: str, at: datetime, within_days: int
) -> list[dict[str, Any]]:
    rows = target.query(
        "SELECT expires_at, SUM(remaining) AS points FROM member_lots "
        "WHERE member_key = ? AND remaining > 0 AND expires_at > ? AND expires_at <= ? "
        "GROUP BY expires_at ORDER BY expires_at",
        [member_key(member_id), at, at + timedelta(days=within_days)],
    )
    return [{"expires_at": r["expires_at"], "points": int(r["points"])} for r in rows]


def tier_report(target: Target) -> dict[str, Any]:
    rows = target.query(
        "SELECT t.tier AS tier, COUNT(*) AS members FROM member_tiers t "
        "JOIN member_balances b ON b.member_key = t.member_key WHERE b.status <> 'closed' "
        "GROUP BY t.tier ORDER BY t.tier"
    )
    return {"tiers": [{"code": r["tier"], "members": int(r["members"])} for r in rows]}


# ------------------------------------------------------------------- finance

SETTLEMENT_FIELDS = (
    "points_issued",
    "amount_funded",
    "points_redeemed",
    "amount_reimbursed",
    "net",
)


def settlement(target: Target, start: date, end: date, currency: str) -> dict[str, Any]:
    """Per partner over recorded days [start, end): net of reversals and cancellations."""
    rows = target.query(
        "SELECT * FROM partner_positions WHERE day >= ? AND day < ? ORDER BY partner_id, day",
        [start, end],
    )
    partners: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = partners.setdefault(
            row["partner_id"],
            {
                "partner_id": row["partner_id"],
                "points_issued": 0,
                "amount_funded": ZERO,
                "points_redeemed": 0,
                "amount_reimbursed": ZERO,
            },
        )
        entry["points_issued"] += row["points_issued"] - row["points_reversed"]
        entry["amount_funded"] += row["amount_funded"] - row["amount_reversed"]
        entry["points_redeemed"] += row["points_redeemed"] - row["points_restored"]
        entry["amount_reimbursed"] += row["amount_reimbursed"] - row["amount_restored"]
    listed = []
    totals: dict[str, Any] = {
        "points_issued": 0,
        "amount_funded": ZERO,
        "points_redeemed": 0,
        "amount_reimbursed": ZERO,
        "net": ZERO,
    }
    for entry in partners.values():
        entry["net"] = entry["amount_funded"] - entry["amount_reimbursed"]
        for name in SETTLEMENT_FIELDS:
            totals[name] += entry[name]
        listed.append(entry)
    return {"from": start, "to": end, "currency": currency, "partners": listed, "totals": totals}


def breakage(target: Target, start: date, end: date) -> dict[str, Any]:
    rows = target.query(
        "SELECT source, SUM(points_expired) AS points_expired, "
        "SUM(points_forfeited) AS points_forfeited FROM breakage_daily "
        "WHERE day >= ? AND day < ? GROUP BY source ORDER BY source",
        [start, end],
    )
    sources = [
        {
            "source": r["source"],
            "points_expired": int(r["points_expired"]),
            "points_forfeited": int(r["points_forfeited"]),
            "points": int(r["points_expired"]) + int(r["points_forfeited"]),
        }
        for r in rows
    ]
    return {
        "from": start,
        "to": end,
        "sources": sources,
        "total_points": sum(s["points"] for s in sources),
    }


def trial_balance(target: Target, as_of: datetime | None = None) -> dict[str, Any]:
    sql = "SELECT account, SUM(debit) AS debit, SUM(credit) AS credit FROM postings"
    params: list[Any] = []
    if as_of is not None:
        sql += " WHERE recorded_at <= ?"
        params.append(as_of)
    rows = target.query(sql + " GROUP BY account ORDER BY account", params)
    accounts = [
        {"account": r["account"], "debit": int(r["debit"]), "credit": int(r["credit"])}
        for r in rows
    ]
    total = sum(a["debit"] - a["credit"] for a in accounts)
    return {"as_of": as_of, "accounts": accounts, "total": total}


def liability(target: Target, point_value: Decimal, currency: str) -> dict[str, Any]:
    rows = target.query(
        "SELECT source, is_pending, SUM(remaining) AS points FROM member_lots "
        "WHERE remaining > 0 GROUP BY source, is_pending ORDER BY source"
    )
    by_source: dict[str, int] = defaultdict(int)
    pending = 0
    for row in rows:
        by_source[row["source"]] += int(row["points"])
        pending += int(row["points"]) if row["is_pending"] else 0
    debt = target.query("SELECT SUM(debt) AS debt FROM member_balances")[0]["debt"] or 0
    outstanding = sum(by_source.values())
    return {
        "outstanding_points": outstanding,
        "pending_points": pending,
        "debt_points": int(debt),
        "value": round_money(outstanding * point_value, currency),
        "by_source": [{"source": s, "points": p} for s, p in sorted(by_source.items())],
    }


def liability_as_of(ledger: Ledger, as_of: datetime) -> dict[str, Any]:
    """Liability as it stood at `as_of`: the lots replayed from the events recorded by then."""
    from projections.runner import replay_into

    scratch = scratch_target()
    try:
        replay_into(ledger, scratch, recorded_until=as_of)
        rules = ledger.program()
        return {"as_of": as_of, **liability(scratch, rules.point_value, rules.currency)}
    finally:
        scratch.close()


# --------------------------------------------------------------------- audit


def digest(target: Target) -> dict[str, Any]:
    rows = target.query("SELECT position, hash FROM chain_head WHERE id = 1")
    return rows[0] if rows else {"position": 0, "hash": None}


def event_id(stream_id: Any, version: int) -> str:
    return str(uuid5(NAMESPACE_URL, f"loyalty-ledger:{stream_id}:{version}"))


def _hashes(target: Target, positions: list[int]) -> dict[int, str]:
    if not positions:
        return {}
    rows = target.query(
        "SELECT position, hash FROM event_hashes WHERE position >= ? AND position <= ?",
        [min(positions), max(positions)],
    )
    return {int(r["position"]): r["hash"] for r in rows}


def _listing(ledger: Ledger, target: Target, notifications: Any) -> list[dict[str, Any]]:
    hashes = _hashes(target, [n.id for n in notifications])
    listed = []
    for n in notifications:
        event = ledger.mapper.to_domain_event(n)
        listed.append(
            {
                "position": n.id,
                "event_id": event_id(n.originator_id, n.originator_version),
                "stream_id": str(n.originator_id),
                "stream_version": n.originator_version,
                "type": n.topic.rpartition(".")[2],
                "recorded_at": event.timestamp,  # type: ignore[attr-defined]
                "data": event_data(vars(event)),
                "hash": hashes.get(n.id),
            }
        )
    return listed


def events(ledger: Ledger, target: Target, after: int, limit: int) -> dict[str, Any]:
    notifications = ledger.recorder.select_notifications(start=after + 1, limit=limit + 1)
    page = list(notifications[:limit])
    next_cursor = encode_cursor({"after": page[-1].id}) if len(notifications) > limit else None
    return {"events": _listing(ledger, target, page), "next_cursor": next_cursor}


def member_events(ledger: Ledger, target: Target, member_id: str) -> dict[str, Any] | None:
    from projections.eventlog import EventLog

    notifications = EventLog(ledger).stream_notifications(member_uuid(member_id))
    if not notifications:
        return None
    return {"events": _listing(ledger, target, notifications)}
