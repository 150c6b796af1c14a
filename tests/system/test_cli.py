"""The `loyalty-ledger` console script in a subprocess: --version, -h, keys, reports.

The reports run on the coalition of tests/integration/test_projections.py (recorded in
January 2026 by a manual clock), so every figure is fixed; the JSON must equal the body the
HTTP report answers on the same database. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from api.cli import main
from ledger.clock import ManualClock
from tests.api.test_queries import Reader, open_reader
from tests.system.test_serve_http import start_service

SCRIPT = Path(sys.executable).with_name("loyalty-ledger")


def run(
    *args: str, database_url: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed console script, with only the given LEDGER_* setting."""
    assert SCRIPT.exists(), f"the console script is not installed at {SCRIPT}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    if database_url is not None:
        env["LEDGER_DATABASE_URL"] = database_url
    done = subprocess.run([str(SCRIPT), *args], env=env, cwd=cwd, capture_output=True, timeout=120)
    # Decoded by hand: text mode would turn CSV's \r\n into \n.
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def succeeds(*args: str, database_url: str) -> str:
    done = run(*args, database_url=database_url)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


@pytest.fixture
def reader(database_url: str, clock: ManualClock) -> Iterator[Reader]:
    yield from open_reader(database_url, clock)


# ------------------------------------------------------------------ --version and -h


def test_version_is_the_package_version() -> None:
    done = run("--version")
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"loyalty-ledger {metadata.version('loyalty-ledger')}\n",
        "",
    )


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))
        else:
            yield (*prefix, name)


def test_every_command_and_group_takes_h_and_help() -> None:
    paths = list(command_paths(main))
    assert ("keys", "list") in paths and ("reports", "trial-balance") in paths
    with ThreadPoolExecutor(4) as pool:
        shorts = list(pool.map(lambda path: run(*path, "-h"), paths))
    for path, short in zip(paths, shorts, strict=True):
        assert (short.returncode, short.stderr) == (0, ""), path
        assert short.stdout.startswith(f"Usage: loyalty-ledger {' '.join(path)}".rstrip()), path
        assert "  -h, --help  " in short.stdout, path
        # -h and --help say the same (in process, where the terminal's width is the same).
        helps = [
            CliRunner().invoke(
                main, [*path, option], prog_name="loyalty-ledger", terminal_width=100
            )
            for option in ("-h", "--help")
        ]
        assert [(h.exit_code, h.output) for h in helps] == [(0, helps[1].output)] * 2, path


# ------------------------------------------------------------------------- keys


def test_keys_list_and_revoke(reader: Reader, database_url: str) -> None:
    ledger = reader.ledger
    _, partner = ledger.issue_key("partner", "air", "air tills", token="llk_cli_partner")
    reader.ledger.clock.set(reader.ledger.clock.now().replace(year=2027, month=3, day=4))
    _, auditor = ledger.issue_key("auditor", None, "external audit", token="llk_cli_auditor")
    assert (partner.key_id, auditor.key_id) == ("k5636409d305efeebed1", "k0bba4dd87415520abb6")

    revoked = run("keys", "revoke", partner.key_id, database_url=database_url)
    assert (revoked.returncode, revoked.stdout) == (0, "revoked key k5636409d305efeebed1\n")
    assert ledger.api_key(partner.key_id).revoked
    assert succeeds("keys", "list", database_url=database_url) == (
        "key_id                role     partner_id  name            revoked  created_at\n"
        "k5636409d305efeebed1  partner  air         air tills       yes      "
        "2027-01-16T00:00:00.000000Z\n"
        "k0bba4dd87415520abb6  auditor  -           external audit  no       "
        "2027-03-04T00:00:00.000000Z\n"
    )
    listed = json.loads(succeeds("keys", "list", "--format", "json", database_url=database_url))
    assert listed == reader.get("/v1/keys")["keys"]
    assert listed == [
        {
            "key_id": "k5636409d305efeebed1",
            "role": "partner",
            "partner_id": "air",
            "name": "air tills",
            "revoked": True,
            "created_at": "2027-01-16T00:00:00.000000Z",
        },
        {
            "key_id": "k0bba4dd87415520abb6",
            "role": "auditor",
            "partner_id": None,
            "name": "external audit",
            "revoked": False,
            "created_at": "2027-03-04T00:00:00.000000Z",
        },
    ]
    unknown = run("keys", "revoke", "k-nope", database_url=database_url)
    assert (unknown.returncode, unknown.stdout, unknown.stderr) == (
        1,
        "",
        "Error: key k-nope not found\n",
    )


# ---------------------------------------------------------------------- reports

JANUARY = ("--from", "2026-01-01", "--to", "2026-02-01T00:00:00Z")


def test_reports_as_json_equal_the_http_reports(reader: Reader, database_url: str) -> None:
    head = str(reader.head)
    cases: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [
        (
            ("settlement", *JANUARY, "--min-position", head),
            "/v1/reports/settlement",
            {"from": "2026-01-01", "to": "2026-02-01T00:00:00Z"},
        ),
        (
            ("liability", "--as-of", "2026-01-31T23:00:00Z"),
            "/v1/reports/liability",
            {"as_of": "2026-01-31T23:00:00Z"},
        ),
        (
            ("breakage", "--from", "2026-01-01", "--to", "2027-01-01"),
            "/v1/reports/breakage",
            {"from": "2026-01-01", "to": "2027-01-01"},
        ),
        (("trial-balance",), "/v1/reports/trial-balance", {}),
        (
            ("trial-balance", "--as-of", "2026-01-31T23:00:00Z"),
            "/v1/reports/trial-balance",
            {"as_of": "2026-01-31T23:00:00Z"},
        ),
    ]
    for args, path, query in cases:
        printed = json.loads(succeeds("reports", *args, database_url=database_url))
        assert printed == reader.get(path, **query), args
    settlement = json.loads(succeeds("reports", "settlement", *JANUARY, database_url=database_url))
    assert settlement["totals"] == {
        "points_issued": 7800,
        "amount_funded": "78.60",
        "points_redeemed": 70,
        "amount_reimbursed": "0.56",
        "net": "78.04",
    }
    liability = json.loads(
        succeeds(
            "reports", "liability", "--as-of", "2026-01-31T23:00:00Z", database_url=database_url
        )
    )
    assert liability == {
        "as_of": "2026-01-31T23:00:00.000000Z",
        "outstanding_points": 7900,
        "pending_points": 300,
        "debt_points": 20,
        "value": "79.00",
        "by_source": [
            {"source": "air", "points": 7500},
            {"source": "operator", "points": 100},
            {"source": "shop", "points": 300},
        ],
    }


def test_reports_as_csv(reader: Reader, database_url: str) -> None:
    reader.get("/v1/reports/tiers", min_position=reader.head)  # the projections caught up
    cases = {
        ("settlement", *JANUARY): (
            "partner_id,points_issued,amount_funded,points_redeemed,amount_reimbursed,net\r\n"
            "air,7500,75.00,70,0.56,74.44\r\n"
            "cafe,0,0.00,0,0.00,0.00\r\n"
            "shop,300,3.60,0,0.00,3.60\r\n"
        ),
        ("liability", "--as-of", "2026-01-31T23:00:00Z"): (
            "source,points\r\nair,7500\r\noperator,100\r\nshop,300\r\n"
        ),
        ("breakage", "--from", "2026-01-01", "--to", "2027-01-01"): (
            "source,points,points_expired,points_forfeited\r\n"
            "air,7500,7500,0\r\n"
            "operator,105,55,50\r\n"
            "shop,300,200,100\r\n"
        ),
        ("trial-balance",): (
            "account,debit,credit\r\n"
            "member:m1,8750,8750\r\n"
            "member:m2,105,105\r\n"
            "member:m3,150,150\r\n"
            "operator:bonus,175,0\r\n"
            "operator:breakage,0,7905\r\n"
            "partner:air:issued,8000,500\r\n"
            "partner:air:redeemed,0,70\r\n"
            "partner:cafe:issued,30,30\r\n"
            "partner:cafe:redeemed,500,500\r\n"
            "partner:shop:issued,300,0\r\n"
        ),
    }
    for args, expected in cases.items():
        assert succeeds("reports", *args, "--format", "csv", database_url=database_url) == expected


def test_report_options_are_checked_as_the_http_query(database_url: str, reader: Reader) -> None:
    done = run(
        "reports",
        "settlement",
        "--from",
        "2026-02-01",
        "--to",
        "2026-01-01",
        database_url=database_url,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.endswith("Error: --to: Must not be before from.\n"), done.stderr
    done = run("reports", "liability", "--as-of", "yesterday", database_url=database_url)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.endswith("Error: --as-of: Not a valid datetime.\n"), done.stderr


# ------------------------------------------------------- a database that is not there


def test_a_command_refuses_a_sqlite_database_that_does_not_exist(tmp_path: Path) -> None:
    done = run("keys", "list", cwd=tmp_path)
    missing = tmp_path / "var" / "ledger.sqlite"
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"Error: no ledger database at {missing} (LEDGER_DATABASE_URL=sqlite:///./var/ledger.sqlite)."
        " A relative path is relative to the working directory: run this where `loyalty-ledger "
        "serve` runs, or set LEDGER_DATABASE_URL to the database's absolute path "
        "(sqlite:////abs/path). `loyalty-ledger migrate` creates a new one.\n"
    )
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------- serve's first admin key


def test_serve_prints_the_first_admin_key_framed_after_one_migration_line(tmp_path: Path) -> None:
    service = start_service(f"sqlite:///{tmp_path / 'ledger.sqlite'}", tmp_path)
    try:
        service.call("GET", "/v1/program", expect=200)
    finally:
        assert service.stop() == 0
    rule = "=" * 78
    assert service.stdout.read_text() == (
        f"\n{rule}\nCreated the first admin API key (shown only this once):\n\n"
        f"    {service.admin_key}\n\n"
        "Keep it. Lost it? `loyalty-ledger keys create --role admin --name NAME` (where\n"
        f"serve runs, same LEDGER_DATABASE_URL) prints a new one.\n{rule}\n\n"
    )
    logged = [
        json.loads(line) for line in service.stderr.read_text().splitlines() if line[:1] == "{"
    ]
    migration_lines = [line for line in logged if "migrat" in line["logger"] + line["message"]]
    assert [(line["logger"], line["message"]) for line in migration_lines] == [
        ("api.migrate", "migrations applied")
    ]


def test_an_absolute_path_that_does_not_exist_is_refused_too(tmp_path: Path) -> None:
    missing = tmp_path / "elsewhere" / "ledger.sqlite"
    done = run("reports", "trial-balance", database_url=f"sqlite:///{missing}")
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        "",
        f"Error: no ledger database at {missing} (LEDGER_DATABASE_URL=sqlite:///{missing}). "
        "`loyalty-ledger migrate` creates a new one.\n",
    )
    assert list(tmp_path.iterdir()) == []
