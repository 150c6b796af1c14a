"""The operations kit (ops/): its alert rules and dashboard name only metrics a real `serve`
exposes on /metrics after real traffic (and a projection failure), the dashboard shows every
one of them, and promtool accepts the rules, their unit tests and every dashboard query.

promtool comes with Prometheus (Debian: `apt-get install prometheus`); without it the promtool
test skips, unless LEDGER_REQUIRE_PROMTOOL=1 (CI), where it fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.system.test_serve_http import Service, open_shop, start_service

pytestmark = pytest.mark.slow
OPS = Path(__file__).resolve().parents[2] / "ops"
ALERTS = OPS / "prometheus" / "alerts.yml"
ALERT_TESTS = OPS / "prometheus" / "alerts.test.yml"
DASHBOARD = OPS / "grafana" / "loyalty-ledger.json"
METRIC_NAME = re.compile(r"\bledger_[a-z0-9_]+\b")
# Grafana's variables, as Grafana replaces them before a query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$instance": ".*"}


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [
        target["expr"]
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]
    variables = [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    assert variables == ["label_values(ledger_build_info, instance)"]
    return queries


def alert_expressions() -> dict[str, str]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def exposed_samples(service: Service) -> set[str]:
    """Sample names on /metrics once the traffic and the projection failure show there."""
    deadline = time.monotonic() + 60
    while True:
        text = requests.get(service.base + "/metrics", timeout=10).text
        names = {
            sample.name
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
        if "ledger_projection_failures_total" in names or time.monotonic() > deadline:
            return names
        time.sleep(0.5)


def traffic(service: Service) -> None:
    """Writes, a replay, a rejection, a read and a readiness check: every counter moves."""
    key = open_shop(service)
    service.call("POST", "/v1/members", {"member_id": "m-1"}, key=key)
    accrual = {
        "transaction_id": "t-1",
        "member_id": "m-1",
        "amount": "42.50",
        "currency": "EUR",
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    service.call("POST", "/v1/accruals", accrual, key=key)
    service.call("POST", "/v1/accruals", accrual, key=key, expect=200)
    redemption = {
        "transaction_id": "r-1",
        "member_id": "m-1",
        "points": 20,
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    position = service.call("POST", "/v1/redemptions", redemption, key=key)["position"]
    service.call(
        "POST",
        "/v1/redemptions",
        {**redemption, "transaction_id": "r-2", "points": 999},
        key=key,
        expect=422,
    )
    service.call("GET", f"/v1/members/m-1/balance?min_position={position}", key=key, expect=200)
    assert requests.get(service.base + "/readyz", timeout=10).status_code == 200


def poisoned_finance_projection(service: Service, database: Path) -> None:
    """A partner whose settlement row the database refuses (a trigger added behind the
    service's back): the finance projection group fails, round after round."""
    with sqlite3.connect(database) as conn:
        conn.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON partner_positions "
            "WHEN NEW.partner_id = 'bad' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
        )
    terms = {
        "partner_id": "bad",
        "name": "Bad",
        "currency": "EUR",
        "earn_rate": "1",
        "funding_rate": "0.01",
        "reimbursement_rate": "0.008",
        "pending_days": 0,
    }
    service.call("POST", "/v1/partners", terms)
    accrual = {
        "partner_id": "bad",
        "transaction_id": "b-1",
        "member_id": "m-1",
        "amount": "10.00",
        "currency": "EUR",
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    service.call("POST", "/v1/accruals", accrual)


def test_the_kit_names_exactly_the_metrics_a_real_serve_exposes(tmp_path: Path) -> None:
    database = tmp_path / "ledger.sqlite"
    service = start_service(f"sqlite:///{database}", tmp_path)
    try:
        traffic(service)
        poisoned_finance_projection(service, database)
        exposed = exposed_samples(service)
        with sqlite3.connect(database) as conn:
            # Cured, so the periodic sweep (which waits for the projections) lets serve stop.
            conn.execute("DROP TRIGGER poison")
    finally:
        assert service.stop() == 0
    exposed_families = {
        re.sub(r"_(total|bucket|sum|count)$", "", name)
        for name in exposed
        if name.startswith("ledger_")
    }
    assert exposed_families == {
        "ledger_build_info",
        "ledger_events_appended",
        "ledger_http_request_duration_seconds",
        "ledger_http_requests",
        "ledger_idempotent_replays",
        "ledger_points",
        "ledger_projection_failures",
        "ledger_projection_lag_events",
        "ledger_projection_lag_seconds",
        "ledger_projection_position",
        "ledger_rejections",
    }

    shown = {name for query in dashboard_queries() for name in METRIC_NAME.findall(query)}
    assert shown - exposed == set(), "the dashboard queries metrics /metrics does not expose"
    shown_families = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in shown}
    assert exposed_families - shown_families == set(), (
        "a metric /metrics exposes has no panel: add one to ops/grafana/loyalty-ledger.json"
    )

    alerted = {name for expr in alert_expressions().values() for name in METRIC_NAME.findall(expr)}
    assert alerted - exposed == set(), "an alert rule names a metric /metrics does not expose"
    assert sorted(alert_expressions()) == [
        "LedgerDatabaseUnavailable",
        "LedgerDown",
        "LedgerHigh5xxRate",
        "LedgerInternalServerErrors",
        "LedgerNotReady",
        "LedgerProjectionFailing",
        "LedgerProjectionLagging",
        "LedgerProjectionStalled",
    ]


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool not installed (Debian: apt-get install prometheus)"
        if os.environ.get("LEDGER_REQUIRE_PROMTOOL") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


def check(*args: str) -> str:
    done = subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_promtool_accepts_the_rules_their_tests_and_the_dashboard_queries(tmp_path: Path) -> None:
    assert check("check", "rules", str(ALERTS)).split() == [
        "Checking",
        str(ALERTS),
        "SUCCESS:",
        "8",
        "rules",
        "found",
    ]
    assert check("test", "rules", str(ALERT_TESTS)).split() == [
        "Unit",
        "Testing:",
        str(ALERT_TESTS),
        "SUCCESS",
    ]

    queries = dashboard_queries()
    rules: list[dict[str, Any]] = []
    for number, query in enumerate(queries, 1):
        for variable, value in GRAFANA_VARIABLES.items():
            query = query.replace(variable, value)
        assert "$" not in query, query
        rules.append({"record": f"dashboard:query_{number}", "expr": query})
    as_rules = tmp_path / "dashboard-queries.yml"
    as_rules.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert check("check", "rules", str(as_rules)).split() == [
        "Checking",
        str(as_rules),
        "SUCCESS:",
        str(len(queries)),
        "rules",
        "found",
    ]
