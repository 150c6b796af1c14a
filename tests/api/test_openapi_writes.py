"""/openapi.json describes the write API (and the server keeps to it); /docs works offline."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.migrate import migrate
from api.problems import PROBLEM_BASE, PROBLEM_JSON
from ledger.clock import ManualClock
from ledger.config import Settings
from tests.api.write_support import ADMIN, WriteClient, open_client


@pytest.fixture
def api(sqlite_url: str, clock: ManualClock) -> Iterator[WriteClient]:
    yield from open_client(sqlite_url, clock)


@pytest.fixture
def spec(api: WriteClient) -> dict[str, Any]:
    response = api.http.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.get_json())


def test_every_write_endpoint_is_documented(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.")
    operations = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert {
        ("GET", "/v1/program"),
        ("PUT", "/v1/program"),
        ("POST", "/v1/partners"),
        ("GET", "/v1/partners/{partner_id}"),
        ("POST", "/v1/partners/{partner_id}/suspend"),
        ("POST", "/v1/keys"),
        ("DELETE", "/v1/keys/{key_id}"),
        ("POST", "/v1/members/{member_id}/adjustments"),
        ("POST", "/v1/members/{member_id}/suspend"),
        ("POST", "/v1/members/{member_id}/reactivate"),
        ("POST", "/v1/members/{member_id}/close"),
        ("POST", "/v1/sweeps"),
        ("POST", "/v1/members"),
        ("POST", "/v1/accruals"),
        ("POST", "/v1/redemptions"),
        ("POST", "/v1/accruals/{transaction_id}/reversals"),
        ("POST", "/v1/redemptions/{transaction_id}/reversals"),
        ("POST", "/v1/batches"),
        ("GET", "/v1/transactions/{transaction_id}"),
    } <= operations


def test_schemas_say_what_the_wire_carries(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    accrual = schemas["AccrualRequest"]
    assert accrual["additionalProperties"] is False
    assert accrual["properties"]["amount"]["type"] == "string"
    assert accrual["properties"]["occurred_at"]["format"] == "date-time"
    assert accrual["properties"]["transaction_id"]["pattern"] == "^[A-Za-z0-9._:-]{1,64}$"
    balance = schemas["Accrual"]["properties"]["balance"]
    assert balance["allOf"] == [{"$ref": "#/components/schemas/Balance"}]  # and a description
    accruals = spec["paths"]["/v1/accruals"]["post"]
    assert set(accruals["responses"]) >= {"200", "201", "422", "default"}
    assert accruals["security"] == [{"bearerAuth": []}]
    problem = spec["components"]["responses"]["DEFAULT_ERROR"]["content"]
    assert list(problem) == ["application/problem+json"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_docs_are_served_without_a_cdn(api: WriteClient) -> None:
    page = api.http.get("/docs")
    assert page.status_code == 200 and b"SwaggerUIBundle" in page.data
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.get_data(as_text=True))
    assert assets and all(url.startswith("/docs/") for url in assets)
    for url in assets:
        assert api.http.get(url).status_code == 200, url
    assert b"/openapi.json" in page.data


@pytest.fixture
def pg_api(pg_url: str, clock: ManualClock) -> Iterator[WriteClient]:
    migrate(Settings(database_url=pg_url))  # as deployed: /readyz answers 200
    yield from open_client(pg_url, clock)


@pytest.fixture
def api_schema(pg_api: WriteClient) -> Any:
    # Every operation, reads included, on a migrated PostgreSQL database (as deployed).
    # A partner and a member with points exist, so generated requests get past the 404s.
    token = pg_api.partner("shop")
    pg_api.enroll(token, "m1")
    pg_api.accrue(token, "t1", "m1", "100.00")
    return schemathesis.from_wsgi(
        "/openapi.json",
        pg_api.app,
        data_generation_methods=schemathesis.DataGenerationMethod.all(),
    )


schema = schemathesis.from_pytest_fixture("api_schema")


@schema.parametrize()
# Bounded: a few examples per operation, reproducible, well under a minute.
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_to_its_schema(case: Any) -> None:
    response = case.call_wsgi(headers={"Authorization": f"Bearer {ADMIN}"})
    case.validate_response(
        response,
        checks=(
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
            documented_problem_slug,
        ),
    )


def documented_problem_slug(ctx: Any, response: Any, case: Any) -> None:
    """A problem's slug is one its operation documents for that status. (Schemathesis' own
    status check passes any status once a `default` response is documented.)"""
    if response.status_code < 400 or response.status_code in (405, 500):
        return  # 405: a method the path lacks; 500: not_a_server_error's
    documented = case.operation.definition.raw["responses"].get(str(response.status_code), {})
    slugs = set(documented.get("content", {}).get(PROBLEM_JSON, {}).get("examples", {}))
    slug = json.loads(response.get_data())["type"].removeprefix(PROBLEM_BASE)
    assert slug in slugs, (case.operation.verbose_name, response.status_code, slug, slugs)
