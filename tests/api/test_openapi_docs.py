"""/openapi.json is a document a partner's developer can integrate from: every operation
named, every field and parameter described, each endpoint's roles and problem slugs said,
and examples that validate against their schemas and are what the service really answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from api.app import create_app
from api.examples import EXAMPLES
from ledger.clock import ManualClock
from ledger.config import Settings
from tests.api.openapi_checks import defects, example_mismatches, operations
from tests.api.openapi_story import STORY, play
from tests.api.write_support import WriteClient, open_client

# Not played: readiness needs a migrated database, metrics answer text.
NOT_PLAYED = {"getReadiness", "getMetrics"}
# What differs each time the story is played: a new key, and so the chain's hashes.
VOLATILE = {"key", "key_id", "hash"}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path: Path = tmp_path_factory.mktemp("openapi") / "ledger.sqlite"
    app = create_app(Settings(database_url=f"sqlite:///{path}", admin_key="x"))
    body: dict[str, Any] = app.test_client().get("/openapi.json").get_json()
    return body


@pytest.fixture
def api(database_url: str, clock: ManualClock) -> Iterator[WriteClient]:
    yield from open_client(database_url, clock)


def test_the_document_is_valid_openapi(spec: dict[str, Any]) -> None:
    validate(spec)


def test_every_operation_field_and_parameter_is_documented(spec: dict[str, Any]) -> None:
    assert defects(spec) == []


def test_every_example_validates_against_its_own_schema(spec: dict[str, Any]) -> None:
    assert example_mismatches(spec) == []


def test_the_documented_problems_name_their_slugs(spec: dict[str, Any]) -> None:
    accrual = spec["paths"]["/v1/accruals"]["post"]["responses"]["422"]
    examples = accrual["content"]["application/problem+json"]["examples"]
    assert examples["currency-mismatch"]["value"] == {
        "type": "https://loyalty-ledger.dev/problems/currency-mismatch",
        "title": "Currency does not match the partner's",
        "status": 422,
        "detail": "partner shop-1 posts in EUR, not USD",
    }
    assert "`occurred-at-out-of-range`" in accrual["description"]


def test_the_roles_are_in_the_description(spec: dict[str, Any]) -> None:
    statement = spec["paths"]["/v1/members/{member_id}/statement"]["get"]
    assert statement["x-roles"] == ["auditor", "finance", "admin"]
    assert statement["description"].endswith("**Roles:** `auditor`, `finance`, `admin`.")
    health = spec["paths"]["/healthz"]["get"]
    assert health["description"] == "**Roles:** none (no API key needed)."


def test_the_story_covers_every_operation(spec: dict[str, Any]) -> None:
    documented = {operation["operationId"] for _, _, operation in operations(spec)}
    played = {operation_id for operation_id, _ in STORY}
    assert played | NOT_PLAYED == documented == set(EXAMPLES)


def test_the_examples_are_what_the_service_answers(api: WriteClient, clock: ManualClock) -> None:
    spec = api.http.get("/openapi.json").get_json()
    answers = play(api, clock, spec)
    for operation_id, (status, body) in answers.items():
        documented = EXAMPLES[operation_id].get(str(status))
        assert _stable(body) == _stable(documented), (operation_id, status)
    assert answers["createAccrual"][1]["points"] == 42  # floor(42.50 x 1 x 1.0) + 0
    assert answers["createRedemption"][1]["reimbursement_amount"] == "0.24"  # 30 x 0.008


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "..." if k in VOLATILE else _stable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value
