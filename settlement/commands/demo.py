"""`settlement demo`: fills the default database (the one the next commands use) with two days of demo
data, the last two days of the month before this one, settles them and prints the last day's results;
then closes that month, issues its statements and makes one payment run (SPEC.md "Payments"), and
prints where to see them and the commands to try next. (The days are last month's so that a whole
month is over and closed: the platform's first settled day starts its history, so the month counts
from it, and settling takes two days, not a month's.)

It never drops a database that holds someone's data: it recreates a database only if the demo made it
(COMMENT ON DATABASE marks it), fills one that is missing or empty, and refuses any other."""

import datetime as dt
import shutil
import sys
from pathlib import Path

import click
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from api.studio import demo_login
from settlement import clock, closing, db, generate, migrations, payments, pipeline, settling, warehouse
from settlement.commands import CommandError, cli_state, settings_on, settle_with_progress
from settlement.config import PROJECT_ROOT, EngineSettings, get_settings

DEMO_MARK = "made by `settlement demo`, which may drop and recreate it"
DERIVED_SCHEMAS = (warehouse.ANALYTICS_SCHEMA, warehouse.BUILD_SCHEMA)  # rebuilt by every run: not data


def demo_data(last_day: dt.date) -> generate.GenerateConfig:
    """A few hundred videos and thousands of events a day; the first day gives the view window a history."""
    return generate.GenerateConfig(
        videos=300, users=3_000, days=2, events_per_day=20_000, seed=2026, first_day=last_day - dt.timedelta(days=1)
    )


@click.command(
    "demo",
    short_help="Fill the default database with demo days, settle them, pay their month, print the results.",
    help="""Fill the default database with two days of demo data (the last two days of last month),
    settle them and print the last day's results; close the month, issue its statements and make a
    payment run; then print where to see them and the commands to try next (on the same database).
    A database the demo did not make is filled only if it is empty; one holding data is left alone.""",
)
@click.option(
    "--database-name",
    metavar="NAME",
    help="Fill this database on the same server instead (default: SETTLEMENT_DATABASE_NAME, or DATABASE_URL's).",
)
def command(database_name: str | None) -> None:
    settings = get_settings()
    server, source = db.server_url(settings)
    name = database_name or default_database_name(settings)
    database = db.Database(db.with_database(server, name), source)
    cli_state().database = database
    how = prepare_demo_database(database, server, name)
    click.echo(f"demo database: {db.describe(database.url)} ({source}), {how}")

    migrations.upgrade(database.url)
    last_day = demo_last_day(settings)
    report = generate.generate(database.url, demo_data(last_day), progress=False, settings=settings)
    click.echo(f"generated: {', '.join(f'{count:,} {table}' for table, count in report.rows.items())}")

    on_demo_database = settings_on(settings, database)
    with psycopg.connect(database.url, autocommit=True) as conn:
        plan = settling.planned_days(conn, last_day, last_day, on_demo_database, rebuild=False)
        click.echo(settling.describe_plan(plan, last_day, last_day, rebuild=False))
        settle_with_progress(on_demo_database, last_day, last_day, plan, trigger="demo")
        for line in settling.day_summary(conn, last_day):
            click.echo(line)
    pay_the_month(on_demo_database, database.url, last_day)
    print_next_steps(database, settings, name, last_day)


def demo_last_day(settings: EngineSettings) -> dt.date:
    """The last day of the month before this one (platform time): a month that is over."""
    return clock.today(settings.time_zone).replace(day=1) - dt.timedelta(days=1)


PAYMENT_FILES = PROJECT_ROOT / ".data" / "payment-files"


def pay_the_month(settings: EngineSettings, url: str, last_day: dt.date) -> None:
    """Closes the demo's days, registers payout accounts for most sellers (every seventh has none, to
    show a balance carried over for it), issues the month's statements and makes one payment run."""
    month = last_day.replace(day=1)
    days = [last_day - dt.timedelta(days=1), last_day]
    closing.close_days(settings, days)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO payout_accounts (seller_id, holder, bank_code, account_number, registered_by)
               SELECT id, username, '004', lpad((id * 7919)::text, 12, '0'), 'demo' FROM users
               WHERE role = 'SELLER' AND id % 7 <> 0"""
        )
    issued = payments.issue_statements(settings, month)
    label = payments.month_label(month)
    click.echo(
        f"\npayments: {label} closed ({closing.describe_days(days)}; the platform's first settled day starts it), "
        f"{issued.statements:,} statements issued: {issued.payable:,} payable ({payments.won(issued.payable_total)}), "
        f"{issued.carried:,} carried over ({payments.won(issued.carried_total)}), {payments.won(issued.withheld_total)} withheld"
    )
    run = payments.pay(settings, month, PAYMENT_FILES)
    if run.transfers:
        click.echo(f"payment run {run.run_id}: {len(run.transfers):,} transfers, {payments.won(run.total)}: {run.file}")
    else:
        click.echo(
            "payment run: nothing to pay, no statement reaches the payment threshold yet (two demo days earn too "
            "little): every balance is carried over to the next statement"
        )


def default_database_name(settings: EngineSettings) -> str:
    if settings.database_url:
        return str(conninfo_to_dict(settings.database_url)["dbname"])
    return settings.database_name


def prepare_demo_database(database: db.Database, server: str, name: str) -> str:
    """Makes `name` ready for the demo's rows; says what it did. Refuses a database holding data."""
    maintenance = db.Database(db.with_database(server, "postgres"), database.source)
    db.ensure_reachable(maintenance)
    with maintenance.connect(autocommit=True) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if row is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            mark_as_demo(conn, name)
            return "created"
        if row[0] == DEMO_MARK:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            mark_as_demo(conn, name)
            return "recreated (the demo made it)"
        holding = tables_with_rows(database.url)
        if holding:
            raise CommandError(
                f"the database {name} on {db.describe(server)} holds data the demo did not make "
                f"({', '.join(holding[:3])}{', ...' if len(holding) > 3 else ''}); it is left alone",
                "fill another one: settlement demo --database-name settlement_demo",
            )
        mark_as_demo(conn, name)
        return "filled (it was empty)"


def mark_as_demo(conn: psycopg.Connection, name: str) -> None:
    conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(DEMO_MARK)))


def tables_with_rows(url: str) -> list[str]:
    """The tables of a database that hold rows, but for the migration's bookkeeping and the engine's
    derived schemas."""
    with psycopg.connect(url) as conn:
        tables = [
            row[0] for row in conn.execute(
                """SELECT format('%%I.%%I', n.nspname, c.relname) FROM pg_class c
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> 'alembic_version'
                     AND n.nspname NOT IN ('information_schema') AND n.nspname NOT LIKE 'pg\\_%%'
                     AND n.nspname <> ALL(%s)
                   ORDER BY 1""",
                (list(DERIVED_SCHEMAS),),
            )
        ]  # fmt: skip
        return [table for table in tables if db.one_row(conn.execute(f"SELECT EXISTS (SELECT FROM {table})"))[0]]


def print_next_steps(database: db.Database, settings: EngineSettings, name: str, last_day: dt.date) -> None:
    """The next commands as they can be typed, from the project root, on the demo's database."""
    bin_prefix = command_prefix()
    app_env = "" if name == default_database_name(settings) else app_environment(database, name)
    steps = [
        (f"{app_env}{bin_prefix}settlement run --date {last_day}", "settle the demo's last day again (closed: the same result)"),
        (
            f"{dbt_environment(database.url)}{bin_prefix}dbt build --vars '{{run_date: {last_day}}}'",
            "the same with dbt itself, as the data team runs it",
        ),
        (
            f"{app_env}{bin_prefix}settlement pay --month {last_day:%Y-%m}",
            "run the month's payments again: nothing is paid twice",
        ),
        (f"{app_env}{bin_prefix}settlement serve", "the API on this data: http://127.0.0.1:8000/docs"),
    ]
    where = "" if Path.cwd().resolve() == PROJECT_ROOT else f", from {PROJECT_ROOT}"
    click.echo(f"\nnext{where}:")
    width = max(len(step) for step, _ in steps)
    for step, why in steps:
        click.echo(f"  {step:<{width}}   # {why}")
    if bin_prefix:
        click.echo(f"(or `source {bin_prefix}activate` once, then type them without {bin_prefix})")
    if database.source == "DATABASE_URL" and not app_env:
        click.echo("(with DATABASE_URL set as it is now: the settlement commands use it)")
    email, password = demo_login.seller_login(database.url)
    click.echo(f"studio: http://127.0.0.1:8000/studio   sign in as {email} / {password}   (once `settlement serve` runs)")
    click.echo(
        "payments: http://127.0.0.1:8000/studio/payments (balance, statements, payments); "
        "GET /sellers/{id}/balance, /statements, /payments in the API"
    )


def command_prefix() -> str:
    """How to name this environment's commands: nothing when they are on PATH, else their folder."""
    bin_dir = Path(sys.executable).parent
    found = shutil.which("settlement")
    if found and Path(found).parent.resolve() == bin_dir.resolve():
        return ""
    try:
        return f"{bin_dir.relative_to(PROJECT_ROOT)}/"
    except ValueError:
        return f"{bin_dir}/"


def app_environment(database: db.Database, name: str) -> str:
    if database.source == "DATABASE_URL":
        return f"DATABASE_URL={db.describe(database.url)} "
    return f"SETTLEMENT_DATABASE_NAME={name} "


# What profiles.yml connects to when nothing is set: a plain `dbt build` needs no variables there.
DBT_PROFILE_DEFAULTS = {
    "SETTLEMENT_DBT_HOST": "127.0.0.1", "SETTLEMENT_DBT_PORT": "5432", "SETTLEMENT_DBT_USER": "postgres",
    "SETTLEMENT_DBT_PASSWORD": "", "SETTLEMENT_DBT_DBNAME": "settlement",
}  # fmt: skip


def dbt_environment(url: str) -> str:
    """The profile's variables a plain `dbt build` needs to reach this database (none for the default)."""
    needed = {
        name: value for name, value in pipeline.dbt_environment(url).items()
        if name in DBT_PROFILE_DEFAULTS and value != DBT_PROFILE_DEFAULTS[name]
    }  # fmt: skip
    if "SETTLEMENT_DBT_PASSWORD" in needed:
        needed["SETTLEMENT_DBT_PASSWORD"] = "'<the password>'"  # noqa: S105 (a placeholder shown, not a secret)
    return "".join(f"{name}={value} " for name, value in needed.items())
