"""/openapi.json documents every endpoint of API.md with the fields it answers."""

from __future__ import annotations

from typing import Any

import pytest

from api.app import create_app
from ledger.config import Settings

# API.md's response fields per query endpoint (optional additions may come on top).
READ_FIELDS: dict[str, set[str]] = {
    "/v1/members/{member_id}": {"member_id", "status", "enrolled_at", "tier"},
    "/v1/members/{member_id}/balance": {
        "member_id",
        "available",
        "pending",
        "lifetime_earned",
        "lifetime_adjusted",
        "lifetime_redeemed",
        "lifetime_expired",
        "lifetime_reversed",
        "tier",
        "as_of",
        "position",
    },
    "/v1/members/{member_id}/statement": {"lines", "next_cursor"},
    "/v1/members/{member_id}/tier": {
        "tier",
        "since",
        "guaranteed_until",
        "qualifying_spend",
        "next_tier",
        "spend_to_next_tier",
    },
    "/v1/members/{member_id}/expiring": {"lots"},
    "/v1/reports/settlement": {"from", "to", "currency", "partners", "totals"},
    "/v1/reports/liability": {
        "as_of",
        "outstanding_points",
        "pending_points",
        "debt_points",
        "value",
        "by_source",
    },
    "/v1/reports/breakage": {"from", "to"},
    "/v1/reports/trial-balance": {"accounts", "total"},
    "/v1/reports/tiers": {"tiers"},
    "/v1/events": {"events", "next_cursor"},
    "/v1/members/{member_id}/events": {"events"},
    "/v1/audit/digest": {"position", "hash"},
    "/v1/audit/verify": {"ok", "checked_events", "chain_ok", "projections"},
    "/healthz": {"status"},
    "/readyz": {"status"},
}
NESTED_FIELDS: dict[tuple[str, str], set[str]] = {
    ("/v1/members/{member_id}/statement", "lines"): {
        "position",
        "recorded_at",
        "occurred_at",
        "type",
        "partner_id",
        "transaction_id",
        "points",
        "available_after",
        "pending_after",
        "detail",
    },
    ("/v1/members/{member_id}/expiring", "lots"): {"expires_at", "points"},
    ("/v1/reports/settlement", "partners"): {
        "partner_id",
        "points_issued",
        "amount_funded",
        "points_redeemed",
        "amount_reimbursed",
        "net",
    },
    ("/v1/reports/liability", "by_source"): {"source", "points"},
    ("/v1/reports/trial-balance", "accounts"): {"account", "debit", "credit"},
    ("/v1/reports/tiers", "tiers"): {"code", "members"},
    ("/v1/events", "events"): {
        "position",
        "event_id",
        "stream_id",
        "stream_version",
        "type",
        "recorded_at",
        "data",
        "hash",
    },
    ("/v1/members/{member_id}/events", "events"): {
        "position",
        "event_id",
        "stream_id",
        "stream_version",
        "type",
        "recorded_at",
        "data",
        "hash",
    },
    ("/v1/audit/verify", "projections"): {"name", "ok", "detail"},
}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("openapi") / "ledger.sqlite"
    app = create_app(Settings(database_url=f"sqlite:///{path}", admin_key="x"))
    body: dict[str, Any] = app.test_client().get("/openapi.json").get_json()
    return body


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "allOf" in schema:
        return _resolve(spec, schema["allOf"][0])
    return schema


def _ok_schema(spec: dict[str, Any], path: str) -> dict[str, Any]:
    response = spec["paths"][path]["get"]["responses"]["200"]
    return _resolve(spec, response["content"]["application/json"]["schema"])


@pytest.mark.parametrize("path", sorted(READ_FIELDS))
def test_every_query_documents_its_response_fields(spec: dict[str, Any], path: str) -> None:
    properties = _ok_schema(spec, path)["properties"]
    assert READ_FIELDS[path] <= set(properties), path


@pytest.mark.parametrize(("path", "field"), sorted(NESTED_FIELDS))
def test_listed_items_document_their_fields(spec: dict[str, Any], path: str, field: str) -> None:
    items = _resolve(spec, _ok_schema(spec, path)["properties"][field]["items"])
    assert NESTED_FIELDS[(path, field)] <= set(items["properties"])


def test_times_and_money_are_documented_as_strings(spec: dict[str, Any]) -> None:
    balance = _ok_schema(spec, "/v1/members/{member_id}/balance")["properties"]
    assert balance["as_of"]["type"] == "string" and balance["as_of"]["format"] == "date-time"
    assert balance["available"]["type"] == "integer"
    liability = _ok_schema(spec, "/v1/reports/liability")["properties"]
    assert liability["value"]["type"] == "string" and liability["value"]["format"] == "decimal"


def test_metrics_documents_its_text_body(spec: dict[str, Any]) -> None:
    assert "text/plain" in spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


# API.md's problems each endpoint can answer, by status (the default response aside).
AUTH = {"401": {"unauthorized"}, "403": {"forbidden"}}
PARTNER_WRITE = {
    **AUTH,
    "400": {"malformed-request"},
    "415": {"unsupported-media-type"},
    "404": {"not-found"},
    "503": {"unavailable"},
}
DOCUMENTED_PROBLEMS: dict[tuple[str, str], dict[str, set[str]]] = {
    ("post", "/v1/accruals"): {
        **PARTNER_WRITE,
        "409": {"idempotency-conflict"},
        "422": {
            "validation-error",
            "member-not-active",
            "partner-not-active",
            "currency-mismatch",
            "occurred-at-out-of-range",
        },
    },
    ("post", "/v1/redemptions"): {
        **PARTNER_WRITE,
        "409": {"idempotency-conflict"},
        "422": {
            "validation-error",
            "member-not-active",
            "partner-not-active",
            "insufficient-points",
            "occurred-at-out-of-range",
        },
    },
    ("post", "/v1/redemptions/{transaction_id}/reversals"): {
        **PARTNER_WRITE,
        "409": {"idempotency-conflict", "already-reversed"},
        "422": {
            "validation-error",
            "member-not-active",
            "partner-not-active",
            "occurred-at-out-of-range",
        },
    },
    ("post", "/v1/partners"): {
        **AUTH,
        "400": {"malformed-request"},
        "415": {"unsupported-media-type"},
        "409": {"idempotency-conflict"},
        "422": {"validation-error"},
        "503": {"unavailable"},
    },
    ("post", "/v1/batches"): {
        **AUTH,
        "400": {"malformed-request"},
        "415": {"unsupported-media-type"},
        "422": {"validation-error"},
        "503": {"unavailable"},
    },
    ("get", "/v1/members/{member_id}/balance"): {
        "401": {"unauthorized"},
        "404": {"not-found"},
        "422": {"validation-error"},
        "503": {"unavailable", "projection-lagging"},
    },
    ("get", "/v1/transactions/{transaction_id}"): {
        **AUTH,
        "404": {"not-found"},
        "422": {"validation-error"},
        "503": {"unavailable"},
    },
    # Every endpoint refuses an unknown query parameter (422).
    ("get", "/v1/program"): {
        "401": {"unauthorized"},
        "422": {"validation-error"},
        "503": {"unavailable"},
    },
    ("get", "/readyz"): {"422": {"validation-error"}, "503": {"unavailable"}},
    ("get", "/healthz"): {"422": {"validation-error"}},
}


@pytest.mark.parametrize(("method", "path"), sorted(DOCUMENTED_PROBLEMS))
def test_each_endpoint_documents_the_problems_it_answers(
    spec: dict[str, Any], method: str, path: str
) -> None:
    responses = spec["paths"][path][method]["responses"]
    problems = {status: r for status, r in responses.items() if status[0] in "45"}
    documented = {
        status: set(r["content"]["application/problem+json"]["examples"])
        for status, r in problems.items()
    }
    assert documented == DOCUMENTED_PROBLEMS[(method, path)]
    for status, response in problems.items():
        content = response["content"]["application/problem+json"]
        assert content["schema"] == {"$ref": "#/components/schemas/Problem"}
        for slug, example in content["examples"].items():
            assert example["value"]["type"] == f"https://loyalty-ledger.dev/problems/{slug}"
            assert example["value"]["status"] == int(status)
            assert f"`{slug}`" in response["description"]
