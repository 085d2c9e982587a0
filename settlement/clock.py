"""The platform's clock: the one place the product reads "now" and "today".

Every process of the product (the CLI, the API, the scheduler, dbt's hooks and models) and the database
read the same clock: the real time shifted by SETTLEMENT_CLOCK_SHIFT_SECONDS (default 0). Tests set the
shift once (`shift_to`), and every process started after that, and every database session opened after
that, reads the same instant as "now": the variable is inherited by child processes, and it reaches the
database as the session setting `settlement.clock_shift` through libpq's PGOPTIONS, which the SQL
functions settlement_now() (transaction time) and settlement_clock() (wall time) add to the server's
clock (migration 0032). The clock keeps ticking: a test started at 23:59:50 sees midnight pass.

In dbt, the run date of a plain `dbt build` is yesterday as of the invocation's start on this clock
(macros/platform_calendar.sql), so a build that runs past midnight settles one day.
"""

import datetime as dt
import os
import re
from zoneinfo import ZoneInfo

SHIFT_VARIABLE = "SETTLEMENT_CLOCK_SHIFT_SECONDS"
DATABASE_SETTING = "settlement.clock_shift"
_OPTION = re.compile(r"\s*-c\s*" + re.escape(DATABASE_SETTING) + r"=\S*")


def shift() -> dt.timedelta:
    """How far the platform's clock is ahead of the real one (negative: behind)."""
    value = os.environ.get(SHIFT_VARIABLE, "").strip()
    if not value:
        return dt.timedelta(0)
    try:
        return dt.timedelta(seconds=float(value))
    except ValueError:
        raise ValueError(f"{SHIFT_VARIABLE} must be a number of seconds, not {value!r}") from None


def now() -> dt.datetime:
    """The current instant, time zone aware (UTC)."""
    return dt.datetime.now(dt.UTC) + shift()


def day_of(instant: dt.datetime, time_zone: str | ZoneInfo) -> dt.date:
    """The calendar day an aware instant falls on in time_zone."""
    if instant.tzinfo is None:
        raise ValueError("the instant must be time zone aware")
    return instant.astimezone(time_zone if isinstance(time_zone, ZoneInfo) else ZoneInfo(time_zone)).date()


def today(time_zone: str | ZoneInfo) -> dt.date:
    """The calendar day it is now in time_zone (the platform's: CommonSettings.time_zone)."""
    return day_of(now(), time_zone)


def yesterday(time_zone: str | ZoneInfo) -> dt.date:
    return today(time_zone) - dt.timedelta(days=1)


def shift_to(instant: dt.datetime) -> dt.timedelta:
    """Sets the clock of this process, and of the processes and database sessions it starts from now on,
    so that it reads `instant` now; returns the shift. (Database sessions opened before keep theirs.)"""
    if instant.tzinfo is None:
        raise ValueError("the instant must be time zone aware")
    offset = instant - dt.datetime.now(dt.UTC)
    set_shift(offset)
    return offset


def set_shift(offset: dt.timedelta | None) -> None:
    """Sets (None: removes) the shift, here and in PGOPTIONS."""
    if offset is None:
        os.environ.pop(SHIFT_VARIABLE, None)
    else:
        os.environ[SHIFT_VARIABLE] = repr(offset.total_seconds())
    _sync_database_option()


def _sync_database_option() -> None:
    """PGOPTIONS carries the shift to every libpq session this process (or a child) opens."""
    options = _OPTION.sub("", os.environ.get("PGOPTIONS", "")).strip()
    seconds = shift().total_seconds()
    if seconds:
        options = f"{options} -c {DATABASE_SETTING}={seconds!r}".strip()
    if options:
        os.environ["PGOPTIONS"] = options
    else:
        os.environ.pop("PGOPTIONS", None)


_sync_database_option()
