"""Shared set-up for the operations tests: a migrated SQLite app with a partner and its key."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.migrate import migrate
from ledger.config import Settings

ADMIN_KEY = "ops-admin-key-4f1c9a7e2b"


@dataclass
class Deployment:
    app: Flask
    client: FlaskClient
    admin: dict[str, str]
    partner: dict[str, str]
    partner_key: str


PARTNER_P1: dict[str, object] = {
    "partner_id": "p1",
    "name": "Partner",
    "currency": "EUR",
    "earn_rate": "1",
    "funding_rate": "0.01",
    "reimbursement_rate": "0.01",
    "pending_days": 0,
}


def deploy(database_url: str, **settings: object) -> Deployment:
    config = Settings(database_url=database_url, admin_key=ADMIN_KEY, **settings)  # type: ignore[arg-type]
    migrate(config)
    app = create_app(settings=config)
    client = app.test_client()
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    response = client.post(
        "/v1/partners",
        headers=admin,
        json=PARTNER_P1,
    )
    assert response.status_code == 201, response.get_json()
    response = client.post(
        "/v1/keys", headers=admin, json={"role": "partner", "partner_id": "p1", "name": "pos"}
    )
    assert response.status_code == 201, response.get_json()
    key = response.get_json()["key"]
    return Deployment(app, client, admin, {"Authorization": f"Bearer {key}"}, key)


def samples(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get("/metrics").get_data(as_text=True)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
