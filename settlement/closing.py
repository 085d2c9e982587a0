"""Closing days: once a day is paid, its payouts are frozen. Late events for it later become
adjustments booked in the next open day (analytics.fct_payout_adjustments), never changes to it."""

import calendar
import datetime as dt

import psycopg

from settlement import db, pipeline
from settlement.config import Settings


class CannotClose(ValueError):
    """A day that is not settled, or closed already."""


def days_of_month(month: str) -> list[dt.date]:
    try:
        year, number = (int(part) for part in month.split("-"))
        last = calendar.monthrange(year, number)[1]
    except ValueError:
        raise CannotClose(f"not a month (YYYY-MM): {month!r}") from None
    return [dt.date(year, number, day) for day in range(1, last + 1)]


def close_days(settings: Settings, days: list[dt.date]) -> None:
    """Freezes the payouts of settled days, all or none, while no settlement runs."""
    database = db.resolve_database(settings)
    with psycopg.connect(database.url, autocommit=True) as conn:
        if not conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (pipeline.PIPELINE_LOCK,)).fetchone()[0]:
            raise pipeline.PipelineBusy("a settlement run is in progress; close the day when it is done")
        settled = set(pipeline.settled_days(conn))
        closed = {row[0] for row in conn.execute("SELECT day FROM closed_days WHERE day = ANY(%s)", (days,))}
        if closed:
            raise CannotClose(f"already closed: {', '.join(map(str, sorted(closed)))}")
        unsettled = [day for day in days if day not in settled or not _last_run_succeeded(conn, day)]
        if unsettled:
            raise CannotClose(f"not settled (run `settlement run` first): {', '.join(map(str, unsettled))}")
        with conn.transaction():
            for day in days:
                _freeze(conn, day)


def _last_run_succeeded(conn: psycopg.Connection, day: dt.date) -> bool:
    row = conn.execute(
        "SELECT status FROM pipeline_runs WHERE run_date = %s ORDER BY started_at DESC LIMIT 1", (day,)
    ).fetchone()
    return row is not None and row[0] == "SUCCEEDED"


def _freeze(conn: psycopg.Connection, day: dt.date) -> None:
    conn.execute("INSERT INTO closed_days (day) VALUES (%s)", (day,))
    conn.execute(
        """INSERT INTO closed_video_payouts
               (day, video_id, seller_id, views, watch_seconds, ad_views, video_payout, ad_payout, payout)
           SELECT settled_on, video_id, seller_id, views, watch_seconds, ad_views, video_payout, ad_payout, payout
           FROM analytics.fct_video_daily WHERE settled_on = %s""",
        (day,),
    )
    conn.execute(
        """INSERT INTO closed_video_ad_payouts (day, video_id, ad_id, seller_id, ad_views, ad_payout)
           SELECT settled_on, video_id, ad_id, seller_id, ad_views, ad_payout
           FROM analytics.fct_video_ad_daily WHERE settled_on = %s""",
        (day,),
    )
