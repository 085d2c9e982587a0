"""`settlement generate`: synthetic users, videos, ads and days of watch events, loaded with COPY."""

import argparse
import sys

from settlement import db, migrations
from settlement.commands import parse_date
from settlement.config import get_settings
from settlement.generate import GenerateConfig, generate


def count(text: str) -> int:
    """A count such as 5000, 5_000, 250k or 2M."""
    cleaned = text.strip().replace("_", "").replace(",", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(cleaned[-1:].lower(), 1)
    try:
        value = int(float(cleaned[:-1]) * scale) if scale > 1 else int(cleaned)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a count: {text!r} (e.g. 5000, 250k, 2M)") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a count cannot be negative: {text!r}")
    return value


def cmd_generate(args: argparse.Namespace) -> int:
    settings = get_settings()
    config = GenerateConfig(
        videos=args.videos,
        users=args.users,
        days=args.days,
        events_per_day=args.events_per_day,
        seed=args.seed,
        sellers=args.sellers,
        ads=args.ads,
        first_day=args.first_day,
    )
    try:
        config = config.resolved(settings.timezone)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    database = db.resolve_database(settings)
    print(f"database: {db.describe(database.url)} ({database.source})", file=sys.stderr)
    migrations.upgrade(database.url)
    report = generate(database.url, config, progress=not args.quiet, settings=settings)
    print("\n".join(report.lines()))
    return 0


def register(commands) -> None:
    parser = commands.add_parser(
        "generate",
        help="append synthetic users, videos, ads and days of watch events (deterministic for a seed)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--videos", type=count, default=200, help="new videos")
    parser.add_argument("--users", type=count, default=2_000, help="new users, sellers included")
    parser.add_argument("--sellers", type=count, default=None, help="how many of the users sell (default users/20)")
    parser.add_argument("--ads", type=count, default=None, help="new ads (default max(5, videos/50))")
    parser.add_argument("--days", type=count, default=3, help="consecutive platform days of events")
    parser.add_argument("--events-per-day", type=count, default=20_000, help="watch events per day")
    parser.add_argument("--seed", type=int, default=1, help="same seed and options, same data")
    parser.add_argument(
        "--first-day", type=parse_date, default=None, help="first platform day (default: the last day is yesterday)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=cmd_generate)
