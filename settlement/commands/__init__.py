"""Subcommands of `settlement`: each module here has `register(subparsers)`."""

import argparse
import datetime as dt


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None
