"""`settlement demo`: a fresh demo database, a built-in demo day of data, settled, results printed."""

import datetime as dt
import time

import click
import psycopg

from settlement import db, generate, migrations, pipeline
from settlement.commands import CommandError
from settlement.commands.run import print_day_summary
from settlement.config import get_settings

DEMO_DATABASE = "settlement_demo"
DEMO_DAY = dt.date(2026, 11, 23)
# A few hundred videos and thousands of events a day; the day before gives the view window a history.
DEMO_DATA = generate.GenerateConfig(
    videos=300, users=3_000, days=2, events_per_day=20_000, seed=2026, first_day=DEMO_DAY - dt.timedelta(days=1)
)


@click.command("demo", help="Set up a demo database, load a demo day, settle it, print the results.")
def command() -> None:
    settings = get_settings()
    server, source = db.server_url(settings)
    db.ensure_reachable(db.Database(db.with_database(server, "postgres"), source))
    db.drop_database(server, DEMO_DATABASE)
    db.create_database_if_missing(server, DEMO_DATABASE)
    url = db.with_database(server, DEMO_DATABASE)
    click.echo(f"demo database: {db.describe(url)} ({source}), recreated")

    migrations.upgrade(url)
    report = generate.generate(url, DEMO_DATA, progress=False, settings=settings)
    click.echo(f"generated: {', '.join(f'{count:,} {table}' for table, count in report.rows.items())}")

    demo_settings = settings.model_copy(update={"database_url": url})
    started = time.perf_counter()
    results = pipeline.run_days(demo_settings, DEMO_DAY, trigger="demo")
    for result in results:
        click.echo(f"settled {result.run_date}: {result.status} in {result.seconds:.2f} s")
    click.echo(f"pipeline: {time.perf_counter() - started:.2f} s for {len(results)} days")
    if not all(result.succeeded for result in results):
        raise CommandError(f"settling the demo day failed: {results[-1].error}", "run with --verbose for the details")
    with psycopg.connect(url) as conn:
        print_day_summary(conn, DEMO_DAY)
    click.echo(f"\nexplore: DATABASE_URL={url} settlement serve   (then http://127.0.0.1:8000/docs)")
