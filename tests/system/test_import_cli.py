"""`loyalty-ledger import`, `keys create` and `sweep` through the click command line."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from api.cli import main
from api.key_cache import KeyCache
from api.migrate import migrate
from ledger.application import Ledger
from ledger.config import Settings
from ledger.partner import PartnerTerms


@pytest.fixture
def cli(database_url: str) -> Iterator[Any]:
    migrate(Settings(database_url=database_url))  # commands other than migrate and serve need one
    root = logging.getLogger()
    handlers = list(root.handlers)

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), env={"LEDGER_DATABASE_URL": database_url})

    yield invoke
    root.handlers[:] = handlers  # the commands route logs through their own handler


@pytest.fixture
def shop(database_url: str) -> str:
    ledger = Ledger(settings=Settings(database_url=database_url))
    ledger.register_partner(
        PartnerTerms("shop", "Shop", "EUR", Decimal("1"), Decimal("0.01"), Decimal("0.008"), 0)
    )
    ledger.close()
    return "shop"


def now() -> str:
    return datetime.now(UTC).isoformat()


def accrue(transaction_id: str, member_id: str, amount: str) -> dict[str, Any]:
    return {
        "op": "accrue",
        "transaction_id": transaction_id,
        "member_id": member_id,
        "amount": amount,
        "currency": "EUR",
        "occurred_at": now(),
    }


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    )
    return path


def read_results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_import_streams_in_chunks_and_reports_each_line(
    cli: Any, shop: str, tmp_path: Path
) -> None:
    source = write_lines(
        tmp_path / "day.ndjson",
        [
            {"op": "enroll", "member_id": "m1"},
            accrue("t1", "m1", "10.00"),
            "",
            "{broken",
            accrue("t2", "m1", "5.50"),
            {
                "op": "redeem",
                "transaction_id": "r1",
                "member_id": "m1",
                "points": 100,
                "occurred_at": now(),
            },
            {
                "op": "redeem",
                "transaction_id": "r2",
                "member_id": "m1",
                "points": 12,
                "occurred_at": now(),
            },
            {**accrue("t3", "m1", "1"), "partner_id": "other"},
        ],
    )
    results = tmp_path / "out.ndjson"
    run = cli(
        "import", "--partner", shop, "--chunk-size", "2", "--results", str(results), str(source)
    )
    assert run.exit_code == 1, run.output  # some operations were rejected
    assert "7 operations" in run.output
    lines = read_results(results)
    assert [(r["index"], r["status"]) for r in lines] == [
        (0, 201),
        (1, 201),
        (3, 400),
        (4, 201),
        (5, 422),
        (6, 201),
        (7, 403),
    ]
    assert lines[2]["body"]["type"].endswith("/malformed-request")
    assert lines[4]["body"]["type"].endswith("/insufficient-points")
    assert lines[5]["body"]["balance"]["available"] == 3  # 10 + 5 - 12

    again = cli("import", "--partner", shop, "--results", str(results), str(source))
    assert [r["status"] for r in read_results(results)] == [200, 200, 400, 200, 422, 200, 403]
    assert again.exit_code == 1


def test_import_of_a_clean_file_exits_zero_with_default_results(
    cli: Any, shop: str, tmp_path: Path
) -> None:
    source = write_lines(
        tmp_path / "ok.ndjson", [{"op": "enroll", "member_id": f"m{i}"} for i in range(25)]
    )
    run = cli("import", "--partner", shop, "--chunk-size", "10", str(source))
    assert run.exit_code == 0, run.output
    results = read_results(tmp_path / "ok.ndjson.results.ndjson")
    assert [r["index"] for r in results] == list(range(25))
    assert {r["status"] for r in results} == {201}


def test_import_for_an_unknown_partner_fails(cli: Any, tmp_path: Path) -> None:
    source = write_lines(tmp_path / "x.ndjson", [{"op": "enroll", "member_id": "m1"}])
    run = cli("import", "--partner", "ghost", str(source))
    assert run.exit_code == 1 and "partner ghost not found" in run.output


def test_keys_create_prints_a_working_key(cli: Any, shop: str, database_url: str) -> None:
    run = cli("keys", "create", "--role", "partner", "--partner", shop, "--name", "till")
    assert run.exit_code == 0, run.output
    token = run.stdout.strip().splitlines()[0]
    ledger = Ledger(settings=Settings(database_url=database_url))
    try:
        key = KeyCache(ledger).authenticate(token)
        assert key is not None and key.role == "partner" and key.partner_id == shop
    finally:
        ledger.close()
    refused = cli("keys", "create", "--role", "partner", "--name", "no partner")
    assert refused.exit_code == 1 and "partner_id" in refused.output


def test_sweep_command(cli: Any) -> None:
    run = cli("sweep")
    assert run.exit_code == 0, run.output
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["members_touched"] == 0 and report["as_of"].endswith("Z")
    assert cli("sweep", "--as-of", "2026-01-01T00:00:00").exit_code == 2  # no offset
    assert cli("sweep", "--as-of", "2999-01-01T00:00:00Z").exit_code == 1  # future


LINES = [
    b'{"op": "accrue", "amount": "1.00", "points": 3, "flag": true, "none": null}\n',
    b'{"b": "\\u00e9\\ud83d\\ude00"}',
    b'{"big": 123456789012345678901234567890}',
    b'{"neg": -9223372036854775809}',
    b'{"f": 1.5e300}',
    b'{"nested": {"x": [1, 2.0]}}',
    b'{"inf": 1e400}',
    b'{"lone": "\\ud800"}',
    b'\xef\xbb\xbf{"bom": 1}',
    b"[1, 2]",
    b'"text"',
    b"3",
]
# What the json module reads but a ledger must refuse: (line, slug, errors).
REFUSED = [
    (b'{"a": 1, "a": 2, "b": "x"}', "validation-error", {"a": ["Given more than once."]}),
    (b'{"a": "\\"", "a": 2}', "validation-error", {"a": ["Given more than once."]}),
    (b'{"x": {"y": 1, "y": 1}}', "validation-error", {"x.y": ["Given more than once."]}),
    (
        b"[" * 1000 + b"]" * 1000,
        "validation-error",
        {"_schema": ["Nested more than 32 levels deep."]},
    ),
    (b'{"nan": NaN}', "malformed-request", None),
    (b"{broken", "malformed-request", None),
    (b'{"bad": "\xff"}', "malformed-request", None),
    (b'{"ctl": "\x01"}', "malformed-request", None),
    (b'{"n": ' + b"1" * 5000 + b"}", "malformed-request", None),
    (b"[" * 100_000, "malformed-request", None),
]


@pytest.mark.parametrize("line", LINES)
def test_lines_parse_as_the_json_module_parses_them(line: bytes) -> None:
    from api.importer import parse_line

    expected = json.loads(line)
    got = parse_line(line, 7)
    assert repr(got) == repr(expected)
    if isinstance(got, dict):
        assert [type(v) for v in got.values()] == [type(v) for v in expected.values()]


@pytest.mark.parametrize(
    ("line", "slug", "errors"),
    REFUSED,
    ids=[
        "repeated",
        "repeated-escaped",
        "repeated-nested",
        "deep",
        "nan",
        "broken",
        "not-utf8",
        "control",
        "huge-number",
        "deep-unclosed",
    ],
)
def test_lines_a_ledger_refuses_are_their_problem(
    line: bytes, slug: str, errors: dict[str, list[str]] | None
) -> None:
    from api.importer import parse_line
    from api.problems import Problem

    got = parse_line(line, 7)
    assert isinstance(got, Problem)
    assert (got.slug, got.errors) == (slug, errors)
    assert got.detail.startswith("Line at index 7: ")


@pytest.mark.parametrize(
    "body",
    [
        {"type": "x", "errors": {"colour": ["Unknown field."]}, "n": -3, "none": None, "t": True},
        {"errors": {"colé ur \u2028 😀": ["Unknown field."]}},
        {"text": 'quote " backslash \\ newline \n tab \t nul \x00 unit \x1f del \x7f'},
        {"big": 2**70, "list": [1, {"a": []}], "decimal_text": "12.50"},
    ],
)
def test_result_lines_are_the_json_module_bytes(body: dict[str, Any]) -> None:
    from api.importer import result_line

    result = {"index": 7, "status": 422, "body": body}
    assert result_line(result) == (json.dumps(result, separators=(",", ":")) + "\n").encode()


def test_import_as_a_process_reports_every_line_and_keeps_the_bar_clear(
    database_url: str, shop: str, tmp_path: Path
) -> None:
    from tests.system.test_cli import run

    deep = "[" * 1000 + "]" * 1000
    repeated = json.dumps(accrue("t2", "m1", "10.00"))[:-1] + ', "amount": "99999.00"}'
    source = write_lines(
        tmp_path / "day.ndjson",
        [
            {"op": "enroll", "member_id": "m1"},
            accrue("t1", "m1", "10.00"),
            "",
            "{broken",
            deep,
            repeated,
            {"op": "enroll", "member_id": "ma-nl\n"},
            {**accrue("t3", "m1", "1.00"), "bonus_points": 1_000_000},
            accrue("t4", "m1", "5.00"),
        ],
    )
    done = run("import", "--partner", shop, str(source), database_url=database_url)
    results = tmp_path / "day.ndjson.results.ndjson"
    assert (done.returncode, done.stdout) == (
        1,
        f"8 operations (3 x 201, 1 x 400, 4 x 422); results in {results}\n",
    )
    lines = read_results(results)
    assert [(r["index"], r["status"]) for r in lines] == [
        (0, 201),
        (1, 201),
        (3, 400),
        (4, 422),
        (5, 422),
        (6, 422),
        (7, 422),
        (8, 201),
    ]
    invalid = "https://loyalty-ledger.dev/problems/validation-error"
    limit = "this accrual would give 1000001 points; the program allows at most 100000 per accrual"
    assert [r["body"] for r in lines if r["status"] >= 400] == [
        {
            "type": "https://loyalty-ledger.dev/problems/malformed-request",
            "title": "The request body is not valid JSON",
            "status": 400,
            "detail": "Line at index 3: Not valid JSON: Expecting property name enclosed in "
            "double quotes: line 1 column 2 (char 1)",
        },
        {
            "type": invalid,
            "title": "The request is not valid",
            "status": 422,
            "detail": "Line at index 4: Nested more than 32 levels deep.",
            "errors": {"_schema": ["Nested more than 32 levels deep."]},
        },
        {
            "type": invalid,
            "title": "The request is not valid",
            "status": 422,
            "detail": "Line at index 5: A key is given more than once.",
            "errors": {"amount": ["Given more than once."]},
        },
        {
            "type": invalid,
            "title": "The request is not valid",
            "status": 422,
            "detail": "The request is not valid.",
            "errors": {"member_id": ["Must match [A-Za-z0-9._:-]{1,64}."]},
        },
        {
            "type": invalid,
            "title": "The request is not valid",
            "status": 422,
            "detail": limit,
            "errors": {"bonus_points": [limit]},
        },
    ]
    assert [r["body"]["balance"]["available"] for r in lines if r["status"] == 201] == [0, 10, 15]
    # The bar counts operations, and no per-operation log line is written over it.
    assert "day.ndjson: 100%" in done.stderr and "8/8" in done.stderr
    assert '"ledger.commands"' not in done.stderr
