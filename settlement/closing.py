"""Closing days: once a day is paid, what was published for it is frozen (its payouts, its ad payouts and
the adjustments booked on it). Late events for it later become adjustments booked on the next open day
(analytics.fct_payout_adjustments), never changes to it."""

import calendar
import datetime as dt

import psycopg

from settlement import clock, db, warehouse
from settlement.config import CommonSettings


class CannotClose(ValueError):
    """A day that is not settled, or closed already."""


def days_of_month(month: str) -> list[dt.date]:
    try:
        year, number = (int(part) for part in month.split("-"))
        last = calendar.monthrange(year, number)[1]
    except ValueError:
        raise CannotClose(f"not a month (YYYY-MM): {month!r}") from None
    return [dt.date(year, number, day) for day in range(1, last + 1)]


def close_days(settings: CommonSettings, days: list[dt.date]) -> None:
    """Freezes the published results of settled days, all or none, while no settlement runs."""
    database = db.resolve_database(settings)
    with psycopg.connect(database.url, autocommit=True) as conn, conn.transaction():
        # The lock under which runs take the pipeline: none can start until this transaction ends.
        conn.execute(psycopg.sql.SQL("SELECT pg_advisory_xact_lock({})").format(warehouse.lock_key_sql(warehouse.Lock.PIPELINE)))
        running = conn.execute(
            "SELECT settlement_busy_message(r) FROM pipeline_runs r WHERE status = 'RUNNING' AND settlement_run_is_alive(r)"
        ).fetchone()
        if running:
            raise warehouse.PipelineBusy(f"{running[0]}; close the day when it is done")
        closed = {row[0] for row in conn.execute("SELECT day FROM closed_days WHERE day = ANY(%s)", (days,))}
        if closed:
            raise CannotClose(f"already closed: {', '.join(map(str, sorted(closed)))}")
        settled = set(warehouse.settled_days(conn, min(days), max(days)))
        unsettled = [day for day in days if day not in settled]
        if unsettled:
            later = "; a day can be closed once it is settled, and settled once it has ended"
            raise CannotClose(
                f"not settled: {describe_days(unsettled)} (run `settlement run` first{later if unsettled[-1] >= clock.today(settings.time_zone) else ''})"
            )
        for day in days:
            _freeze(conn, day)


def describe_days(days: list[dt.date]) -> str:
    return str(days[0]) if len(days) == 1 else f"{len(days)} days, {days[0]} .. {days[-1]}"


def _freeze(conn: psycopg.Connection, day: dt.date) -> None:
    conn.execute("INSERT INTO closed_days (day) VALUES (%s)", (day,))
    conn.execute(
        psycopg.sql.SQL(
            """INSERT INTO closed_video_payouts
                   (day, video_id, seller_id, views, watch_seconds, ad_views, video_payout, ad_payout, payout)
               SELECT settled_on, video_id, seller_id, views, watch_seconds, ad_views, video_payout, ad_payout, payout
               FROM {} WHERE settled_on = %s"""
        ).format(warehouse.relation("fct_video_daily")),
        (day,),
    )
    conn.execute(
        psycopg.sql.SQL(
            """INSERT INTO closed_video_ad_payouts (day, video_id, ad_id, seller_id, ad_views, ad_payout)
               SELECT settled_on, video_id, ad_id, seller_id, ad_views, ad_payout FROM {} WHERE settled_on = %s"""
        ).format(warehouse.relation("fct_video_ad_daily")),
        (day,),
    )
    conn.execute(
        psycopg.sql.SQL(
            """INSERT INTO closed_payout_adjustments (booked_on, belongs_to, video_id, seller_id, payout_delta, reason)
               SELECT booked_on, belongs_to, video_id, seller_id, payout_delta, reason FROM {} WHERE booked_on = %s"""
        ).format(warehouse.relation("fct_payout_adjustments")),
        (day,),
    )
