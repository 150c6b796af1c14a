"""The API's documentation: Swagger UI at /docs, from the swagger-ui-bundle package's own
files (no CDN, works offline), reading the /openapi.json that flask-smorest builds.

`LedgerDocs` completes that document where decorators cannot: the path parameters'
descriptions, the roles of each operation in words (Swagger UI does not show `x-roles`), and
each operation's request and response examples (`api/examples.py`, by operationId).
"""

from __future__ import annotations

from typing import Any

from apispec import BasePlugin
from flask import Blueprint, Flask, Response, render_template_string, send_from_directory, url_for
from swagger_ui_bundle import swagger_ui_path

from api.examples import EXAMPLES
from api.fields import ID_PATTERN

PATH_PARAMETERS: dict[str, str] = {
    "member_id": "The member's id, as enrolled (coalition-wide, whichever partner enrolled it).",
    "partner_id": "The partner's id, as registered.",
    "transaction_id": "The acting partner's own transaction_id of the operation this path "
    "names: the accrual or redemption to reverse, or the operation to read.",
    "key_id": "The API key's id, as answered when it was issued (not the key itself).",
    "adjustment_id": "The adjustment's id, as sent when it was made.",
}
JSON = "application/json"
REQUEST_ID = "X-Request-Id"
REQUEST_ID_HEADER = {
    "description": "The request's id, as the client sent it, else a new one (also in the logs).",
    "schema": {"type": "string"},
}


class LedgerDocs(BasePlugin):  # type: ignore[misc]
    def path_helper(
        self,
        path: str | None = None,
        operations: dict[Any, Any] | None = None,
        parameters: list[dict[Any, Any]] | None = None,
        **kwargs: Any,
    ) -> str | None:
        values: dict[str, str] = {}
        for operation in (operations or {}).values():
            values.update(EXAMPLES.get(operation.get("operationId"), {}).get("path", {}))
        for parameter in parameters or ():
            if isinstance(parameter, dict) and parameter.get("in") == "path":
                name = parameter["name"]
                if name in PATH_PARAMETERS:
                    parameter.setdefault("description", PATH_PARAMETERS[name])
                parameter["schema"] = {"type": "string", "pattern": ID_PATTERN}
                if name in values:
                    parameter.setdefault("example", values[name])
        return None

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        for operation in (operations or {}).values():
            roles = operation.get("x-roles")
            said = (
                "**Roles:** " + ", ".join(f"`{role}`" for role in roles) + "."
                if roles
                else "**Roles:** none (no API key needed)."
            )
            description = operation.get("description")
            operation["description"] = f"{description}\n\n{said}" if description else said
            examples = EXAMPLES.get(operation.get("operationId"), {})
            if "request" in examples:
                operation["requestBody"]["content"][JSON]["example"] = examples["request"]
            for parameter in operation.get("parameters", ()):
                if parameter.get("in") == "query" and parameter["name"] in examples.get(
                    "query", {}
                ):
                    parameter["example"] = examples["query"][parameter["name"]]
            for status, response in operation.get("responses", {}).items():
                if isinstance(response, dict):
                    response.setdefault("headers", {})[REQUEST_ID] = REQUEST_ID_HEADER
                content = response.get("content", {}) if isinstance(response, dict) else {}
                # A write's replay (200) answers its original (201) body again.
                answer = examples.get(str(status)) or (
                    examples.get("201") if str(status) == "200" else None
                )
                if answer is not None and JSON in content:
                    content[JSON]["example"] = answer


PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>loyalty-ledger API</title>
  <link rel="stylesheet" href="{{ asset('swagger-ui.css') }}">
  <link rel="icon" type="image/png" href="{{ asset('favicon-32x32.png') }}">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{{ asset('swagger-ui-bundle.js') }}"></script>
  <script src="{{ asset('swagger-ui-standalone-preset.js') }}"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: {{ spec_url | tojson }},
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout",
    });
  </script>
</body>
</html>
"""

blp = Blueprint("docs", __name__)


@blp.get("/docs")
def page() -> str:
    return render_template_string(
        PAGE,
        spec_url=url_for("api-docs.openapi_json"),
        asset=lambda name: url_for("docs.asset", filename=name),
    )


@blp.get("/docs/assets/<path:filename>")
def asset(filename: str) -> Response:
    return send_from_directory(str(swagger_ui_path), filename, max_age=86400)


def install(app: Flask) -> None:
    app.register_blueprint(blp)
