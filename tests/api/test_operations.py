"""/healthz, /readyz, /metrics: no auth; readiness follows the database and migrations."""

from __future__ import annotations

from api.app import create_app
from api.migrate import migrate
from ledger.config import Settings
from tests.api.ops_helpers import deploy
from tests.system.pg_cluster import free_port


def test_healthz_and_metrics_need_no_key(sqlite_url: str) -> None:
    client = deploy(sqlite_url).client
    assert client.get("/healthz").status_code == 200
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    assert 'ledger_build_info{version="' in response.get_data(as_text=True)


def test_readyz_waits_for_migrations(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url)
    client = create_app(settings=settings).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["type"].endswith("/unavailable")
    assert "migrate" in response.get_json()["detail"]
    migrate(settings)
    assert client.get("/readyz").status_code == 200


def test_postgres_unreachable_process_stays_up_but_not_ready() -> None:
    url = f"postgresql://ledger:pw@127.0.0.1:{free_port()}/ledger"
    client = create_app(settings=Settings(database_url=url, db_connect_timeout=1)).test_client()
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"].endswith("/unavailable")
    assert int(response.headers["Retry-After"]) > 0
    write = client.post("/v1/accruals", json={}, headers={"Authorization": "Bearer x"})
    assert write.status_code == 503
    assert write.get_json()["type"].endswith("/unavailable")


def test_readyz_on_migrated_postgres(pg_url: str) -> None:
    settings = Settings(database_url=pg_url)
    migrate(settings)
    app = create_app(settings=settings)
    assert app.test_client().get("/readyz").status_code == 200
    app.extensions["ledger"].close()
