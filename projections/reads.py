"""Queries over the projection tables: what the read API, reports and auditors are answered from.

Money is summed here in Python from the per-event rounded amounts (SQLite has no exact
decimal arithmetic); points are summed in SQL.
"""

from __future__ import annotations

import base64
import json
import re
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.persistence import Notification

from ledger.application import Ledger
from ledger.ids import member_id as member_uuid
from ledger.member import QUALIFYING_WINDOW
from ledger.money import minor_digits, round_money
from projections.model import ZERO, event_data, event_kind
from projections.store import Target, scratch_target

MAX_LIMIT = 1000
# Beyond every log position (a 64-bit id on both backends).
LAST_POSITION = 2**63 - 1


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
    rules = ledger.program()
    spend = qualifying_spend(target, member_id, at)
    above = rules.ladder.next_above(state["tier"])
    to_next = max(above.threshold - spend, ZERO) if above else None
    return {
        **state,
        "qualifying_spend": round_money(spend, rules.currency),
        "next_tier": above.code if above else None,
        "spend_to_next_tier": None if to_next is None else round_money(to_next, rules.currency),
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
DAY = timedelta(days=1)


class Period(NamedTuple):
    """`[start, end)` as the whole UTC days inside it, `[first_day, last_day)` (empty when
    there is none), and the instants outside those days, `edges`: what the day buckets hold
    and what must be summed event by event."""

    first_day: date
    last_day: date
    edges: tuple[tuple[datetime, datetime], ...]

    @classmethod
    def of(cls, start: datetime, end: datetime) -> Period:
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        first = datetime.combine(start.date(), time(0), UTC)
        if first < start:
            first += DAY
        last = datetime.combine(end.date(), time(0), UTC)
        if first >= last:
            return cls(first.date(), first.date(), ((start, end),) if start < end else ())
        edges = tuple((a, b) for a, b in ((start, first), (last, end)) if a < b)
        return cls(first.date(), last.date(), edges)

    def edge_sql(self) -> tuple[str, list[Any]]:
        """A condition on `recorded_at` that holds inside the edges (never without edges)."""
        if not self.edges:
            return "1 = 0", []
        sql = " OR ".join("(recorded_at >= ? AND recorded_at < ?)" for _ in self.edges)
        return f"({sql})", [moment for edge in self.edges for moment in edge]


def _from_minor_units(units: Any, currency: str) -> Decimal:
    return Decimal(int(units)).scaleb(-minor_digits(currency))


def settlement(target: Target, start: datetime, end: datetime, currency: str) -> dict[str, Any]:
    """Per partner over recorded time [start, end) (any instants): net of reversals and
    cancellations. Whole UTC days come from the day buckets, the rest event by event."""
    period = Period.of(start, end)
    partners: dict[str, dict[str, Any]] = {}

    def entry(partner_id: str, partner_currency: str) -> dict[str, Any]:
        return partners.setdefault(
            partner_id,
            {
                "partner_id": partner_id,
                "currency": partner_currency,
                "points_issued": 0,
                "amount_funded": ZERO,
                "points_redeemed": 0,
                "amount_reimbursed": ZERO,
            },
        )

    days = target.query(
        "SELECT * FROM partner_positions WHERE day >= ? AND day < ? ORDER BY partner_id, day",
        [period.first_day, period.last_day],
    )
    for row in days:
        found = entry(row["partner_id"], row["currency"])
        found["points_issued"] += row["points_issued"] - row["points_reversed"]
        found["amount_funded"] += row["amount_funded"] - row["amount_reversed"]
        found["points_redeemed"] += row["points_redeemed"] - row["points_restored"]
        found["amount_reimbursed"] += row["amount_reimbursed"] - row["amount_restored"]
    condition, params = period.edge_sql()
    moves = target.query(
        "SELECT partner_id, currency, SUM(points_issued) AS points_issued, "
        "SUM(funded_minor) AS funded_minor, SUM(points_redeemed) AS points_redeemed, "
        "SUM(reimbursed_minor) AS reimbursed_minor FROM partner_movements "
        f"WHERE {condition} GROUP BY partner_id, currency",
        params,
    )
    for row in moves:
        found = entry(row["partner_id"], row["currency"])
        found["points_issued"] += int(row["points_issued"])
        found["amount_funded"] += _from_minor_units(row["funded_minor"], row["currency"])
        found["points_redeemed"] += int(row["points_redeemed"])
        found["amount_reimbursed"] += _from_minor_units(row["reimbursed_minor"], row["currency"])
    listed = []
    totals: dict[str, Any] = {
        "points_issued": 0,
        "amount_funded": ZERO,
        "points_redeemed": 0,
        "amount_reimbursed": ZERO,
        "net": ZERO,
    }
    for partner_id in sorted(partners):
        found = partners[partner_id]
        found["net"] = found["amount_funded"] - found["amount_reimbursed"]
        found = {
            name: round_money(value, found["currency"]) if isinstance(value, Decimal) else value
            for name, value in found.items()
            if name != "currency"
        }
        for name in SETTLEMENT_FIELDS:
            totals[name] += found[name]
        listed.append(found)
    totals = {
        name: round_money(value, currency) if isinstance(value, Decimal) else value
        for name, value in totals.items()
    }
    return {"from": start, "to": end, "currency": currency, "partners": listed, "totals": totals}


def breakage(target: Target, start: datetime, end: datetime) -> dict[str, Any]:
    """Points expired and forfeited per issuing source over recorded time [start, end)."""
    period = Period.of(start, end)
    condition, params = period.edge_sql()
    rows = target.query(
        "SELECT source, SUM(points_expired) AS points_expired, "
        "SUM(points_forfeited) AS points_forfeited FROM ("
        "SELECT source, points_expired, points_forfeited FROM breakage_daily "
        "WHERE day >= ? AND day < ? UNION ALL "
        "SELECT source, points_expired, points_forfeited FROM breakage_movements "
        f"WHERE {condition}) AS periods GROUP BY source ORDER BY source",
        [period.first_day, period.last_day, *params],
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


def liability_report(ledger: Ledger, target: Target, as_of: datetime | None) -> dict[str, Any]:
    """The liability report: now from the projection, or as it stood at `as_of` (replayed)."""
    if as_of is not None:
        return liability_as_of(ledger, as_of)
    rules = ledger.program()
    return {"as_of": ledger.clock.now(), **liability(target, rules.point_value, rules.currency)}


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
        recorded_at, data = _decoded(ledger, n)
        listed.append(
            {
                "position": n.id,
                "event_id": event_id(n.originator_id, n.originator_version),
                "stream_id": str(n.originator_id),
                "stream_version": n.originator_version,
                "type": event_kind(n.topic),
                "recorded_at": recorded_at,
                "data": data,
                "hash": hashes.get(n.id),
            }
        )
    return listed


def _decoded(ledger: Ledger, notification: Any) -> tuple[Any, dict[str, Any] | None]:
    """The event's (recorded_at, data), or (None, None) for a stored row that does not decode
    into one (damaged or tampered with): the auditor still sees it listed, as stored."""
    try:
        event = ledger.mapper.to_domain_event(notification)
        recorded_at = event.timestamp  # type: ignore[attr-defined]
        data = event_data(vars(event))
    except Exception:  # whatever the bytes make the decoder raise
        return None, None
    if not isinstance(recorded_at, datetime):
        return None, None
    return recorded_at, data


def events(ledger: Ledger, target: Target, after: int, limit: int) -> dict[str, Any]:
    from projections.eventlog import EventLog, stored_bytes

    # The rows as stored (not the recorder's Notifications, which fail on a null state).
    notifications = [
        Notification(
            id=int(position),
            originator_id=stream if isinstance(stream, UUID) else UUID(str(stream)),
            originator_version=int(version),
            topic=topic,
            state=stored_bytes(state),
        )
        for position, stream, version, topic, state in EventLog(ledger).stored_rows(
            after + 1, limit + 1, LAST_POSITION
        )
    ]
    page = notifications[:limit]
    next_cursor = encode_cursor({"after": page[-1].id}) if len(notifications) > limit else None
    return {"events": _listing(ledger, target, page), "next_cursor": next_cursor}


def member_events(
    ledger: Ledger,
    target: Target,
    member_id: str,
    limit: int = 100,
    cursor: str | None = None,
) -> dict[str, Any] | None:
    """A member's events in stream order, a page at a time; None for an unknown member.
    Raises ValueError for a cursor of another listing."""
    from projections.eventlog import EventLog

    after = 0
    if cursor is not None:
        state = decode_cursor(cursor)
        if state.get("member_events") != member_id:
            raise ValueError("the cursor belongs to another listing")
        after = int(state["after_version"])
    notifications = EventLog(ledger).stream_notifications(
        member_uuid(member_id), after_version=after, limit=limit + 1
    )
    if not notifications and cursor is None:
        return None
    page = notifications[:limit]
    next_cursor = None
    if len(notifications) > limit:
        last = page[-1].originator_version
        next_cursor = encode_cursor({"member_events": member_id, "after_version": last})
    return {"events": _listing(ledger, target, page), "next_cursor": next_cursor}
