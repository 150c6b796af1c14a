"""Request and response examples of /openapi.json, by operationId: one story a partner's
developer can follow, consistent with the ledger's rules. tests/api/test_openapi_docs.py
plays it against the service (a clock at the times below) and compares every answer.

The story: program in EUR (default tiers, 100 points at enrollment), partner shop-1 earning 1
point per EUR; member m-1001 enrolls on 2 November 2026 and buys for 42.50 EUR on 22
November (42 points), redeems 30 points, returns 10.00 EUR of the purchase (9 points), cancels
the redemption, gets 50 goodwill points.

Each entry: "request" (the JSON body), "path" and "query" (the parameters' values), and the
JSON answer by status ("201", "200").
"""

from __future__ import annotations

from typing import Any

PROGRAM = {
    "currency": "EUR",
    "points_lifetime_months": 24,
    "max_backdate_days": 90,
    "point_value": "0.01",
    "tiers": [
        {"code": "basic", "name": "Basic", "threshold": "0", "multiplier": "1.0"},
        {"code": "silver", "name": "Silver", "threshold": "3600", "multiplier": "1.25"},
        {"code": "gold", "name": "Gold", "threshold": "6000", "multiplier": "1.5"},
        {"code": "diamond", "name": "Diamond", "threshold": "12000", "multiplier": "2.0"},
    ],
    "enrollment_bonus_points": 100,
}
PARTNER = {
    "partner_id": "shop-1",
    "name": "Corner Coffee",
    "currency": "EUR",
    "earn_rate": "1",
    "funding_rate": "0.01",
    "reimbursement_rate": "0.008",
    "pending_days": 0,
}
MEMBER = {"member_id": "m-1001"}
ACCRUAL = {
    "transaction_id": "pos-1001",
    "member_id": "m-1001",
    "amount": "42.50",
    "currency": "EUR",
    "occurred_at": "2026-11-22T13:40:00Z",
}
REDEMPTION = {
    "transaction_id": "pos-1002",
    "member_id": "m-1001",
    "points": 30,
    "occurred_at": "2026-11-22T13:50:00Z",
    "description": "Cappuccino",
}

EXAMPLES: dict[str, dict[str, Any]] = {
    "replaceProgram": {"request": PROGRAM},
    "getProgram": {},
    "registerPartner": {"request": PARTNER},
    "getPartner": {"path": {"partner_id": "shop-1"}},
    "issueKey": {"request": {"role": "partner", "partner_id": "shop-1", "name": "till 7"}},
    "enrollMember": {"request": {**MEMBER, "birth_date": "1990-04-12"}},
    "createAccrual": {"request": ACCRUAL},
    "createRedemption": {"request": REDEMPTION},
    "getTransaction": {"path": {"transaction_id": "pos-1001"}},
    "reverseAccrual": {
        "path": {"transaction_id": "pos-1001"},
        "request": {
            "transaction_id": "pos-1003",
            "refund_amount": "10.00",
            "occurred_at": "2026-11-23T10:00:00Z",
            "reason": "one item returned",
        },
    },
    "reverseRedemption": {
        "path": {"transaction_id": "pos-1002"},
        "request": {
            "transaction_id": "pos-1004",
            "occurred_at": "2026-11-23T10:05:00Z",
            "reason": "order cancelled",
        },
    },
    "createAdjustment": {
        "path": {"member_id": "m-1001"},
        "request": {
            "adjustment_id": "adj-2026-0001",
            "points": 50,
            "reason": "goodwill: delayed delivery",
        },
    },
    "submitBatch": {
        "request": {
            "operations": [
                {"op": "enroll", "member_id": "m-1002"},
                {
                    "op": "accrue",
                    "transaction_id": "pos-1005",
                    "member_id": "m-1002",
                    "amount": "19.90",
                    "currency": "EUR",
                    "occurred_at": "2026-11-23T11:00:00Z",
                },
                {
                    "op": "redeem",
                    "transaction_id": "pos-1006",
                    "member_id": "m-1002",
                    "points": 500,
                    "occurred_at": "2026-11-23T11:01:00Z",
                },
            ]
        }
    },
    "getMember": {"path": {"member_id": "m-1001"}},
    "getMemberBalance": {"path": {"member_id": "m-1001"}},
    "getMemberStatement": {"path": {"member_id": "m-1001"}, "query": {"limit": 3}},
    "getMemberTier": {"path": {"member_id": "m-1001"}},
    "getMemberExpiringPoints": {"path": {"member_id": "m-1001"}, "query": {"within_days": 800}},
    "listEvents": {"query": {"after": 0, "limit": 2}},
    "listMemberEvents": {"path": {"member_id": "m-1002"}},
    "getAuditDigest": {},
    "verifyAudit": {},
    "getSettlementReport": {"query": {"from": "2026-11-01", "to": "2026-12-01"}},
    "getLiabilityReport": {},
    "getBreakageReport": {"query": {"from": "2026-11-01", "to": "2026-12-01"}},
    "getTrialBalance": {},
    "getTierReport": {},
    "suspendMember": {"path": {"member_id": "m-1002"}},
    "reactivateMember": {"path": {"member_id": "m-1002"}},
    "closeMember": {"path": {"member_id": "m-1002"}},
    "suspendPartner": {"path": {"partner_id": "shop-1"}},
    "runSweep": {"request": {"as_of": "2026-11-24T00:00:00Z"}},
    "revokeKey": {"path": {"key_id": "key_3f9a1c2e"}},
    "getHealth": {},
    "getReadiness": {},
}
