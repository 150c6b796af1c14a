"""The /openapi.json a real `loyalty-ledger serve` process answers is the complete document:
the same as the app's, every operation, field and parameter documented, every example valid."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from api.app import create_app
from ledger.config import Settings
from tests.api.openapi_checks import defects, example_mismatches
from tests.system.test_serve_http import start_service

pytestmark = pytest.mark.slow


def test_the_served_document_is_complete(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    service = start_service(url, tmp_path)
    try:
        served = requests.get(service.base + "/openapi.json", timeout=30)
        docs = requests.get(service.base + "/docs", timeout=30)
    finally:
        assert service.stop() == 0
    assert served.status_code == 200 and docs.status_code == 200
    spec = served.json()
    assert defects(spec) == []
    assert example_mismatches(spec) == []
    app = create_app(Settings(database_url=url))
    assert spec == app.test_client().get("/openapi.json").get_json()
