"""`settlement dbt ...`: dbt itself, on the database and settings the app uses (docs, tests, ...)."""

import argparse
import datetime as dt

from settlement import db, pipeline
from settlement.commands import parse_date
from settlement.config import get_settings


def cmd_dbt(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not args.dbt_args:
        raise SystemExit("error: give dbt's arguments, e.g. `settlement dbt docs generate`")
    database = db.resolve_database(settings)
    result = pipeline.invoke_dbt(database.url, args.dbt_args, pipeline.dbt_vars(settings, args.date), quiet=False)
    return 0 if result.success else 1


def register(commands) -> None:
    dbt = commands.add_parser(
        "dbt",
        help="run dbt on the app's database: `settlement dbt docs generate`, `settlement dbt test --select test_type:unit`",
    )
    dbt.add_argument(
        "--date", type=parse_date, default=dt.date.today(),
        help="the run date models compile for (default: today); tests check that day's slice",
    )
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER, help="dbt's own arguments")
    dbt.set_defaults(func=cmd_dbt)
