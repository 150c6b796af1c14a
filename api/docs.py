"""The API's documentation: Swagger UI at /docs, from the swagger-ui-bundle package's own
files (no CDN, works offline), reading the /openapi.json that flask-smorest builds."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, render_template_string, send_from_directory, url_for
from swagger_ui_bundle import swagger_ui_path

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
