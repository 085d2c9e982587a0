"""`settlement hold`: put a seller's payments on hold, or release them."""

import click

from settlement import payments
from settlement.commands import UsageProblem, open_database, settings_on
from settlement.config import get_settings


@click.command(
    "hold",
    short_help="Put a seller's payments on hold (or --release them).",
    help="""Put a seller's payments on hold, with a reason: their statements carry the balance over and
    payment runs skip them until released (--release). Every change is recorded.""",
)
@click.option("--seller", "seller_id", type=click.IntRange(1, 2**63 - 1), required=True, help="The seller's user id.")
@click.option("--reason", help="Why (required to hold).")
@click.option("--release", is_flag=True, help="Take the hold off.")
def command(seller_id: int, reason: str | None, release: bool) -> None:
    reason = (reason or "").strip() or ("released" if release else "")
    if not 1 <= len(reason) <= 500:
        raise UsageProblem(
            "a hold needs a reason (1 to 500 characters)", f"e.g. settlement hold --seller {seller_id} --reason 'identity check'"
        )
    settings = get_settings()
    database = open_database(settings)
    payments.set_hold(settings_on(settings, database), seller_id, not release, reason)
    click.echo(f"seller {seller_id}: {'released' if release else 'on hold: ' + reason}")
