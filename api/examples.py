"""Request and response examples of /openapi.json, by operationId: one story a partner's
developer can follow, consistent with the ledger's rules. tests/api/test_openapi_docs.py
plays it against the service (a clock at the times below) and compares every answer.

The story: program in EUR (default tiers, 100 points at enrollment), partner shop-1 earning 1
point per EUR; member m-1001 enrolls on 2 November 2026 and buys for 42.50 EUR on 22
November (42 points), redeems 30 points, returns 10.00 EUR of the purchase (9 points), cancels
the redemption, gets 50 goodwill points. A batch enrolls m-1002, accrues 19.90 EUR (19 points)
and fails to redeem 500; m-1002 is suspended, reactivated and closed (its 119 points are
forfeited: breakage); the reports run on 1 December.

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
        {"code": "basic", "name": "Basic", "threshold": "0.00", "multiplier": "1.0"},
        {"code": "silver", "name": "Silver", "threshold": "3600.00", "multiplier": "1.25"},
        {"code": "gold", "name": "Gold", "threshold": "6000.00", "multiplier": "1.5"},
        {"code": "diamond", "name": "Diamond", "threshold": "12000.00", "multiplier": "2.0"},
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
    "getAdjustment": {"path": {"member_id": "m-1001", "adjustment_id": "adj-2026-0001"}},
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
    "getSettlementReport": {
        "query": {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}
    },
    "getLiabilityReport": {},
    "getBreakageReport": {"query": {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}},
    "getTrialBalance": {},
    "getTierReport": {},
    "suspendMember": {"path": {"member_id": "m-1002"}, "request": {}},
    "reactivateMember": {"path": {"member_id": "m-1002"}, "request": {}},
    "closeMember": {
        "path": {"member_id": "m-1002"},
        "request": {"reason": "The member asked to leave the programme."},
    },
    "suspendPartner": {"path": {"partner_id": "shop-1"}, "request": {}},
    "reactivatePartner": {"path": {"partner_id": "shop-1"}, "request": {}},
    "changePartner": {
        "path": {"partner_id": "shop-1"},
        "request": {"name": "Corner Coffee & Tea", "funding_rate": "0.012"},
    },
    "listPartners": {"query": {"limit": 10}},
    "listKeys": {"query": {"limit": 10}},
    "getKey": {"path": {"key_id": "k7d41e9a03c2b58f6e1a"}},
    "runSweep": {"request": {"as_of": "2026-11-24T00:00:00Z"}},
    "revokeKey": {"path": {"key_id": "k7d41e9a03c2b58f6e1a"}, "request": {}},
    "getHealth": {},
    "getReadiness": {},
    "getMetrics": {},
}


PARTNER_CHANGED = {
    "currency": "EUR",
    "earn_rate": "1",
    "funding_rate": "0.012",
    "name": "Corner Coffee & Tea",
    "partner_id": "shop-1",
    "pending_days": 0,
    "reimbursement_rate": "0.008",
    "status": "active",
}
KEY_VIEW = {
    "created_at": "2026-11-02T09:00:00.000000Z",
    "key_id": "k7d41e9a03c2b58f6e1a",
    "name": "till 7",
    "partner_id": "shop-1",
    "revoked": False,
    "role": "partner",
}


# What the service answered, by operationId and status (a write's replay, 200, answers its
# 201 body again). Ids are the ledger's own (uuid5 of the partner and transaction id), so the
# same story always gets them; the key, its id and the chain hashes differ each time.
ANSWERS: dict[str, dict[str, Any]] = {
    "replaceProgram": {
        "200": {
            "currency": "EUR",
            "enrollment_bonus_points": 100,
            "max_backdate_days": 90,
            "max_points_per_accrual": 100000,
            "point_value": "0.01",
            "points_lifetime_months": 24,
            "tiers": [
                {"code": "basic", "multiplier": "1.0", "name": "Basic", "threshold": "0.00"},
                {"code": "silver", "multiplier": "1.25", "name": "Silver", "threshold": "3600.00"},
                {"code": "gold", "multiplier": "1.5", "name": "Gold", "threshold": "6000.00"},
                {
                    "code": "diamond",
                    "multiplier": "2.0",
                    "name": "Diamond",
                    "threshold": "12000.00",
                },
            ],
        }
    },
    "getProgram": {
        "200": {
            "currency": "EUR",
            "enrollment_bonus_points": 100,
            "max_backdate_days": 90,
            "max_points_per_accrual": 100000,
            "point_value": "0.01",
            "points_lifetime_months": 24,
            "tiers": [
                {"code": "basic", "multiplier": "1.0", "name": "Basic", "threshold": "0.00"},
                {"code": "silver", "multiplier": "1.25", "name": "Silver", "threshold": "3600.00"},
                {"code": "gold", "multiplier": "1.5", "name": "Gold", "threshold": "6000.00"},
                {
                    "code": "diamond",
                    "multiplier": "2.0",
                    "name": "Diamond",
                    "threshold": "12000.00",
                },
            ],
        }
    },
    "registerPartner": {
        "201": {
            "currency": "EUR",
            "earn_rate": "1",
            "funding_rate": "0.01",
            "name": "Corner Coffee",
            "partner_id": "shop-1",
            "pending_days": 0,
            "reimbursement_rate": "0.008",
            "status": "active",
        }
    },
    "getPartner": {
        "200": {
            "currency": "EUR",
            "earn_rate": "1",
            "funding_rate": "0.01",
            "name": "Corner Coffee",
            "partner_id": "shop-1",
            "pending_days": 0,
            "reimbursement_rate": "0.008",
            "status": "active",
        }
    },
    "issueKey": {
        "201": {
            "key": "llk_Xq3vN8rT2mK7pW4zB9cL1dF6hJ0sG5yA2eU8iO3wQ7t",
            "key_id": "k7d41e9a03c2b58f6e1a",
            "name": "till 7",
            "partner_id": "shop-1",
            "role": "partner",
        }
    },
    "enrollMember": {
        "201": {
            "balance": {"available": 100, "pending": 0, "tier": "basic"},
            "enrolled_at": "2026-11-02T09:05:00.000000Z",
            "member_id": "m-1001",
            "position": 7,
            "status": "active",
            "tier": "basic",
        }
    },
    "createAccrual": {
        "201": {
            "accrual_id": "a820af73-d138-5630-8a14-995cd803bb49",
            "amount": "42.50",
            "available_at": "2026-11-22T13:40:00.000000Z",
            "balance": {"available": 142, "pending": 0, "tier": "basic"},
            "base_points": 42,
            "bonus_points": 0,
            "currency": "EUR",
            "expires_at": "2028-12-01T00:00:00.000000Z",
            "member_id": "m-1001",
            "partner_id": "shop-1",
            "points": 42,
            "position": 9,
            "recorded_at": "2026-11-22T13:45:01.123456Z",
            "status": "available",
            "tier_multiplier": "1.0",
            "transaction_id": "pos-1001",
        }
    },
    "createRedemption": {
        "201": {
            "balance": {"available": 112, "pending": 0, "tier": "basic"},
            "lots": [{"lot_id": "L1", "points": 30}],
            "member_id": "m-1001",
            "partner_id": "shop-1",
            "points": 30,
            "position": 11,
            "recorded_at": "2026-11-22T13:51:00.000000Z",
            "redemption_id": "405475f9-f6e6-54db-98dd-1d9ba71bcc87",
            "reimbursement_amount": "0.24",
            "transaction_id": "pos-1002",
        }
    },
    "getTransaction": {
        "200": {
            "accrual_id": "a820af73-d138-5630-8a14-995cd803bb49",
            "amount": "42.50",
            "available_at": "2026-11-22T13:40:00.000000Z",
            "balance": {"available": 142, "pending": 0, "tier": "basic"},
            "base_points": 42,
            "bonus_points": 0,
            "currency": "EUR",
            "expires_at": "2028-12-01T00:00:00.000000Z",
            "member_id": "m-1001",
            "operation": "accrue",
            "partner_id": "shop-1",
            "points": 42,
            "position": 9,
            "recorded_at": "2026-11-22T13:45:01.123456Z",
            "status": "available",
            "tier_multiplier": "1.0",
            "transaction_id": "pos-1001",
        }
    },
    "reverseAccrual": {
        "201": {
            "accrual_transaction_id": "pos-1001",
            "balance": {"available": 103, "pending": 0, "tier": "basic"},
            "debt_created": 0,
            "member_id": "m-1001",
            "partner_id": "shop-1",
            "points_reversed": 9,
            "position": 13,
            "recorded_at": "2026-11-23T10:00:30.000000Z",
            "refund_amount": "10.00",
            "reversal_id": "ea99152f-a249-5b97-ade4-b3ea9ca528ed",
            "transaction_id": "pos-1003",
        }
    },
    "reverseRedemption": {
        "201": {
            "balance": {"available": 133, "pending": 0, "tier": "basic"},
            "member_id": "m-1001",
            "partner_id": "shop-1",
            "points_restored": 30,
            "position": 15,
            "recorded_at": "2026-11-23T10:05:30.000000Z",
            "redemption_transaction_id": "pos-1002",
            "reversal_id": "c12bdd86-2b27-5872-ae12-fe49667f6ebe",
            "transaction_id": "pos-1004",
        }
    },
    "createAdjustment": {
        "201": {
            "adjustment_id": "adj-2026-0001",
            "balance": {"available": 183, "pending": 0, "tier": "basic"},
            "member_id": "m-1001",
            "points": 50,
            "position": 17,
            "reason": "goodwill: delayed delivery",
            "recorded_at": "2026-11-23T10:30:00.000000Z",
        }
    },
    "getAdjustment": {
        "200": {
            "adjustment_id": "adj-2026-0001",
            "balance": {"available": 183, "pending": 0, "tier": "basic"},
            "member_id": "m-1001",
            "points": 50,
            "position": 17,
            "reason": "goodwill: delayed delivery",
            "recorded_at": "2026-11-23T10:30:00.000000Z",
        }
    },
    "submitBatch": {
        "200": {
            "results": [
                {
                    "body": {
                        "balance": {"available": 100, "pending": 0, "tier": "basic"},
                        "enrolled_at": "2026-11-23T11:02:00.000000Z",
                        "member_id": "m-1002",
                        "position": 20,
                        "status": "active",
                        "tier": "basic",
                    },
                    "index": 0,
                    "status": 201,
                },
                {
                    "body": {
                        "accrual_id": "904638be-ada5-5714-816e-a483a172aa14",
                        "amount": "19.90",
                        "available_at": "2026-11-23T11:00:00.000000Z",
                        "balance": {"available": 119, "pending": 0, "tier": "basic"},
                        "base_points": 19,
                        "bonus_points": 0,
                        "currency": "EUR",
                        "expires_at": "2028-12-01T00:00:00.000000Z",
                        "member_id": "m-1002",
                        "partner_id": "shop-1",
                        "points": 19,
                        "position": 22,
                        "recorded_at": "2026-11-23T11:02:00.000000Z",
                        "status": "available",
                        "tier_multiplier": "1.0",
                        "transaction_id": "pos-1005",
                    },
                    "index": 1,
                    "status": 201,
                },
                {
                    "body": {
                        "detail": "member m-1002 has 119 points available, not 500",
                        "status": 422,
                        "title": "Insufficient points",
                        "type": "https://loyalty-ledger.dev/problems/insufficient-points",
                    },
                    "index": 2,
                    "status": 422,
                },
            ]
        }
    },
    "getMember": {
        "200": {
            "enrolled_at": "2026-11-02T09:05:00.000000Z",
            "member_id": "m-1001",
            "status": "active",
            "tier": "basic",
        }
    },
    "getMemberBalance": {
        "200": {
            "as_of": "2026-11-23T10:30:00.000000Z",
            "available": 183,
            "lifetime_adjusted": 50,
            "lifetime_earned": 142,
            "lifetime_expired": 0,
            "lifetime_redeemed": 0,
            "lifetime_reversed": 9,
            "member_id": "m-1001",
            "pending": 0,
            "position": 16,
            "tier": "basic",
        }
    },
    "getMemberStatement": {
        "200": {
            "lines": [
                {
                    "available_after": 0,
                    "detail": {
                        "birth_date": "1990-04-12",
                        "enrolled_at": "2026-11-02T09:05:00.000000Z",
                        "enrolled_by": "shop-1",
                        "member_id": "m-1001",
                        "tier": "basic",
                    },
                    "occurred_at": "2026-11-02T09:05:00.000000Z",
                    "partner_id": "shop-1",
                    "pending_after": 0,
                    "points": 0,
                    "position": 5,
                    "recorded_at": "2026-11-02T09:05:00.000000Z",
                    "transaction_id": None,
                    "type": "MemberEnrolled",
                },
                {
                    "available_after": 100,
                    "detail": {
                        "debt_paid": 0,
                        "lot": {
                            "available_at": "2026-11-02T09:05:00.000000Z",
                            "earned_at": "2026-11-02T09:05:00.000000Z",
                            "expires_at": "2028-12-01T00:00:00.000000Z",
                            "lot_id": "L1",
                            "points": 100,
                            "source": "operator",
                        },
                        "reason": "enrollment",
                    },
                    "occurred_at": "2026-11-02T09:05:00.000000Z",
                    "partner_id": None,
                    "pending_after": 0,
                    "points": 100,
                    "position": 6,
                    "recorded_at": "2026-11-02T09:05:00.000000Z",
                    "transaction_id": None,
                    "type": "BonusGranted",
                },
                {
                    "available_after": 142,
                    "detail": {
                        "accrual_id": "a820af73-d138-5630-8a14-995cd803bb49",
                        "amount": "42.50",
                        "base_points": 42,
                        "bonus_points": 0,
                        "currency": "EUR",
                        "debt_paid": 0,
                        "earn_rate": "1",
                        "funding_amount": "0.42",
                        "funding_rate": "0.01",
                        "lot": {
                            "available_at": "2026-11-22T13:40:00.000000Z",
                            "earned_at": "2026-11-22T13:40:00.000000Z",
                            "expires_at": "2028-12-01T00:00:00.000000Z",
                            "lot_id": "L2",
                            "points": 42,
                            "source": "shop-1",
                        },
                        "occurred_at": "2026-11-22T13:40:00.000000Z",
                        "partner_id": "shop-1",
                        "pending": False,
                        "pending_days": 0,
                        "points": 42,
                        "tier": "basic",
                        "tier_multiplier": "1.0",
                        "transaction_id": "pos-1001",
                    },
                    "occurred_at": "2026-11-22T13:40:00.000000Z",
                    "partner_id": "shop-1",
                    "pending_after": 0,
                    "points": 42,
                    "position": 8,
                    "recorded_at": "2026-11-22T13:45:01.123456Z",
                    "transaction_id": "pos-1001",
                    "type": "PointsAccrued",
                },
            ],
            "next_cursor": "eyJtZW1iZXIiOiAibS0xMDAxIiwgImFmdGVyIjogOCwgImZyb20iOiBudWxs"
            "LCAidG8iOiBudWxsfQ==",
        }
    },
    "getMemberTier": {
        "200": {
            "guaranteed_until": None,
            "next_tier": "silver",
            "qualifying_spend": "32.50",
            "since": "2026-11-02T09:05:00.000000Z",
            "spend_to_next_tier": "3567.50",
            "tier": "basic",
        }
    },
    "getMemberExpiringPoints": {
        "200": {"lots": [{"expires_at": "2028-12-01T00:00:00.000000Z", "points": 183}]}
    },
    "listMemberEvents": {
        "200": {
            "events": [
                {
                    "data": {
                        "birth_date": None,
                        "enrolled_at": "2026-11-23T11:02:00.000000Z",
                        "enrolled_by": "shop-1",
                        "member_id": "m-1002",
                        "tier": "basic",
                    },
                    "event_id": "e2bdb82e-b9a2-5644-aece-f4de9205bb19",
                    "hash": "6e0665d6c16568a3cdfcc744e965b9aae8a2b5f3c6a7bf1e3f7c4b15312881b1",
                    "position": 18,
                    "recorded_at": "2026-11-23T11:02:00.000000Z",
                    "stream_id": "06300f8b-c75b-509e-971c-15bf0a1fb0d0",
                    "stream_version": 1,
                    "type": "MemberEnrolled",
                },
                {
                    "data": {
                        "available_after": 100,
                        "debt_paid": 0,
                        "lot": {
                            "available_at": "2026-11-23T11:02:00.000000Z",
                            "earned_at": "2026-11-23T11:02:00.000000Z",
                            "expires_at": "2028-12-01T00:00:00.000000Z",
                            "lot_id": "L1",
                            "points": 100,
                            "source": "operator",
                        },
                        "pending_after": 0,
                        "reason": "enrollment",
                    },
                    "event_id": "6ca6d58f-5719-5570-b4b0-61dba199c5e5",
                    "hash": "9c927051f3333dcdc4af15a67d4c47937feb7c939fbce8bb3a45711ec8dbdfff",
                    "position": 19,
                    "recorded_at": "2026-11-23T11:02:00.000000Z",
                    "stream_id": "06300f8b-c75b-509e-971c-15bf0a1fb0d0",
                    "stream_version": 2,
                    "type": "BonusGranted",
                },
                {
                    "data": {
                        "accrual_id": "904638be-ada5-5714-816e-a483a172aa14",
                        "amount": "19.90",
                        "available_after": 119,
                        "base_points": 19,
                        "bonus_points": 0,
                        "currency": "EUR",
                        "debt_paid": 0,
                        "earn_rate": "1",
                        "funding_amount": "0.19",
                        "funding_rate": "0.01",
                        "lot": {
                            "available_at": "2026-11-23T11:00:00.000000Z",
                            "earned_at": "2026-11-23T11:00:00.000000Z",
                            "expires_at": "2028-12-01T00:00:00.000000Z",
                            "lot_id": "L2",
                            "points": 19,
                            "source": "shop-1",
                        },
                        "occurred_at": "2026-11-23T11:00:00.000000Z",
                        "partner_id": "shop-1",
                        "pending": False,
                        "pending_after": 0,
                        "pending_days": 0,
                        "points": 19,
                        "tier": "basic",
                        "tier_multiplier": "1.0",
                        "transaction_id": "pos-1005",
                    },
                    "event_id": "457b642b-9bf6-5601-94a2-16784a759a2c",
                    "hash": "5ad76cb11a328d44b3173a6b3b8c83aad648d04421fa98e2fc69eaddd4ae92d4",
                    "position": 21,
                    "recorded_at": "2026-11-23T11:02:00.000000Z",
                    "stream_id": "06300f8b-c75b-509e-971c-15bf0a1fb0d0",
                    "stream_version": 3,
                    "type": "PointsAccrued",
                },
            ],
            "next_cursor": None,
        }
    },
    "runSweep": {
        "200": {
            "activated_points": 0,
            "as_of": "2026-11-24T00:00:00.000000Z",
            "expired_points": 0,
            "members_touched": 0,
            "position": None,
            "tier_changes": 0,
        }
    },
    "suspendMember": {
        "200": {
            "balance": {"available": 119, "pending": 0, "tier": "basic"},
            "enrolled_at": "2026-11-23T11:02:00.000000Z",
            "member_id": "m-1002",
            "position": 23,
            "status": "suspended",
            "tier": "basic",
        }
    },
    "reactivateMember": {
        "200": {
            "balance": {"available": 119, "pending": 0, "tier": "basic"},
            "enrolled_at": "2026-11-23T11:02:00.000000Z",
            "member_id": "m-1002",
            "position": 24,
            "status": "active",
            "tier": "basic",
        }
    },
    "closeMember": {
        "200": {
            "balance": {"available": 0, "pending": 0, "tier": "basic"},
            "enrolled_at": "2026-11-23T11:02:00.000000Z",
            "member_id": "m-1002",
            "position": 25,
            "status": "closed",
            "tier": "basic",
        }
    },
    "getSettlementReport": {
        "200": {
            "currency": "EUR",
            "from": "2026-11-01T00:00:00.000000Z",
            "partners": [
                {
                    "amount_funded": "0.52",
                    "amount_reimbursed": "0.00",
                    "net": "0.52",
                    "partner_id": "shop-1",
                    "points_issued": 52,
                    "points_redeemed": 0,
                }
            ],
            "to": "2026-12-01T00:00:00.000000Z",
            "totals": {
                "amount_funded": "0.52",
                "amount_reimbursed": "0.00",
                "net": "0.52",
                "points_issued": 52,
                "points_redeemed": 0,
            },
        }
    },
    "getLiabilityReport": {
        "200": {
            "as_of": "2026-12-01T06:00:00.000000Z",
            "by_source": [
                {"points": 150, "source": "operator"},
                {"points": 33, "source": "shop-1"},
            ],
            "debt_points": 0,
            "outstanding_points": 183,
            "pending_points": 0,
            "value": "1.83",
        }
    },
    "getBreakageReport": {
        "200": {
            "from": "2026-11-01T00:00:00.000000Z",
            "sources": [
                {"points": 100, "points_expired": 0, "points_forfeited": 100, "source": "operator"},
                {"points": 19, "points_expired": 0, "points_forfeited": 19, "source": "shop-1"},
            ],
            "to": "2026-12-01T00:00:00.000000Z",
            "total_points": 119,
        }
    },
    "getTrialBalance": {
        "200": {
            "accounts": [
                {"account": "member:m-1001", "credit": 222, "debit": 39},
                {"account": "member:m-1002", "credit": 119, "debit": 119},
                {"account": "operator:bonus", "credit": 0, "debit": 250},
                {"account": "operator:breakage", "credit": 119, "debit": 0},
                {"account": "partner:shop-1:issued", "credit": 9, "debit": 61},
                {"account": "partner:shop-1:redeemed", "credit": 30, "debit": 30},
            ],
            "as_of": None,
            "total": 0,
        }
    },
    "getTierReport": {"200": {"tiers": [{"code": "basic", "members": 1}]}},
    "listEvents": {
        "200": {
            "events": [
                {
                    "data": {},
                    "event_id": "8d49cabc-f129-5387-9dc5-f0f2cbde3fa2",
                    "hash": "04222434b857dc59058485c0849a3726398c832faf9176484f47728e41f93b50",
                    "position": 1,
                    "recorded_at": "2026-11-02T09:00:00.000000Z",
                    "stream_id": "b721e08d-c951-58b2-8f1c-f4783bfc5793",
                    "stream_version": 1,
                    "type": "ProgramCreated",
                },
                {
                    "data": {
                        "rules": {
                            "currency": "EUR",
                            "enrollment_bonus_points": 100,
                            "max_backdate_days": 90,
                            "max_points_per_accrual": 100000,
                            "point_value": "0.01",
                            "points_lifetime_months": 24,
                            "tiers": [
                                {
                                    "code": "basic",
                                    "multiplier": "1.0",
                                    "name": "Basic",
                                    "threshold": "0.00",
                                },
                                {
                                    "code": "silver",
                                    "multiplier": "1.25",
                                    "name": "Silver",
                                    "threshold": "3600.00",
                                },
                                {
                                    "code": "gold",
                                    "multiplier": "1.5",
                                    "name": "Gold",
                                    "threshold": "6000.00",
                                },
                                {
                                    "code": "diamond",
                                    "multiplier": "2.0",
                                    "name": "Diamond",
                                    "threshold": "12000.00",
                                },
                            ],
                        }
                    },
                    "event_id": "f702c27f-3591-5d58-894e-bbe0ee637d3d",
                    "hash": "ff8fa4dd2ef83021cdfa08d36ba3ae9fd79b7fe603610b8956b9295664e52b23",
                    "position": 2,
                    "recorded_at": "2026-11-02T09:00:00.000000Z",
                    "stream_id": "b721e08d-c951-58b2-8f1c-f4783bfc5793",
                    "stream_version": 2,
                    "type": "ProgramConfigured",
                },
            ],
            "next_cursor": "eyJhZnRlciI6IDJ9",
        }
    },
    "getAuditDigest": {
        "200": {
            "hash": "4f7454e743a340b3b53a481cc654eb79140e90f0ebb787057ffea39d07504793",
            "position": 25,
        }
    },
    "verifyAudit": {
        "200": {
            "chain_ok": True,
            "checked_events": 25,
            "digest_ok": None,
            "first_broken_position": None,
            "ok": True,
            "position": 25,
            "projections": [
                {"detail": None, "name": "members", "ok": True},
                {"detail": None, "name": "member_tiers", "ok": True},
                {"detail": None, "name": "partner_positions", "ok": True},
                {"detail": None, "name": "postings", "ok": True},
                {"detail": None, "name": "event_hashes", "ok": True},
            ],
            "replay_error": None,
        }
    },
    "suspendPartner": {
        "200": {
            "currency": "EUR",
            "earn_rate": "1",
            "funding_rate": "0.01",
            "name": "Corner Coffee",
            "partner_id": "shop-1",
            "pending_days": 0,
            "reimbursement_rate": "0.008",
            "status": "suspended",
        }
    },
    "revokeKey": {},
    "reactivatePartner": {
        "200": {
            "currency": "EUR",
            "earn_rate": "1",
            "funding_rate": "0.01",
            "name": "Corner Coffee",
            "partner_id": "shop-1",
            "pending_days": 0,
            "reimbursement_rate": "0.008",
            "status": "active",
        }
    },
    "changePartner": {"200": PARTNER_CHANGED},
    "listPartners": {"200": {"partners": [PARTNER_CHANGED], "next_cursor": None}},
    "listKeys": {"200": {"keys": [KEY_VIEW], "next_cursor": None}},
    "getKey": {"200": KEY_VIEW},
    "getHealth": {"200": {"status": "ok"}},
    "getReadiness": {"200": {"status": "ready"}},
}

for _operation_id, _answers in ANSWERS.items():
    EXAMPLES[_operation_id].update(_answers)
