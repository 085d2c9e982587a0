"""Reads of the settlement results (the dbt marts in schema analytics)."""

import calendar
import datetime as dt

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from api.errors import not_found
from api.stats.schemas import Period

MEASURES = ("views", "watch_seconds", "ad_views", "video_payout", "ad_payout", "payout")
PAYOUT_MEASURES = (*MEASURES, "adjustment")


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


async def require_results(conn: AsyncConnection[DictRow], *tables: str, optional: tuple[str, ...] = ()) -> set[str]:
    """404 with an explanation when the engine has not built these analytics tables yet; returns
    those of the optional ones it has not built yet."""
    cursor = await conn.execute(
        "SELECT name FROM unnest(%s::text[]) AS name WHERE to_regclass('analytics.' || name) IS NULL",
        ([*tables, *optional],),
    )
    missing = {row["name"] for row in await cursor.fetchall()}
    required = sorted(missing.difference(optional))
    if required:
        raise not_found(
            f"no settlement results yet (analytics.{', analytics.'.join(required)} missing): run `settlement run` first"
        )
    return missing


async def seller_payouts(
    conn: AsyncConnection[DictRow], seller_id: int, period: Period, first: dt.date, last: dt.date
) -> tuple[list[DictRow], list[DictRow]]:
    """(the seller's videos with payouts in the period, highest first, each with its per-ad payouts;
    the seller's adjustments booked in it, oldest first)."""
    missing = await require_results(
        conn, "fct_video_payouts", "fct_video_ad_payouts", optional=("fct_payout_adjustments",)
    )
    videos = await videos_with_ads(conn, seller_id, period, first)
    adjustments = [] if missing else await seller_adjustments(conn, seller_id, first, last)
    return videos, adjustments


async def videos_with_ads(
    conn: AsyncConnection[DictRow], seller_id: int, period: Period, period_start: dt.date
) -> list[DictRow]:
    # One statement, so a video and its ads are read from one snapshot.
    cursor = await conn.execute(
        """
        WITH ads AS (
            SELECT video_id, array_agg(ad_id ORDER BY ad_id) AS ad_ids,
                   array_agg(ad_views ORDER BY ad_id) AS ad_views_per_ad,
                   array_agg(ad_payout ORDER BY ad_id) AS ad_payout_per_ad
            FROM analytics.fct_video_ad_payouts
            WHERE period = %(period)s AND period_start = %(period_start)s AND seller_id = %(seller_id)s
            GROUP BY video_id
        )
        SELECT p.video_id, v.title, p.views, p.watch_seconds, p.ad_views, p.video_payout, p.ad_payout,
               p.adjustment, p.payout, ads.ad_ids, ads.ad_views_per_ad, ads.ad_payout_per_ad
        FROM analytics.fct_video_payouts p
        JOIN videos v ON v.id = p.video_id
        LEFT JOIN ads ON ads.video_id = p.video_id
        WHERE p.period = %(period)s AND p.period_start = %(period_start)s AND p.seller_id = %(seller_id)s
        ORDER BY p.payout DESC, p.video_id
        """,
        {"period": period.value, "period_start": period_start, "seller_id": seller_id},
    )
    return [with_ads(row) for row in await cursor.fetchall()]


def with_ads(row: DictRow) -> DictRow:
    per_ad = zip(row.pop("ad_ids") or [], row.pop("ad_views_per_ad") or [], row.pop("ad_payout_per_ad") or [])
    row["ads"] = [{"ad_id": ad_id, "ad_views": views, "ad_payout": payout} for ad_id, views, payout in per_ad]
    return row


async def seller_adjustments(
    conn: AsyncConnection[DictRow], seller_id: int, first: dt.date, last: dt.date
) -> list[DictRow]:
    cursor = await conn.execute(
        """
        SELECT booked_on, belongs_to, video_id, payout_delta AS amount, reason
        FROM analytics.fct_payout_adjustments
        WHERE seller_id = %s AND booked_on BETWEEN %s AND %s
        ORDER BY booked_on, belongs_to, video_id
        """,
        (seller_id, first, last),
    )
    return await cursor.fetchall()


async def top_videos(
    conn: AsyncConnection[DictRow], period: Period, period_start: dt.date, seller_id: int | None
) -> dict[str, list[DictRow]]:
    """{'views': [...], 'watch_time': [...]}: the top 5 of the platform, or of one seller."""
    await require_results(conn, "rpt_top_videos")
    cursor = await conn.execute(
        """
        SELECT r.metric, r.rank, r.video_id, v.title, r.views, r.watch_seconds
        FROM analytics.rpt_top_videos r
        JOIN videos v ON v.id = r.video_id
        WHERE r.period = %(period)s AND r.period_start = %(period_start)s
          AND r.scope = CASE WHEN %(seller_id)s::bigint IS NULL THEN 'platform' ELSE 'seller' END
          AND r.seller_id IS NOT DISTINCT FROM %(seller_id)s::bigint
        ORDER BY r.metric, r.rank
        """,
        {"period": period.value, "period_start": period_start, "seller_id": seller_id},
    )
    ranked: dict[str, list[DictRow]] = {"views": [], "watch_time": []}
    for row in await cursor.fetchall():
        ranked[row["metric"]].append(row)
    return ranked


async def video_days(
    conn: AsyncConnection[DictRow], video_id: int, first: dt.date, last: dt.date
) -> list[DictRow]:
    await require_results(conn, "fct_video_daily")
    cursor = await conn.execute(
        f"""
        SELECT settled_on AS day, {', '.join(MEASURES)}
        FROM analytics.fct_video_daily
        WHERE video_id = %s AND settled_on BETWEEN %s AND %s
        ORDER BY settled_on
        """,
        (video_id, first, last),
    )
    return await cursor.fetchall()
