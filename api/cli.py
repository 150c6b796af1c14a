"""The `loyalty-ledger` command line. Settings come from LEDGER_* environment variables.

Each command is a `@main.command()`; `settings_of(ctx)` and `opened_ledger(ctx)` give it the
configuration and a ledger that is closed when the command ends. Heavy modules are imported
inside the commands: `serve` must set up shared metrics before prometheus-client loads.

Only `serve` and `migrate` create a database. Every other command refuses a SQLite file that
does not exist yet: the default `sqlite:///./var/ledger.sqlite` is relative to the working
directory, and a command run elsewhere would otherwise answer from a new, empty ledger.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from marshmallow.fields import List, Nested

from ledger.access import ROLES
from ledger.application import Ledger
from ledger.config import Settings, sqlite_path
from ledger.errors import LedgerError

if TYPE_CHECKING:
    from projections.store import Target

PACKAGE = "loyalty-ledger"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name=PACKAGE, prog_name=PACKAGE, message="%(prog)s %(version)s")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Event-sourced points ledger for coalition loyalty schemes."""
    ctx.obj = Settings.from_env()


def settings_of(ctx: click.Context) -> Settings:
    settings: Settings = ctx.find_root().obj
    return settings


def configure_logging(settings: Settings) -> None:
    from api import logs

    logs.configure(settings)


def require_existing_database(settings: Settings) -> None:
    """Refuse to open a SQLite ledger that does not exist yet (opening would create it)."""
    if settings.backend != "sqlite":
        return
    path = sqlite_path(settings.database_url)
    if path == ":memory:" or Path(path).exists():
        return
    hint = (
        "A relative path is relative to the working directory: run this where "
        "`loyalty-ledger serve` runs, or set LEDGER_DATABASE_URL to the database's absolute "
        "path (sqlite:////abs/path). "
        if not Path(path).is_absolute()
        else ""
    )
    raise click.ClickException(
        f"no ledger database at {Path(path).resolve()} "
        f"(LEDGER_DATABASE_URL={settings.database_url}). {hint}"
        "`loyalty-ledger migrate` creates a new one."
    )


@contextmanager
def opened_ledger(ctx: click.Context) -> Iterator[Ledger]:
    settings = settings_of(ctx)
    require_existing_database(settings)
    configure_logging(settings)
    ledger = Ledger(settings=settings)
    try:
        yield ledger
    except LedgerError as error:
        raise click.ClickException(error.detail) from error
    finally:
        ledger.close()


def prepare_metrics_dir() -> None:
    """Counters shared by the workers live in files. prometheus-client decides where it keeps
    values when it is imported (api.serve imports it), so this comes first."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="loyalty-ledger-metrics-")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="HTTP worker processes",
)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int) -> None:
    """Run the HTTP service (gunicorn) with its projection runner and periodic sweep."""
    prepare_metrics_dir()
    from api import serve as server

    settings = settings_of(ctx)
    configure_logging(settings)
    try:
        server.announce_admin_key(server.prepare_database(settings))
    except server.DATABASE_DOWN as error:
        # Serve anyway: /readyz and writes answer 503 until the database returns, and the
        # background process migrates (and creates the first admin key) then.
        click.echo(
            f"database unreachable ({type(error).__name__}); serving 503 until it answers", err=True
        )
    else:
        # The schema is in place: no process should race to create it again (PostgreSQL
        # answers concurrent CREATE ... IF NOT EXISTS with "tuple concurrently updated").
        settings = dataclasses.replace(settings, create_tables=False)
    sys.stdout.flush()
    server.serve(settings, host, port, workers)


@main.command("migrate")
@click.pass_context
def migrate_command(ctx: click.Context) -> None:
    """Create or upgrade every table, trigger and grant (idempotent)."""
    from api.migrate import migrate

    settings = settings_of(ctx)
    configure_logging(settings)
    migrate(settings)
    click.echo("database is up to date")


@main.group()
def keys() -> None:
    """API keys."""
    # Each key command prints what it did; the ledger's command log line would repeat it.
    logging.getLogger("ledger.commands").setLevel(logging.WARNING)


@keys.command("create")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--partner", "partner_id", help="the partner a partner key is bound to")
@click.option("--name", required=True, help="who or what the key is for")
@click.pass_context
def create_key(ctx: click.Context, role: str, partner_id: str | None, name: str) -> None:
    """Issue an API key and print it (it is shown only this once)."""
    with opened_ledger(ctx) as ledger:
        token, key = ledger.issue_key(role, partner_id, name)
    click.echo(token)
    click.echo(f"key_id {key.key_id} role {key.role}", err=True)


KEY_COLUMNS = ("key_id", "role", "partner_id", "name", "revoked", "created_at")


@keys.command("list")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@click.pass_context
def list_keys(ctx: click.Context, output: str) -> None:
    """Every key ever issued, in the order issued, revoked ones included (never a secret)."""
    from api.admin_schemas import KeyViewSchema
    from api.blueprints.admin import key_view

    with opened_ledger(ctx) as ledger:
        listed = KeyViewSchema(many=True).dump([key_view(key) for key in ledger.api_keys()])
    if output == "json":
        click.echo(json.dumps(listed))
        return
    rows = [KEY_COLUMNS, *([_cell(key[c]) for c in KEY_COLUMNS] for key in listed)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(KEY_COLUMNS))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@keys.command("revoke")
@click.argument("key_id")
@click.pass_context
def revoke_key(ctx: click.Context, key_id: str) -> None:
    """Revoke KEY_ID (as DELETE /v1/keys/{key_id}): every later request with it is refused."""
    with opened_ledger(ctx) as ledger:
        ledger.revoke_key(key_id)
    click.echo(f"revoked key {key_id}")


@main.command()
@click.option("--as-of", "as_of", help="RFC 3339 time with an offset (default now)")
@click.pass_context
def sweep(ctx: click.Context, as_of: str | None) -> None:
    """Emit the activations, expiries and tier downgrades due at --as-of."""
    from marshmallow import ValidationError

    from api.fields import Timestamp
    from api.schemas import SweepSchema
    from projections.sweeps import run_sweep

    try:
        moment = Timestamp().deserialize(as_of) if as_of else None
    except ValidationError as error:
        message = "; ".join(map(str, error.messages))
        raise click.BadParameter(message, param_hint="--as-of") from error
    with opened_ledger(ctx) as ledger:
        report = run_sweep(ledger, moment)
    click.echo(json.dumps(SweepSchema().dump(report)))


@main.command("import")
@click.option("--partner", "partner_id", required=True, help="the partner the file is for")
@click.option(
    "--results",
    "results_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="results file (default: FILE.results.ndjson)",
)
@click.option(
    "--chunk-size",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="operations per batch",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_command(
    ctx: click.Context, partner_id: str, results_path: Path | None, chunk_size: int, file: Path
) -> None:
    """Apply FILE's batch operations (one JSON object a line) for a partner, streaming.

    Writes one result line per operation ({index, status, body}; index = line number from 0)
    and exits 1 if any operation was rejected.
    """
    from api.importer import import_file

    results_path = results_path or file.with_name(file.name + ".results.ndjson")
    with opened_ledger(ctx) as ledger:
        ledger.partner(partner_id)
        summary = import_file(ledger, partner_id, file, results_path, chunk_size)
    click.echo(f"{summary.describe()}; results in {results_path}")
    if summary.rejected:
        ctx.exit(1)


# ------------------------------------------------------------------ finance reports


@main.group()
def reports() -> None:
    """Finance reports, as GET /v1/reports/* answers them, to stdout.

    JSON is the HTTP answer's body; CSV is a header row, then one row per line of the
    report's list (no totals row). Periods are [--from, --to) on recorded time."""


REPORT_FORMAT = click.option(
    "--format",
    "output",
    type=click.Choice(["json", "csv"]),
    default="json",
    show_default=True,
)
MIN_POSITION = click.option(
    "--min-position",
    "min_position",
    type=int,
    help="first wait (up to LEDGER_READ_WAIT_SECONDS) until the projections applied this position",
)
FROM = click.option("--from", "start", required=True, help="RFC 3339 time with an offset")
TO = click.option("--to", "end", required=True, help="RFC 3339 time with an offset (exclusive)")
AS_OF = click.option("--as-of", "as_of", help="RFC 3339 time with an offset (default now)")


def report_arguments(schema: type[Any], options: dict[str, str | int | None]) -> dict[str, Any]:
    """The options, checked by the HTTP report's own query schema (same rules, same messages)."""
    from marshmallow import ValidationError

    query = {name: value for name, value in options.items() if value is not None}
    try:
        arguments: dict[str, Any] = schema().load(query)
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {"": error.messages}
        problems = [
            f"--{name.replace('_', '-')}: {' '.join(map(str, texts))}"
            for name, texts in messages.items()
        ]
        raise click.UsageError("; ".join(problems)) from error
    return arguments


@contextmanager
def report_target(ledger: Ledger, min_position: int | None) -> Iterator[Target]:
    """The projection tables, once they have applied `min_position` (as the HTTP reports)."""
    from projections.runner import ensure_applied
    from projections.store import open_target

    target = open_target(ledger.settings)
    try:
        target.ensure_schema()
        wait = ledger.settings.read_wait_seconds
        if min_position and not ensure_applied(ledger, target, min_position, wait):
            raise click.ClickException(
                f"the projections have not applied position {min_position} yet; try again"
            )
        yield target
    finally:
        target.close()


def print_report(body: dict[str, Any], schema: type[Any], output: str, key: str) -> None:
    """The report as the HTTP answer's JSON, or as CSV: the report's list, `key` first."""
    from api.blueprints.queries import jsonable

    dumped = schema().dump(jsonable(body))
    if output == "json":
        click.echo(json.dumps(dumped))
        return
    import csv
    import io

    listed = next(f for f in schema().dump_fields.values() if isinstance(f, List))
    assert isinstance(listed.inner, Nested)
    columns = [f.data_key or name for name, f in listed.inner.schema.dump_fields.items()]
    columns.sort(key=lambda column: column != key)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(columns)
    for line in dumped[listed.data_key or listed.name]:
        writer.writerow([_csv_cell(line[column]) for column in columns])
    click.echo(text.getvalue(), nl=False)


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


@reports.command("settlement")
@FROM
@TO
@MIN_POSITION
@REPORT_FORMAT
@click.pass_context
def settlement_report(
    ctx: click.Context, start: str, end: str, min_position: int | None, output: str
) -> None:
    """Per partner over [--from, --to): issued and funded, redeemed and reimbursed, net."""
    from api import read_schemas
    from api.blueprints.finance import PeriodArgs
    from projections import reads

    query = {"from": start, "to": end, "min_position": min_position}
    arguments = report_arguments(PeriodArgs, query)
    with opened_ledger(ctx) as ledger, report_target(ledger, arguments.get("min_position")) as t:
        currency = ledger.program().currency
        body = reads.settlement(t, arguments["start"], arguments["end"], currency)
    print_report(body, read_schemas.SettlementSchema, output, "partner_id")


@reports.command("liability")
@AS_OF
@MIN_POSITION
@REPORT_FORMAT
@click.pass_context
def liability_report(
    ctx: click.Context, as_of: str | None, min_position: int | None, output: str
) -> None:
    """Outstanding points by issuing source and their value, now or --as-of (replayed)."""
    from api import read_schemas
    from api.blueprints.finance import AsOfArgs
    from projections import reads

    arguments = report_arguments(AsOfArgs, {"as_of": as_of, "min_position": min_position})
    with opened_ledger(ctx) as ledger, report_target(ledger, arguments.get("min_position")) as t:
        body = reads.liability_report(ledger, t, arguments.get("as_of"))
    print_report(body, read_schemas.LiabilitySchema, output, "source")


@reports.command("breakage")
@FROM
@TO
@MIN_POSITION
@REPORT_FORMAT
@click.pass_context
def breakage_report(
    ctx: click.Context, start: str, end: str, min_position: int | None, output: str
) -> None:
    """Points expired (and forfeited at closing) per issuing source over [--from, --to)."""
    from api import read_schemas
    from api.blueprints.finance import PeriodArgs
    from projections import reads

    query = {"from": start, "to": end, "min_position": min_position}
    arguments = report_arguments(PeriodArgs, query)
    with opened_ledger(ctx) as ledger, report_target(ledger, arguments.get("min_position")) as t:
        body = reads.breakage(t, arguments["start"], arguments["end"])
    print_report(body, read_schemas.BreakageSchema, output, "source")


@reports.command("trial-balance")
@AS_OF
@MIN_POSITION
@REPORT_FORMAT
@click.pass_context
def trial_balance_report(
    ctx: click.Context, as_of: str | None, min_position: int | None, output: str
) -> None:
    """Debits and credits (points) per account, now or --as-of; the total is zero."""
    from api import read_schemas
    from api.blueprints.finance import AsOfArgs
    from projections import reads

    arguments = report_arguments(AsOfArgs, {"as_of": as_of, "min_position": min_position})
    with opened_ledger(ctx) as ledger, report_target(ledger, arguments.get("min_position")) as t:
        body = reads.trial_balance(t, arguments.get("as_of"))
    print_report(body, read_schemas.TrialBalanceSchema, output, "account")


# ------------------------------------------------------- projections and auditors


# `project --rebuild --wait` gave up: another runner kept the lock (sysexits' EX_TEMPFAIL).
LOCK_HELD_EXIT = 75


@main.command()
@click.option("--rebuild", is_flag=True, help="truncate every projection and replay from 0")
@click.option("--once", is_flag=True, help="catch up to the log head, then exit")
@click.option(
    "--wait",
    "wait",
    type=click.FloatRange(min=0),
    help="with --rebuild: give up (exit 75) if another runner still holds a projection lock "
    "after this many seconds (default: wait until it stops)",
)
@click.pass_context
def project(ctx: click.Context, rebuild: bool, once: bool, wait: float | None) -> None:
    """Run the projection runner alone (one active per database; others stand by).

    SIGTERM or SIGINT stops it; one that stops --rebuild or --once before it is done exits
    128 + the signal's number, saying how far it got."""
    import signal

    from projections import lifeline
    from projections.worker import Interrupted, LockHeld, ProjectionWorker

    if wait is not None and not rebuild:
        raise click.UsageError("--wait applies to --rebuild only")
    with opened_ledger(ctx) as ledger:
        worker = ProjectionWorker(settings_of(ctx), ledger)
        received: list[int] = []

        def stop(signum: int) -> None:
            received.append(signum)
            worker.request_stop()

        lifeline.on_stop_signals(stop)
        doing = "rebuild" if rebuild else "catch-up"
        try:
            if rebuild:
                click.echo(f"rebuilt to position {worker.rebuild(wait)}", err=True)
                doing = "catch-up"
            if once:
                click.echo(f"caught up to position {worker.catch_up()}", err=True)
            else:
                worker.run_forever()
        except LockHeld as held:
            groups = ", ".join(held.groups)
            click.echo(
                f"Error: another runner (`serve` or `project`) still holds the projection lock "
                f"of {groups} after {wait:g} s; nothing was rebuilt",
                err=True,
            )
            ctx.exit(LOCK_HELD_EXIT)
        except Interrupted as stopped:
            if stopped.position is None:
                click.echo(
                    "Error: stopped while waiting for the lock; nothing was rebuilt", err=True
                )
            else:
                click.echo(
                    f"Error: {doing} stopped at position {stopped.position}, before the log head; "
                    "a runner (`serve` or `project`) carries on from there",
                    err=True,
                )
            ctx.exit(128 + (received[0] if received else signal.SIGTERM))
        finally:
            worker.stop()


@main.group()
def audit() -> None:
    """Auditor tools."""


def _digest(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[int, str] | None:
    if value is None:
        return None
    position, _, digest = value.partition(":")
    if not (position.isdecimal() and int(position) >= 1 and re.fullmatch(r"[0-9a-f]{64}", digest)):
        raise click.BadParameter("expected POSITION:HASH (a position >= 1, 64 hex digits)")
    return int(position), digest


@audit.command("verify")
@click.option(
    "--digest",
    callback=_digest,
    metavar="POSITION:HASH",
    help="a digest kept earlier (GET /v1/audit/digest) that must still be on the chain",
)
@click.pass_context
def audit_verify(ctx: click.Context, digest: tuple[int, str] | None) -> None:
    """Recompute the hash chain over the whole log and every projection from the events.

    Prints the report as JSON; exits 1 (naming the first broken position) on a mismatch."""
    from projections.audit import verify
    from projections.store import open_target

    with opened_ledger(ctx) as ledger:
        target = open_target(ledger.settings)
        try:
            report = verify(ledger, target, digest)
        finally:
            target.close()
    click.echo(json.dumps(report, default=str))
    if not report["ok"]:
        broken = report["first_broken_position"]
        if broken is not None:
            where = f"first broken position {broken}"
        elif report["digest_ok"] is False:
            where = "the digest is not on the chain"
        else:
            where = "projections differ"
        click.echo(f"audit verify FAILED: {where}", err=True)
        ctx.exit(1)


@main.command()
@click.option("--until", required=True, help="RFC 3339 time with an offset")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def replay(ctx: click.Context, until: str, out: Path) -> None:
    """Write every projection as it stood at --until, one CSV file per table, into --out."""
    from marshmallow import ValidationError

    from api.fields import Timestamp
    from projections.audit import replay_until

    try:
        moment = Timestamp().deserialize(until)
    except ValidationError as error:
        message = "; ".join(map(str, error.messages))
        raise click.BadParameter(message, param_hint="--until") from error
    with opened_ledger(ctx) as ledger:
        counts = replay_until(ledger, moment, out)
    click.echo(json.dumps({"until": until, "out": str(out), "rows": counts}))


if __name__ == "__main__":
    main()
