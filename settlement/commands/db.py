"""`settlement db ...`: where the database is, its schema and partitions."""

import datetime as dt
from collections.abc import Callable

import alembic.util
import click
import psycopg
import sqlalchemy.exc

from settlement import db, migrations, warehouse
from settlement.commands import DATE, CommandError, UsageProblem, open_database
from settlement.config import get_settings


@click.group("db", help="The database: where it is, its schema, its partitions.")
def command() -> None:
    pass


@command.command("url", help="Print the URL of the database in use (and, on stderr, what chose it).")
def url() -> None:
    database = db.resolve_database(get_settings())
    click.echo(database.url)
    click.echo(f"# from: {database.source}", err=True)


@command.command("upgrade", help="Migrate the schema to REVISION (default: the newest).")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    database = open_database(get_settings(), needs_schema=False)
    click.echo(f"database: {db.describe(database.url)} ({database.source})", err=True)
    migrate(migrations.upgrade, database, revision, "upgrade")


@command.command("downgrade", help="Migrate the schema back to REVISION (default: base, an empty schema).")
@click.argument("revision", default="base")
def downgrade(revision: str) -> None:
    database = open_database(get_settings(), needs_schema=False)
    click.echo(f"database: {db.describe(database.url)} ({database.source})", err=True)
    migrate(migrations.downgrade, database, revision, "downgrade")


def migrate(step: Callable[[str, str], None], database: db.Database, revision: str, verb: str) -> None:
    """Runs an alembic step; any failure is one line naming the revision the schema stopped at (each
    migration is its own transaction)."""
    where = db.describe(database.url)
    try:
        step(database.url, revision)
    except alembic.util.CommandError as exc:
        raise CommandError(
            f"cannot {verb} {where} to {revision}: {exc}",
            "a revision is head, base, or a file name in alembic/versions (e.g. 0010)",
        ) from exc
    except (psycopg.Error, sqlalchemy.exc.DBAPIError) as exc:
        cause = getattr(exc, "orig", None) or exc
        stopped = f"{db.first_line(str(cause))} (the schema is at revision {current_revision(database.url)})"
        if isinstance(cause, psycopg.errors.DependentObjectsStillExist):
            raise CommandError(
                f"cannot {verb} {where} to {revision}: {stopped}",
                f"the engine's results depend on these tables: drop them first (DROP SCHEMA {warehouse.ANALYTICS_SCHEMA}, "
                f"{warehouse.BUILD_SCHEMA} CASCADE); `settlement run --rebuild` builds them again",
            ) from exc
        raise CommandError(f"cannot {verb} {where} to {revision}: {stopped}", "run with --verbose for the details") from exc


def current_revision(url: str) -> str:
    with psycopg.connect(url) as conn:
        if db.one_row(conn.execute("SELECT to_regclass('alembic_version')"))[0] is None:
            return "none"
        return ", ".join(row[0] for row in conn.execute("SELECT version_num FROM alembic_version")) or "none"


@command.command("partitions", help="Create the daily event partitions of a date range (platform days).")
@click.option("--from", "first", type=DATE, required=True, help="First day.")
@click.option("--to", "last", type=DATE, required=True, help="Last day.")
def partitions(first: dt.date, last: dt.date) -> None:
    if first > last:
        raise UsageProblem(
            f"--from {first} is after --to {last}", f"swap them: settlement db partitions --from {last} --to {first}"
        )
    settings = get_settings()
    with open_database(settings).connect(autocommit=True) as conn:
        created = migrations.ensure_day_partitions(conn, first, last, settings.time_zone)
    click.echo(f"created {created} partitions for {first} .. {last} ({settings.time_zone})")


@command.command("summary", help="List the tables of the schema, their partitions and columns.")
def summary() -> None:
    with open_database(get_settings(), needs_schema=False).connect() as conn:
        print_schema_summary(conn)


def print_schema_summary(conn: psycopg.Connection) -> None:
    rows = migrations.schema_summary(conn)
    click.echo(f"{'table':<24} {'kind':<12} {'partitions':>10} {'columns':>8}")
    for name, kind, partition_count, columns in rows:
        click.echo(f"{name:<24} {kind:<12} {partition_count:>10} {columns:>8}")
