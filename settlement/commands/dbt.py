"""`settlement dbt ...`: dbt itself, on the database and settings the app uses (docs, tests, ...)."""

import datetime as dt

import click

from settlement import db, pipeline
from settlement.commands import DATE, UsageProblem, open_database
from settlement.config import get_settings

DBT_FAILED, DBT_ERROR = 1, 2  # dbt's own exit codes: a node failed; dbt could not run


@click.command(
    "dbt",
    short_help="Run dbt on the app's database and settings (docs, tests).",
    help="""Run dbt on the app's database and settings, with dbt's own output and exit code:
    `settlement dbt docs generate`, `settlement dbt test --select test_type:unit`.
    A plain `dbt build` from the project root does the same on the default database.
    dbt's own help: `dbt --help`, `dbt test --help`.""",
    context_settings={"ignore_unknown_options": True},
)
@click.option(
    "--date",
    type=DATE,
    default=None,
    help="The run date models compile for and tests check (default: the project's, yesterday).",
)
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
def command(date: dt.date | None, dbt_args: tuple[str, ...]) -> int:
    if not dbt_args:
        raise UsageProblem("give dbt's arguments", "e.g. settlement dbt docs generate, or settlement dbt --help")
    settings = get_settings()
    database = open_database(settings, needs_schema=False)
    result = pipeline.invoke_dbt(database.url, list(dbt_args), pipeline.dbt_vars(settings, date), quiet=False)
    if result.success:
        return 0
    if result.exception is not None:
        click.echo(
            f"error: dbt {' '.join(dbt_args)}: {db.first_line(str(result.exception))} — see dbt's output above, or `settlement dbt --help`",
            err=True,
        )
        return DBT_ERROR
    return DBT_FAILED
