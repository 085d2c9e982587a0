"""`settlement run`: settle a day (yesterday by default) or a range of days.

It plans first (the days that must be settled before the range, then the range), prints the plan, asks
for --yes when it is longer than SETTLEMENT_RUN_CONFIRM_DAYS, then settles day by day with progress."""

import datetime as dt

import click
import psycopg

from settlement import clock, settling
from settlement.commands import DATE, UsageProblem, open_database, settings_on, settle_with_progress
from settlement.config import EngineSettings, get_settings


@click.command(
    "run",
    short_help="Settle a platform day (default: yesterday) or a range of days.",
    help="""Settle a platform day (default: yesterday) or a range of days.

    Days are settled in order: the days that must come first (not settled yet, or with late events)
    are settled before the ones asked for. Only days that have ended in the platform time zone can be
    settled. A plan longer than SETTLEMENT_RUN_CONFIRM_DAYS (7) days needs --yes.""",
)
@click.option("--date", type=DATE, help="The day to settle.")
@click.option("--from", "first", type=DATE, help="First day of a range (alone: through yesterday).")
@click.option("--to", "last", type=DATE, help="Last day of a range.")
@click.option(
    "--rebuild",
    is_flag=True,
    help="Settle every day again beside the published results, then swap them in at once (after a model's "
    "columns or the rules changed; closed days stay as paid).",
)
@click.option("-y", "--yes", is_flag=True, help="Settle a plan longer than the bound without asking.")
def command(date: dt.date | None, first: dt.date | None, last: dt.date | None, rebuild: bool, yes: bool) -> None:
    settings = get_settings()
    first, last = requested_range(date, first, last, settings)
    database = open_database(settings)
    settings = settings_on(settings, database)
    with database.connect(autocommit=True) as conn:
        plan = settling.planned_days(conn, first, last, settings, rebuild)
    click.echo(settling.describe_plan(plan, first, last, rebuild))
    if len(plan) > settings.run_confirm_days and not yes:
        raise UsageProblem(
            f"{len(plan)} days to settle, more than {settings.run_confirm_days} (SETTLEMENT_RUN_CONFIRM_DAYS)",
            f"to go ahead: {confirmed_command(date, first, last, rebuild)}",
        )
    settle_with_progress(settings, first, last, plan, rebuild=rebuild)
    with psycopg.connect(database.url) as conn:
        for line in settling.day_summary(conn, last):
            click.echo(line)


def requested_range(
    date: dt.date | None, first: dt.date | None, last: dt.date | None, settings: EngineSettings
) -> tuple[dt.date, dt.date]:
    """The days asked for, checked: one range, in order, of days that have ended."""
    if date and (first or last):
        raise UsageProblem("give either --date or --from/--to, not both", f"e.g. settlement run --date {date}")
    yesterday = clock.yesterday(settings.time_zone)
    if date:
        first = last = date
    elif first:
        last = last or yesterday
    else:
        first = last = last or yesterday
    if first > last:
        raise UsageProblem(f"--from {first} is after --to {last}", f"swap them: settlement run --from {last} --to {first}")
    refuse_unended(first, last, settings)
    return first, last


def refuse_unended(first: dt.date, last: dt.date, settings: EngineSettings) -> None:
    today = clock.today(settings.time_zone)
    if last < today:
        return
    asked = str(last) if first == last else f"{first} .. {last}"
    what = "today" if last == today else "in the future"
    instead = f"settlement run --date {today - dt.timedelta(days=1)}"
    if first < today - dt.timedelta(days=1):
        instead = f"settlement run --from {first} --to {today - dt.timedelta(days=1)}"
    raise UsageProblem(
        f"cannot settle {asked}: {last} is {what} in {settings.time_zone} (today is {today}), and a day can be settled once it has ended",
        f"settle yesterday or earlier: {instead}",
    )


def confirmed_command(date: dt.date | None, first: dt.date, last: dt.date, rebuild: bool) -> str:
    days = f"--date {date}" if date else f"--from {first} --to {last}" if first != last else f"--date {first}"
    return f"settlement run {days}{' --rebuild' if rebuild else ''} --yes"
