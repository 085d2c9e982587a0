"""`settlement close`: freeze the payouts of a paid day or month."""

import argparse
import sys

from settlement import closing, pipeline
from settlement.commands import parse_date
from settlement.config import get_settings


def cmd_close(args: argparse.Namespace) -> int:
    if bool(args.date) == bool(args.month):
        raise SystemExit("error: give either --date or --month")
    try:
        days = [args.date] if args.date else closing.days_of_month(args.month)
        closing.close_days(get_settings(), days)
    except (closing.CannotClose, pipeline.PipelineBusy) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"closed {days[0]}" + (f" .. {days[-1]}" if len(days) > 1 else ""))
    return 0


def register(commands) -> None:
    close = commands.add_parser(
        "close", help="freeze the payouts of a paid day or month (late events then become adjustments)"
    )
    close.add_argument("--date", type=parse_date, help="the day to close (YYYY-MM-DD)")
    close.add_argument("--month", help="every day of a month (YYYY-MM); all must be settled")
    close.set_defaults(func=cmd_close)
