"""The `settlement` command: one subcommand module per concern, under settlement/commands/."""

import argparse
import logging
import sys
from importlib import import_module

COMMAND_MODULES = ("db", "demo", "run", "dbt", "close", "generate", "serve", "scheduler", "ads")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="settlement", description="Revenue settlement engine.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        import_module(f"settlement.commands.{name}").register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
