"""The `loyalty-ledger` command line. Settings come from LEDGER_* environment variables.

Each command is a `@main.command()`; `settings_of(ctx)` and `opened_ledger(ctx)` give it the
configuration and a ledger that is closed when the command ends. Heavy modules are imported
inside the commands: `serve` must set up shared metrics before prometheus-client loads.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from ledger.access import ROLES
from ledger.application import Ledger
from ledger.config import Settings
from ledger.errors import LedgerError


@click.group()
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


@contextmanager
def opened_ledger(ctx: click.Context) -> Iterator[Ledger]:
    from projections.eventlog import open_ledger

    settings = settings_of(ctx)
    configure_logging(settings)
    ledger = open_ledger(settings=settings)
    try:
        yield ledger
    except LedgerError as error:
        raise click.ClickException(error.detail) from error
    finally:
        ledger.close()


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
    from api import serve as server

    server.prepare_metrics_dir()
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


# ------------------------------------------------------- projections and auditors


@main.command()
@click.option("--rebuild", is_flag=True, help="truncate every projection and replay from 0")
@click.option("--once", is_flag=True, help="catch up to the log head, then exit")
@click.pass_context
def project(ctx: click.Context, rebuild: bool, once: bool) -> None:
    """Run the projection runner alone (one active per database; others stand by)."""
    import signal

    from projections.worker import ProjectionWorker

    with opened_ledger(ctx) as ledger:
        worker = ProjectionWorker(settings_of(ctx), ledger)
        signal.signal(signal.SIGTERM, lambda *_: worker.request_stop())
        try:
            if rebuild:
                click.echo(f"rebuilt to position {worker.rebuild()}", err=True)
            if once:
                click.echo(f"caught up to position {worker.catch_up()}", err=True)
            else:
                worker.run_forever()
        except KeyboardInterrupt:
            pass
        finally:
            worker.stop()


@main.group()
def audit() -> None:
    """Auditor tools."""


@audit.command("verify")
@click.pass_context
def audit_verify(ctx: click.Context) -> None:
    """Recompute the hash chain and every projection from the events and compare.

    Prints the report as JSON; exits 1 (naming the first broken position) on a mismatch."""
    from projections.audit import verify
    from projections.store import open_target

    with opened_ledger(ctx) as ledger:
        target = open_target(ledger.settings)
        try:
            report = verify(ledger, target)
        finally:
            target.close()
    click.echo(json.dumps(report, default=str))
    if not report["ok"]:
        broken = report["first_broken_position"]
        where = f"first broken position {broken}" if broken else "projections differ"
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
