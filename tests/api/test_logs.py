"""JSON log lines for requests and commands; no key, key hash or database password in any."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime

import pytest

from ledger.infrastructure.json_logging import JsonFormatter
from tests.api.ops_helpers import ADMIN_KEY, deploy


def test_log_lines_are_json_and_carry_no_secrets(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = deploy(sqlite_url)
    client, partner = deployment.client, deployment.partner
    now = datetime.now(UTC).isoformat()
    client.post("/v1/members", json={"member_id": "m1"}, headers=partner)
    client.post(
        "/v1/accruals",
        headers=partner,
        json={
            "transaction_id": "t1",
            "member_id": "m1",
            "amount": "10.00",
            "currency": "EUR",
            "occurred_at": now,
        },
    )
    client.get("/v1/members/m1", headers={"Authorization": "Bearer llk_not-a-real-key"})
    logging.getLogger("api.errors").error(
        "connecting to postgresql://ledger:s3cret-pw@db/ledger with Bearer %s failed",
        deployment.partner_key,
    )
    lines = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]

    requests = [line for line in lines if line.get("event") == "request"]
    accrual = next(line for line in requests if line["route"] == "/v1/accruals")
    assert accrual["status"] == 201 and accrual["method"] == "POST"
    assert accrual["partner_id"] == "p1" and accrual["key_id"].startswith("k")
    assert accrual["request_id"] and accrual["duration_ms"] >= 0
    command = next(line for line in lines if line.get("operation") == "accrue")
    assert command["partner_id"] == "p1" and command["member_id"] == "m1"
    assert command["transaction_id"] == "t1" and command["outcome"] == "applied"
    assert command["request_id"] == accrual["request_id"]  # though it ran in a group

    text = "\n".join(json.dumps(line) for line in lines)
    secrets = [
        deployment.partner_key,
        hashlib.sha256(deployment.partner_key.encode()).hexdigest(),
        ADMIN_KEY,
        "llk_not-a-real-key",
        "s3cret-pw",
    ]
    assert not [secret for secret in secrets if secret in text]


def test_database_password_in_settings_is_masked_everywhere() -> None:
    formatter = JsonFormatter(secrets=["pa55-word"])
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed: %s", ("pa55-word",), None)
    assert "pa55-word" not in formatter.format(record)
