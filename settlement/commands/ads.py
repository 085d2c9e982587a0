"""`settlement ads refresh [--as-of DATE]`: the daily ad lifecycle, run by hand."""

import datetime as dt

import click

from settlement import ads, clock
from settlement.commands import DATE, open_database
from settlement.config import get_settings


@click.group("ads", help="Ads: their lifecycle and slots.")
def command() -> None:
    pass


@command.command("refresh", help="Set ad statuses from their contract dates and refill the slots of ads no longer active.")
@click.option("--as-of", type=DATE, default=None, help="Platform day (default: today in the platform time zone).")
def refresh(as_of: dt.date | None) -> None:
    settings = get_settings()
    as_of = as_of or clock.today(settings.time_zone)
    with open_database(settings).connect() as conn:
        result = ads.refresh_lifecycle(conn, as_of, settings.ad_slot_seconds)
    click.echo(f"ads refreshed for {as_of} ({settings.time_zone})")
    for name, count in result.counts().items():
        click.echo(f"  {name:<13} {count:>8}")
