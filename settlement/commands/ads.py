"""`settlement ads refresh [--as-of DATE]`: the daily ad lifecycle, run by hand."""

import argparse

from settlement import ads, db
from settlement.commands import parse_date
from settlement.config import get_settings


def cmd_ads_refresh(args: argparse.Namespace) -> int:
    settings = get_settings()
    as_of = args.as_of or ads.platform_today(settings)
    with db.resolve_database(settings).connect() as conn:
        result = ads.refresh_lifecycle(conn, as_of)
    print(f"ads refreshed for {as_of} ({settings.timezone})")
    for name, count in result.counts().items():
        print(f"  {name:<13} {count:>8}")
    return 0


def register(commands) -> None:
    group = commands.add_parser("ads", help="ads: lifecycle and slots").add_subparsers(
        dest="ads_command", required=True
    )
    refresh = group.add_parser(
        "refresh",
        help="set ad statuses from their contract dates and refill the slots of expired ads",
    )
    refresh.add_argument(
        "--as-of", type=parse_date, default=None, help="platform day (YYYY-MM-DD); default: today in the platform time zone"
    )
    refresh.set_defaults(func=cmd_ads_refresh)
