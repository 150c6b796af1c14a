"""The story of api/examples.py played against a real app: each documented request sent at
its moment, each answer kept by operationId."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from api.examples import EXAMPLES
from ledger.clock import ManualClock
from tests.api.write_support import ADMIN, WriteClient

# (operationId, the clock's time when it is sent, or None: unchanged). Partner operations
# are sent with the partner key the story issues; the rest with an admin key.
STORY: list[tuple[str, str | None]] = [
    ("replaceProgram", "2026-11-02T09:00:00Z"),
    ("getProgram", None),
    ("registerPartner", None),
    ("getPartner", None),
    ("issueKey", None),
    ("enrollMember", "2026-11-02T09:05:00Z"),
    ("createAccrual", "2026-11-22T13:45:01.123456Z"),
    ("createRedemption", "2026-11-22T13:51:00Z"),
    ("getTransaction", None),
    ("reverseAccrual", "2026-11-23T10:00:30Z"),
    ("reverseRedemption", "2026-11-23T10:05:30Z"),
    ("createAdjustment", "2026-11-23T10:30:00Z"),
    ("getAdjustment", None),
    ("submitBatch", "2026-11-23T11:02:00Z"),
    ("getMember", None),
    ("getMemberBalance", None),
    ("getMemberStatement", None),
    ("getMemberTier", None),
    ("getMemberExpiringPoints", None),
    ("listMemberEvents", None),
    ("runSweep", "2026-11-24T00:00:05Z"),
    ("suspendMember", "2026-11-24T08:00:00Z"),
    ("reactivateMember", "2026-11-24T08:10:00Z"),
    ("closeMember", "2026-11-24T08:20:00Z"),
    ("getSettlementReport", "2026-12-01T06:00:00Z"),
    ("getLiabilityReport", None),
    ("getBreakageReport", None),
    ("getTrialBalance", None),
    ("getTierReport", None),
    ("listEvents", None),
    ("getAuditDigest", None),
    ("verifyAudit", None),
    ("suspendPartner", "2026-12-01T07:00:00Z"),
    ("reactivatePartner", "2026-12-01T07:05:00Z"),
    ("changePartner", "2026-12-01T07:10:00Z"),
    ("listPartners", None),
    ("listKeys", None),
    ("getKey", None),
    ("revokeKey", None),
    ("getHealth", None),
]
AS_PARTNER = {
    "enrollMember",
    "createAccrual",
    "createRedemption",
    "getTransaction",
    "reverseAccrual",
    "reverseRedemption",
    "submitBatch",
}


def operations(spec: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId → (method, path, operation)."""
    return {
        operation["operationId"]: (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }


def play(api: WriteClient, clock: ManualClock, spec: dict[str, Any]) -> dict[str, Any]:
    """Every step's (status, body), by operationId."""
    by_id = operations(spec)
    answers: dict[str, Any] = {}
    partner_key = ADMIN
    position = 0
    for operation_id, moment in STORY:
        if moment is not None:
            clock.set(datetime.fromisoformat(moment))
        method, path, operation = by_id[operation_id]
        example = EXAMPLES[operation_id]
        values = dict(example.get("path", {}))
        if operation_id in ("getKey", "revokeKey"):
            values["key_id"] = answers["issueKey"][1]["key_id"]
        for name, value in values.items():
            path = path.replace("{" + name + "}", value)
        query = dict(example.get("query", {}))
        names = {p["name"] for p in operation.get("parameters", [])}
        if "min_position" in names and position:
            query["min_position"] = position  # read the writes before it
        url = path + ("?" + urlencode(query) if query else "")
        token = partner_key if operation_id in AS_PARTNER else ADMIN
        response = api.call(method.upper(), url, example.get("request"), token)
        body: Any = response.get_json(silent=True)
        answers[operation_id] = (response.status_code, body)
        if operation_id == "issueKey":
            partner_key = body["key"]
        if isinstance(body, dict) and isinstance(body.get("position"), int):
            position = max(position, body["position"])
    return answers
