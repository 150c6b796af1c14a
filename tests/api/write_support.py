"""Helpers for the write API's tests: an app on a fresh database, and a client that signs in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from werkzeug.test import TestResponse

from api.app import create_app
from api.fields import utc_text
from ledger.clock import ManualClock
from ledger.config import Settings

ADMIN = "test-admin"
PARTNER_TERMS: dict[str, Any] = {
    "name": "Shop",
    "currency": "EUR",
    "earn_rate": "1",
    "funding_rate": "0.01",
    "reimbursement_rate": "0.008",
    "pending_days": 0,
}


class WriteClient:
    """The Flask test client, with bearer keys and a partner's usual bodies at hand."""

    def __init__(self, app: Flask, clock: ManualClock) -> None:
        self.app = app
        self.http = app.test_client()
        self.clock = clock

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = ADMIN, **kwargs: Any
    ) -> TestResponse:
        headers = kwargs.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.open(path, method=method, json=body, headers=headers, **kwargs)

    def post(self, path: str, body: Any = None, token: str | None = ADMIN) -> TestResponse:
        return self.call("POST", path, body, token)

    def get(self, path: str, token: str | None = ADMIN) -> TestResponse:
        return self.call("GET", path, None, token)

    def ok(
        self, method: str, path: str, body: Any = None, token: str | None = ADMIN, status: int = 201
    ) -> dict[str, Any]:
        response = self.call(method, path, body, token)
        assert response.status_code == status, response.get_json()
        return dict(response.get_json())

    def now(self, delta: timedelta = timedelta()) -> str:
        return utc_text(self.clock.now() + delta)

    # ------------------------------------------------------------------ set-ups

    def partner(self, partner_id: str = "shop", **terms: Any) -> str:
        """Register a partner and return a partner key for it."""
        self.ok("POST", "/v1/partners", {"partner_id": partner_id, **PARTNER_TERMS, **terms})
        return self.key("partner", partner_id)

    def key(self, role: str, partner_id: str | None = None) -> str:
        body = {"role": role, "name": f"{role} key", "partner_id": partner_id}
        return str(self.ok("POST", "/v1/keys", body)["key"])

    def enroll(self, token: str, member_id: str = "m1", **fields: Any) -> dict[str, Any]:
        return self.ok("POST", "/v1/members", {"member_id": member_id, **fields}, token)

    def accrue(
        self,
        token: str,
        transaction_id: str = "t1",
        member_id: str = "m1",
        amount: str = "100.00",
        status: int = 201,
        **fields: Any,
    ) -> dict[str, Any]:
        body = {
            "transaction_id": transaction_id,
            "member_id": member_id,
            "amount": amount,
            "currency": "EUR",
            "occurred_at": self.now(),
            **fields,
        }
        return self.ok("POST", "/v1/accruals", body, token, status)

    def redeem(
        self,
        token: str,
        transaction_id: str = "r1",
        member_id: str = "m1",
        points: int = 10,
        status: int = 201,
        **fields: Any,
    ) -> dict[str, Any]:
        body = {
            "transaction_id": transaction_id,
            "member_id": member_id,
            "points": points,
            "occurred_at": self.now(),
            **fields,
        }
        return self.ok("POST", "/v1/redemptions", body, token, status)


def open_client(database_url: str, clock: ManualClock) -> Iterator[WriteClient]:
    app = create_app(Settings(database_url=database_url, admin_key=ADMIN), clock=clock)
    yield WriteClient(app, clock)
    app.extensions["ledger"].close()


def problem_slug(response: TestResponse) -> str:
    assert response.mimetype == "application/problem+json", response.data
    body = response.get_json()
    assert body["status"] == response.status_code
    return str(body["type"]).rsplit("/", 1)[1]


def is_utc_micro(text: str) -> bool:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ") is not None and len(text) == 27
