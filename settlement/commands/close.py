"""`settlement close`: freeze the payouts of a paid day or month."""

import datetime as dt

import click

from settlement import clock, closing, warehouse
from settlement.commands import DATE, CommandError, UsageProblem, open_database, settings_on
from settlement.config import EngineSettings, get_settings


@click.command(
    "close",
    short_help="Freeze the payouts of a settled day or month.",
    help="""Freeze the payouts of a paid day or month; late events for it then become adjustments
    booked on the next open day. Only settled days can be closed.""",
)
@click.option("--date", type=DATE, help="The day to close.")
@click.option("--month", metavar="YYYY-MM", help="Every day of a month; all must be settled.")
def command(date: dt.date | None, month: str | None) -> None:
    if bool(date) == bool(month):
        raise UsageProblem("give either --date or --month", "e.g. settlement close --date 2026-11-23, or --month 2026-11")
    try:
        days = [date] if date else closing.days_of_month(month or "")  # (given: exactly one of --date and --month is)
    except closing.CannotClose as exc:
        raise UsageProblem(str(exc), "e.g. settlement close --month 2026-11") from None
    settings = get_settings()
    refuse_unended(days, settings)
    database = open_database(settings)
    with database.connect() as conn:
        refuse_unclosable(warehouse.day_statuses(conn, days[0], days[-1]))
    closing.close_days(settings_on(settings, database), days)
    click.echo(f"closed {closing.describe_days(days)}")


def refuse_unended(days: list[dt.date], settings: EngineSettings) -> None:
    today = clock.today(settings.time_zone)
    if days[-1] >= today:
        what = "today" if days[-1] == today else "in the future"
        raise UsageProblem(
            f"cannot close {closing.describe_days(days)}: {days[-1]} is {what} in {settings.time_zone} (today is {today}); "
            "a day can be closed once it is settled, and settled once it has ended",
            f"close a settled day, yesterday ({today - dt.timedelta(days=1)}) or earlier",
        )


def refuse_unclosable(statuses: dict[dt.date, warehouse.DayStatus]) -> None:
    """What close_days would refuse, said with the command that fixes it (it checks again under its lock)."""
    closed = [day for day, status in statuses.items() if status is warehouse.DayStatus.CLOSED]
    if closed:
        raise CommandError(f"already closed: {closing.describe_days(closed)}", "nothing to do; a closed day stays as paid")
    pending = [day for day, status in statuses.items() if status is warehouse.DayStatus.PENDING]
    if pending:
        settle = f"--date {pending[0]}" if len(pending) == 1 else f"--from {pending[0]} --to {pending[-1]}"
        raise CommandError(
            f"cannot close {closing.describe_days(pending)}: not settled", f"settle first: settlement run {settle}"
        )
