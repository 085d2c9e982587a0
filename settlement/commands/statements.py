"""`settlement statements`: issue a month's statements, once every day of it is closed."""

import click

from settlement import payments
from settlement.commands import UsageProblem, open_database, settings_on
from settlement.config import get_settings


@click.command(
    "statements",
    short_help="Issue a month's statements (once every day of it is closed).",
    help="""Issue every seller's statement for a month: the balance carried from their previous statement,
    the payouts of the month's closed days, the adjustments booked on them, the withholding and the net,
    payable or carried over (and why). Only a month every day of which is closed (from the platform's
    first settled day), after the months before it; an issued statement never changes.""",
)
@click.option("--month", "month_text", metavar="YYYY-MM", required=True, help="The month to issue.")
def command(month_text: str) -> None:
    try:
        month = payments.parse_month(month_text)
    except ValueError as exc:
        raise UsageProblem(str(exc), "e.g. settlement statements --month 2026-11") from None
    settings = get_settings()
    database = open_database(settings)
    report = payments.issue_statements(settings_on(settings, database), month)
    click.echo(
        f"issued {payments.month_label(month)}: {report.statements:,} statements "
        f"({report.days} closed days, {report.returns} returned transfers taken back)"
    )
    click.echo(f"  payable:      {report.payable:,} statements, {payments.won(report.payable_total)}")
    click.echo(f"  carried over: {report.carried:,} statements, {payments.won(report.carried_total)}")
    click.echo(f"  withheld:     {payments.won(report.withheld_total)}")
    if report.payable:
        click.echo(f"next: settlement pay --month {payments.month_label(month)}")
