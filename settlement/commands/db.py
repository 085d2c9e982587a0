"""`settlement db ...`: where the database is, its schema and partitions."""

import argparse
import sys

from settlement import db, migrations
from settlement.commands import parse_date
from settlement.config import get_settings


def cmd_db_url(args: argparse.Namespace) -> int:
    database = db.resolve_database(get_settings())
    print(database.url)
    print(f"# from: {database.source}", file=sys.stderr)
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    database = db.resolve_database(get_settings())
    print(f"database: {db.describe(database.url)} ({database.source})", file=sys.stderr)
    migrations.upgrade(database.url, args.revision)
    return 0


def cmd_db_downgrade(args: argparse.Namespace) -> int:
    database = db.resolve_database(get_settings())
    migrations.downgrade(database.url, args.revision)
    return 0


def cmd_db_partitions(args: argparse.Namespace) -> int:
    settings = get_settings()
    if args.first > args.last:
        raise SystemExit("error: --from is after --to")
    with db.resolve_database(settings).connect(autocommit=True) as conn:
        created = migrations.ensure_day_partitions(conn, args.first, args.last, settings.timezone)
    print(f"created {created} partitions for {args.first} .. {args.last} ({settings.timezone})")
    return 0


def cmd_db_summary(args: argparse.Namespace) -> int:
    with db.resolve_database(get_settings()).connect() as conn:
        print_schema_summary(conn)
    return 0


def print_schema_summary(conn) -> None:
    rows = migrations.schema_summary(conn)
    print(f"{'table':<24} {'kind':<12} {'partitions':>10} {'columns':>8}")
    for name, kind, partitions, columns in rows:
        print(f"{name:<24} {kind:<12} {partitions:>10} {columns:>8}")


def register(commands) -> None:
    database = commands.add_parser("db", help="the database: where it is, its schema").add_subparsers(
        dest="db_command", required=True
    )
    database.add_parser("url", help="print the database URL in use").set_defaults(func=cmd_db_url)
    upgrade = database.add_parser("upgrade", help="migrate the schema to the newest revision")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(func=cmd_db_upgrade)
    downgrade = database.add_parser("downgrade", help="migrate the schema back (to empty by default)")
    downgrade.add_argument("revision", nargs="?", default="base")
    downgrade.set_defaults(func=cmd_db_downgrade)
    partitions = database.add_parser("partitions", help="create the daily event partitions of a date range")
    partitions.add_argument("--from", dest="first", type=parse_date, required=True)
    partitions.add_argument("--to", dest="last", type=parse_date, required=True)
    partitions.set_defaults(func=cmd_db_partitions)
    database.add_parser("summary", help="list the tables of the schema").set_defaults(func=cmd_db_summary)
