"""What makes /openapi.json a document a partner's developer can integrate from, as checks
that name every defect they find (an empty list: none)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from openapi_schema_validator import OAS30Validator, oas30_format_checker

from api.problems import PROBLEM_BASE, PROBLEM_JSON, STATUS_BY_SLUG

JSON = "application/json"
WRITES = {"post", "put", "patch", "delete"}
OPERATION_ID = re.compile(r"[a-z][a-zA-Z]+")


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                yield method, path, operation


def defects(spec: dict[str, Any]) -> list[str]:
    found = [*_operation_defects(spec), *_schema_defects(spec)]
    return found


def _operation_defects(spec: dict[str, Any]) -> Iterator[str]:
    seen: set[str] = set()
    for path, item in spec["paths"].items():
        for parameter in item.get("parameters", []):
            if not parameter.get("description"):
                yield f"{path}: path parameter {parameter['name']} has no description"
    for method, path, operation in operations(spec):
        where = f"{method.upper()} {path}"
        operation_id = operation.get("operationId")
        if not operation_id or not OPERATION_ID.fullmatch(operation_id):
            yield f"{where}: operationId {operation_id!r} is not a camelCase name"
        elif operation_id in seen:
            yield f"{where}: operationId {operation_id} is used twice"
        seen.add(operation_id or "")
        yield from _roles_defects(where, operation)
        for parameter in operation.get("parameters", []):
            if not parameter.get("description"):
                yield f"{where}: parameter {parameter['name']} has no description"
        for status, response in operation["responses"].items():
            for name, header in response.get("headers", {}).items():
                if not header.get("description"):
                    yield f"{where}: {status} header {name} has no description"
        yield from _problem_defects(where, method, operation)
        yield from _example_defects(where, operation)


def _roles_defects(where: str, operation: dict[str, Any]) -> Iterator[str]:
    description = operation.get("description", "")
    said = re.search(r"\*\*Roles:\*\* (.*)", description)
    if said is None:
        yield f"{where}: the description does not say which roles may call it"
        return
    named = re.findall(r"`([a-z]+)`", said.group(1))
    roles = operation.get("x-roles")
    if operation.get("security") == []:
        if roles or named:
            yield f"{where}: open to all, yet it names roles"
    elif not roles or named != roles:
        yield f"{where}: the description names roles {named}, x-roles says {roles}"


def _problem_defects(where: str, method: str, operation: dict[str, Any]) -> Iterator[str]:
    responses = operation["responses"]
    problems = {status: r for status, r in responses.items() if status[0] in "45"}
    for status, response in problems.items():
        content = response.get("content", {})
        if set(content) != {PROBLEM_JSON}:
            yield f"{where}: {status} is not documented as {PROBLEM_JSON}"
            continue
        examples = content[PROBLEM_JSON].get("examples", {})
        if content[PROBLEM_JSON].get("schema") != {"$ref": "#/components/schemas/Problem"}:
            yield f"{where}: {status} does not use the Problem schema"
        if not examples:
            yield f"{where}: {status} names no problem slug"
        for slug, example in examples.items():
            value = example.get("value", {})
            if STATUS_BY_SLUG.get(slug) != int(status):
                yield f"{where}: {slug} is not a {status} problem"
            if value.get("type") != PROBLEM_BASE + slug or value.get("status") != int(status):
                yield f"{where}: the {slug} example is not a {status} {slug} problem"
            if f"`{slug}`" not in response.get("description", ""):
                yield f"{where}: the {status} description does not name {slug}"
    secured = operation.get("security") != []
    if secured and "401" not in problems:
        yield f"{where}: no 401 unauthorized"
    if method in WRITES and not problems:
        yield f"{where}: a write without its problem responses"
    if "requestBody" in operation:
        for status, slug in (("400", "malformed-request"), ("422", "validation-error")):
            if slug not in _slugs(problems.get(status)):
                yield f"{where}: a body, but no {status} {slug}"


def _slugs(response: dict[str, Any] | None) -> set[str]:
    if not response:
        return set()
    return set(response.get("content", {}).get(PROBLEM_JSON, {}).get("examples", {}))


def _example_defects(where: str, operation: dict[str, Any]) -> Iterator[str]:
    body = operation.get("requestBody", {}).get("content", {}).get(JSON)
    if body is not None and "example" not in body:
        yield f"{where}: no request example"
    for status, response in operation["responses"].items():
        content = response.get("content", {}).get(JSON) if "content" in response else None
        if status.startswith("2") and content is not None and "example" not in content:
            yield f"{where}: no {status} example"


def _schema_defects(spec: dict[str, Any]) -> Iterator[str]:
    for name, schema in spec["components"]["schemas"].items():
        yield from _property_defects(name, schema)


def _property_defects(where: str, schema: dict[str, Any]) -> Iterator[str]:
    for name, prop in schema.get("properties", {}).items():
        if not prop.get("description"):
            yield f"schema {where}: property {name} has no description"
        yield from _property_defects(f"{where}.{name}", prop)
        if "items" in prop:
            yield from _property_defects(f"{where}.{name}[]", prop["items"])


# ------------------------------------------------------------------------ examples


def example_mismatches(spec: dict[str, Any]) -> list[str]:
    """Each example validated against the schema it illustrates: request bodies, answers,
    problems and parameters."""
    found: list[str] = []
    for method, path, operation in operations(spec):
        where = f"{method.upper()} {path}"
        body = operation.get("requestBody", {}).get("content", {}).get(JSON, {})
        if "example" in body:
            found += _mismatches(spec, f"{where} request", body["schema"], body["example"])
        for status, response in operation["responses"].items():
            for content in response.get("content", {}).values():
                if "example" in content:
                    found += _mismatches(
                        spec, f"{where} {status}", content["schema"], content["example"]
                    )
                for slug, example in content.get("examples", {}).items():
                    found += _mismatches(
                        spec, f"{where} {status} {slug}", content["schema"], example["value"]
                    )
        for parameter in [
            *spec["paths"][path].get("parameters", []),
            *operation.get("parameters", []),
        ]:
            if "example" in parameter:
                found += _mismatches(
                    spec,
                    f"{where} parameter {parameter['name']}",
                    parameter["schema"],
                    parameter["example"],
                )
    return found


def _mismatches(spec: dict[str, Any], where: str, schema: dict[str, Any], value: Any) -> list[str]:
    # The components travel with the schema, so that its $refs resolve within it.
    document = {"allOf": [schema], "components": spec["components"]}
    validator = OAS30Validator(document, format_checker=oas30_format_checker)
    return [
        f"{where}: {error.message} at {list(error.absolute_path)}"
        for error in validator.iter_errors(value)
    ]
