"""Reads of the settlement results (the dbt marts in schema analytics), each with the status of its days.

A day is pending (not settled yet), settled (may still change with late events) or closed (paid; later
changes arrive as adjustments): settlement.warehouse.DayStatus, decided here in SQL by the same rule as
settlement.warehouse.DAY_STATUS_SQL (tests/api/test_stats.py holds the two together).
"""

import calendar
import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import HTTPException
from fastapi import status as http
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from api.database import one_row
from api.stats.schemas import Period
from settlement import clock
from settlement.warehouse import ANALYTICS_SCHEMA, DayStatus, analytics_sql

log = logging.getLogger(__name__)
CURRENCY = "KRW"
MEASURES = ("views", "watch_seconds", "ad_views", "video_payout", "ad_payout", "payout")
PAYOUT_MEASURES = (*MEASURES, "adjustment")
DAY_MEASURES = (*PAYOUT_MEASURES, "changed_since_close")

# The days %(first)s .. %(last)s with their status, as a CTE named day_statuses.
DAY_STATUSES = """
    day_statuses AS (
        SELECT d::date AS day,
               CASE WHEN EXISTS (SELECT 1 FROM closed_days AS c WHERE c.day = d::date) THEN 'closed'
                    WHEN EXISTS (SELECT 1 FROM settled_days AS s WHERE s.day = d::date) THEN 'settled'
                    ELSE 'pending' END AS status
        FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS d
    )
"""

# What the quality gate's reasons mean, for a person (SPEC.md, "What does not count").
NOT_COUNTED_REASONS = {
    "duplicate_event": "sent again (a copy of an event already recorded)",
    "unknown_video": "for a video that does not exist",
    "video_not_live": "while the video was not live",
    "future_timestamp": "dated in the future",
    "implausible_watch": "implausible watch time",
    "unknown_ad": "for an unknown ad",
    "ad_not_active": "ad outside its contract",
    "unknown_slot": "for an ad slot the video does not have",
    "slot_not_played": "ad slot skipped, not played",
    "repeat_ad_view": "ad already counted for that viewer and slot that day",
}
NOT_COUNTED_UNITS = {"watch_events": ("event", "events"), "ad_impressions": ("ad view", "ad views")}


def period_bounds(period: Period, day: dt.date) -> tuple[dt.date, dt.date]:
    """First and last day of the day / ISO week (Monday..Sunday) / calendar month holding day
    (the last day stops at date.max)."""
    if period is Period.DAY:
        return day, day
    if period is Period.WEEK:
        monday = day - dt.timedelta(days=day.weekday())
        return monday, monday + dt.timedelta(days=min(6, (dt.date.max - monday).days))
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])


def totals(rows: list[DictRow], measures: tuple[str, ...] = MEASURES) -> dict[str, int]:
    return {measure: sum(row[measure] for row in rows) for measure in measures}


def totals_so_far(days: list[DictRow], measures: tuple[str, ...]) -> dict[str, int | None]:
    """Sums over the days that are not pending (a pending day's amounts are null: unknown); all null
    when every day is pending."""
    known = [day for day in days if day["status"] != DayStatus.PENDING]
    if not known:
        return dict.fromkeys(measures)
    return {measure: sum(day[measure] for day in known if day[measure] is not None) for measure in measures}


def status_of(statuses: list[str]) -> DayStatus:
    """A period's status: closed if all its days are, pending if any is, settled otherwise."""
    if all(status == DayStatus.CLOSED for status in statuses):
        return DayStatus.CLOSED
    if any(status == DayStatus.PENDING for status in statuses):
        return DayStatus.PENDING
    return DayStatus.SETTLED


async def day_statuses(conn: AsyncConnection[DictRow], first: dt.date, last: dt.date) -> list[DictRow]:
    """[{day, status}] for every day first..last."""
    cursor = await conn.execute(
        f"WITH {DAY_STATUSES} SELECT day, status FROM day_statuses ORDER BY day", {"first": first, "last": last}
    )
    return [{"day": row["day"], "status": DayStatus(row["status"])} for row in await cursor.fetchall()]


async def latest_settled_day(conn: AsyncConnection[DictRow]) -> dt.date | None:
    cursor = await conn.execute("SELECT max(day) AS day FROM settled_days")
    day: dt.date | None = (await one_row(cursor))["day"]
    return day


def results_unavailable() -> HTTPException:
    return HTTPException(
        http.HTTP_503_SERVICE_UNAVAILABLE,
        "the results of settled days cannot be read right now: try again later",
        headers={"Retry-After": "60"},
    )


async def require_results(conn: AsyncConnection[DictRow], *tables: str, optional: tuple[str, ...] = ()) -> set[str]:
    """For reading settled days: the engine's analytics tables must be there, else 503 (the tables named in
    the log, for the operator; never to the caller). Returns those of the optional ones it has not built yet.

    Only a read that involves a settled day calls this: before the first settlement no table exists, and
    every day is pending, which needs none (a new platform answers as any platform does for pending days)."""
    cursor = await conn.execute(
        "SELECT name FROM unnest(%s::text[]) AS name WHERE to_regclass(format('%%I.%%I', %s::text, name)) IS NULL",
        ([*tables, *optional], ANALYTICS_SCHEMA),
    )
    missing = {row["name"] for row in await cursor.fetchall()}
    required = sorted(missing.difference(optional))
    if required:
        log.error(
            "settled days cannot be read: %s missing (settle again: `settlement run --rebuild`)",
            ", ".join(f"{ANALYTICS_SCHEMA}.{name}" for name in required),
        )
        raise results_unavailable()
    return missing


def all_pending(days: list[DictRow]) -> bool:
    return all(row["status"] == DayStatus.PENDING for row in days)


# ----------------------------------------------------------------------------------------------------
# A seller's payouts for a period


async def seller_period_payouts(conn: AsyncConnection[DictRow], seller_id: int, period: Period, day: dt.date) -> dict[str, Any]:
    """The seller's payouts for the day / ISO week / month holding day (PayoutsOut): the status of each
    day, totals so far (null while every day is pending), the videos with their ads, the adjustments."""
    start, end = period_bounds(period, day)
    days = await day_statuses(conn, start, end)
    status = status_of([row["status"] for row in days])
    videos, adjustments = [], []
    amounts: Mapping[str, int | None] = dict.fromkeys(PAYOUT_MEASURES)
    if not all_pending(days):
        missing = await require_results(conn, "fct_video_payouts", "fct_video_ad_payouts", optional=("fct_payout_adjustments",))
        videos = await videos_with_ads(conn, seller_id, period, start)
        adjustments = [] if missing else await seller_adjustments(conn, seller_id, start, end)
        amounts = totals(videos, PAYOUT_MEASURES)
    return {
        "seller_id": seller_id,
        "period": period,
        "period_start": start,
        "period_end": end,
        "status": status,
        "days": days,
        "currency": CURRENCY,
        "videos": videos,
        "adjustments": adjustments,
        **amounts,
    }


async def videos_with_ads(conn: AsyncConnection[DictRow], seller_id: int, period: Period, period_start: dt.date) -> list[DictRow]:
    # Two statements, merged here: the planner cannot misjudge a join of the two marts (while they have
    # no statistics it nested the ads' aggregation once per video: 2.4 s for 1,000 videos). A results
    # connection holds the publish lock, so both read the same published day.
    params = {"period": period.value, "period_start": period_start, "seller_id": seller_id}
    cursor = await conn.execute(
        analytics_sql("""
        SELECT p.video_id, v.title, p.views, p.watch_seconds, p.ad_views, p.video_payout, p.ad_payout,
               p.adjustment, p.payout
        FROM {fct_video_payouts} p
        JOIN videos v ON v.id = p.video_id
        WHERE p.period = %(period)s AND p.period_start = %(period_start)s AND p.seller_id = %(seller_id)s
        ORDER BY p.payout DESC, p.video_id
        """),
        params,
    )
    videos = await cursor.fetchall()
    cursor = await conn.execute(
        analytics_sql("""
        SELECT p.video_id, p.ad_id, a.title, p.ad_views, p.ad_payout
        FROM {fct_video_ad_payouts} p
        JOIN ads a ON a.id = p.ad_id
        WHERE p.period = %(period)s AND p.period_start = %(period_start)s AND p.seller_id = %(seller_id)s
        ORDER BY p.video_id, p.ad_id
        """),
        params,
    )
    ads_of: dict[int, list[dict[str, Any]]] = {}
    for ad in await cursor.fetchall():
        ads_of.setdefault(ad.pop("video_id"), []).append(ad)
    return [{**video, "ads": ads_of.get(video["video_id"], [])} for video in videos]


async def seller_adjustments(conn: AsyncConnection[DictRow], seller_id: int, first: dt.date, last: dt.date) -> list[DictRow]:
    cursor = await conn.execute(
        analytics_sql("""
        SELECT a.booked_on, a.belongs_to, a.video_id, v.title, a.payout_delta AS amount, a.reason
        FROM {fct_payout_adjustments} a
        JOIN videos v ON v.id = a.video_id
        WHERE a.seller_id = %s AND a.booked_on BETWEEN %s AND %s
        ORDER BY a.booked_on, a.belongs_to, a.video_id
        """),
        (seller_id, first, last),
    )
    return await cursor.fetchall()


# ----------------------------------------------------------------------------------------------------
# Rankings


async def rankings(conn: AsyncConnection[DictRow], period: Period, day: dt.date, seller_id: int | None) -> dict[str, Any]:
    """The top 5 by views and by watch time (RankingsOut), of the platform or of one seller."""
    start, end = period_bounds(period, day)
    days = await day_statuses(conn, start, end)
    ranked = {"views": [], "watch_time": []} if all_pending(days) else await top_videos(conn, period, start, seller_id)
    return {
        "period": period,
        "period_start": start,
        "period_end": end,
        "status": status_of([row["status"] for row in days]),
        "days": days,
        "seller_id": seller_id,
        "by_views": ranked["views"],
        "by_watch_time": ranked["watch_time"],
    }


async def top_videos(
    conn: AsyncConnection[DictRow], period: Period, period_start: dt.date, seller_id: int | None
) -> dict[str, list[DictRow]]:
    """{'views': [...], 'watch_time': [...]}: the top 5 of the platform, or of one seller."""
    await require_results(conn, "rpt_top_videos")
    cursor = await conn.execute(
        analytics_sql("""
        SELECT r.metric, r.rank, r.video_id, v.title, r.views, r.watch_seconds
        FROM {rpt_top_videos} r
        JOIN videos v ON v.id = r.video_id
        WHERE r.period = %(period)s AND r.period_start = %(period_start)s
          AND r.scope = CASE WHEN %(seller_id)s::bigint IS NULL THEN 'platform' ELSE 'seller' END
          AND r.seller_id IS NOT DISTINCT FROM %(seller_id)s::bigint
        ORDER BY r.metric, r.rank
        """),
        {"period": period.value, "period_start": period_start, "seller_id": seller_id},
    )
    ranked: dict[str, list[DictRow]] = {"views": [], "watch_time": []}
    for row in await cursor.fetchall():
        ranked[row["metric"]].append(row)
    return ranked


# ----------------------------------------------------------------------------------------------------
# Day by day: a video's stats, a seller's daily payouts


async def daily_results(
    conn: AsyncConnection[DictRow], seller_id: int, first: dt.date, last: dt.date, video_id: int | None = None
) -> list[DictRow]:
    """Every day first..last with its status and the seller's results (one video's, if given), as they
    are paid: closed days as paid, adjustments on the day they were booked (payout = video_payout +
    ad_payout + adjustment, as the payouts answer), and for closed days changed_since_close = what the
    engine settles now minus what was paid. Days without activity are zeros; pending days are nulls."""
    days = await day_statuses(conn, first, last)
    if all_pending(days):
        return [{**row, **dict.fromkeys(DAY_MEASURES)} for row in days]
    await require_results(conn, "fct_video_daily", "fct_video_payable_daily")
    cursor = await conn.execute(
        analytics_sql(f"""
        WITH {DAY_STATUSES},
        payable AS (
            SELECT settled_on AS day, sum(views) AS views, sum(watch_seconds) AS watch_seconds,
                   sum(ad_views) AS ad_views, sum(video_payout) AS video_payout, sum(ad_payout) AS ad_payout,
                   sum(adjustment) AS adjustment
            FROM {{fct_video_payable_daily}}
            WHERE seller_id = %(seller_id)s AND settled_on BETWEEN %(first)s AND %(last)s
              AND (%(video_id)s::bigint IS NULL OR video_id = %(video_id)s::bigint)
            GROUP BY settled_on
        ),
        settled_now AS (
            SELECT settled_on AS day, sum(payout) AS payout
            FROM {{fct_video_daily}}
            WHERE seller_id = %(seller_id)s AND settled_on BETWEEN %(first)s AND %(last)s
              AND (%(video_id)s::bigint IS NULL OR video_id = %(video_id)s::bigint)
              AND settled_on IN (SELECT day FROM day_statuses WHERE status = 'closed')
            GROUP BY settled_on
        ),
        known AS (
            SELECT s.day, s.status, coalesce(p.views, 0) AS views, coalesce(p.watch_seconds, 0) AS watch_seconds,
                   coalesce(p.ad_views, 0) AS ad_views, coalesce(p.video_payout, 0) AS video_payout,
                   coalesce(p.ad_payout, 0) AS ad_payout, coalesce(p.adjustment, 0) AS adjustment,
                   coalesce(n.payout, 0) - coalesce(p.video_payout, 0) - coalesce(p.ad_payout, 0) AS changed_since_close
            FROM day_statuses s
            LEFT JOIN payable p ON p.day = s.day
            LEFT JOIN settled_now n ON n.day = s.day
        )
        SELECT day, status,
               CASE WHEN status <> 'pending' THEN views END AS views,
               CASE WHEN status <> 'pending' THEN watch_seconds END AS watch_seconds,
               CASE WHEN status <> 'pending' THEN ad_views END AS ad_views,
               CASE WHEN status <> 'pending' THEN video_payout END AS video_payout,
               CASE WHEN status <> 'pending' THEN ad_payout END AS ad_payout,
               CASE WHEN status <> 'pending' THEN adjustment END AS adjustment,
               CASE WHEN status <> 'pending' THEN video_payout + ad_payout + adjustment END AS payout,
               CASE WHEN status = 'closed' THEN changed_since_close END AS changed_since_close
        FROM known
        ORDER BY day
        """),
        {"seller_id": seller_id, "video_id": video_id, "first": first, "last": last},
    )
    return [{**row, "status": DayStatus(row["status"])} for row in await cursor.fetchall()]


async def video_stats(
    conn: AsyncConnection[DictRow], video: DictRow, first: dt.date, last: dt.date, zone: ZoneInfo
) -> dict[str, Any]:
    """A video's stats (VideoStatsOut): every day of first..last within its life so far (from the day it
    was uploaded to today, in the platform's time zone: nothing outside can have results, and the answer
    stays the size of the video's life however wide the range), and totals so far."""
    first = max(first, video["created_at"].astimezone(zone).date())
    last = min(last, clock.today(zone))
    days = await daily_results(conn, video["seller_id"], first, last, video["id"])
    closed = [day for day in days if day["status"] == DayStatus.CLOSED]
    return {
        "video_id": video["id"],
        "title": video["title"],
        "from_date": first,
        "to_date": last,
        "status": status_of([day["status"] for day in days]),
        "currency": CURRENCY,
        "days": days,
        **totals_so_far(days, PAYOUT_MEASURES),
        "changed_since_close": sum(day["changed_since_close"] for day in closed) if closed else None,
    }


# ----------------------------------------------------------------------------------------------------
# What was not counted


def not_counted_explanation(source: str, reason: str, events: int) -> str:
    """'312 events not counted: implausible watch time'."""
    one, many = NOT_COUNTED_UNITS.get(source, ("event", "events"))
    return f"{events:,} {one if events == 1 else many} not counted: {NOT_COUNTED_REASONS.get(reason, reason)}"


async def seller_not_counted(conn: AsyncConnection[DictRow], seller_id: int, period: Period, day: dt.date) -> dict[str, Any]:
    """Per day of the period, how many events of the seller's videos the quality gate turned down, per
    source and reason (NotCountedPeriodOut). Counts only: nothing about who sent them."""
    start, end = period_bounds(period, day)
    missing = await require_results(conn, optional=("fct_quarantined_events",))
    days = await day_statuses(conn, start, end)
    by_day: dict[dt.date, list[dict[str, Any]]] = {row["day"]: [] for row in days}
    if not missing:
        for row in await quarantined_counts(conn, seller_id, start, end):
            explanation = not_counted_explanation(row["source"], row["reason"], row["events"])
            by_day[row["day"]].append({**row, "explanation": explanation})
    out_days = [
        {
            "day": row["day"],
            "status": row["status"],
            "events": None if row["status"] == DayStatus.PENDING else sum(r["events"] for r in by_day[row["day"]]),
            "reasons": [] if row["status"] == DayStatus.PENDING else by_day[row["day"]],
        }
        for row in days
    ]
    return {
        "seller_id": seller_id,
        "period": period,
        "period_start": start,
        "period_end": end,
        "status": status_of([row["status"] for row in days]),
        "events": sum(row["events"] or 0 for row in out_days),
        "days": out_days,
    }


async def quarantined_counts(conn: AsyncConnection[DictRow], seller_id: int, first: dt.date, last: dt.date) -> list[DictRow]:
    # The raw row names the video as sent; matched as text, so a row that is not a number matches nothing.
    cursor = await conn.execute(
        analytics_sql("""
        SELECT q.settled_on AS day, q.source, q.reason, count(*) AS events
        FROM {fct_quarantined_events} q
        JOIN videos v ON v.id::text = q.raw_row ->> 'video_id'
        WHERE q.settled_on BETWEEN %(first)s AND %(last)s AND v.seller_id = %(seller_id)s
        GROUP BY q.settled_on, q.source, q.reason
        ORDER BY q.settled_on, count(*) DESC, q.source, q.reason
        """),
        {"seller_id": seller_id, "first": first, "last": last},
    )
    return await cursor.fetchall()
