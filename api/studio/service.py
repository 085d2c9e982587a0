"""What the studio pages show, read through the API's own service functions (api.stats.service): one
source of truth for the numbers, the statuses and which seller may see what."""

import datetime as dt
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from api.stats import service as stats
from api.stats.schemas import Period
from api.studio.chart import daily_payout_chart
from settlement.warehouse import DayStatus

CHART_DAYS = 30


class VideoOrder(StrEnum):
    """How the video table is sorted (highest first, but by title)."""

    PAYOUT = "payout"
    VIDEO_PAYOUT = "video_payout"
    AD_PAYOUT = "ad_payout"
    ADJUSTMENT = "adjustment"
    VIEWS = "views"
    WATCH_TIME = "watch_seconds"
    TITLE = "title"


def sorted_videos(videos: list[DictRow], order: VideoOrder) -> list[DictRow]:
    if order is VideoOrder.TITLE:
        return sorted(videos, key=lambda video: (video["title"].casefold(), video["video_id"]))
    return sorted(videos, key=lambda video: (-video[order.value], video["video_id"]))


def chart_range(first: dt.date, last: dt.date, yesterday: dt.date) -> tuple[dt.date, dt.date]:
    """The CHART_DAYS days ending with the period's last day, or with yesterday (the last day that can be
    settled) while the period is still going on."""
    end = max(first, min(last, yesterday))
    # stops at the calendar's first day (0001-01-01) rather than overflowing
    return end - dt.timedelta(days=min(CHART_DAYS - 1, (end - dt.date.min).days)), end


def day_counts(days: list[dict[str, Any]]) -> dict[str, int]:
    """How many days of the period are pending, settled, closed."""
    return {status.value: sum(1 for day in days if day["status"] == status) for status in DayStatus}


def navigation(period: dict[str, Any]) -> dict[str, Any]:
    """The days the previous and next period links point at (none past the calendar's ends)."""
    first, last = period["period_start"], period["period_end"]
    return {
        "previous_day": first - dt.timedelta(days=1) if first > dt.date.min else None,
        "next_day": last + dt.timedelta(days=1) if last < dt.date.max else None,
    }


async def default_day(conn: AsyncConnection[DictRow], yesterday: dt.date) -> dt.date:
    """The day the studio opens on: the latest settled day, else yesterday."""
    return await stats.latest_settled_day(conn) or yesterday


async def overview(
    conn: AsyncConnection[DictRow], seller_id: int, period: Period, day: dt.date, order: VideoOrder, yesterday: dt.date
) -> dict[str, Any]:
    payouts = await stats.seller_period_payouts(conn, seller_id, period, day)
    chart_first, chart_last = chart_range(payouts["period_start"], payouts["period_end"], yesterday)
    daily = await stats.daily_results(conn, seller_id, chart_first, chart_last)
    return {
        "payouts": payouts,
        "day_counts": day_counts(payouts["days"]),
        "videos": sorted_videos(payouts["videos"], order),
        "order": order,
        "rankings": await stats.rankings(conn, period, day, seller_id),
        "chart": daily_payout_chart(daily),
        "chart_first": chart_first,
        "chart_last": chart_last,
        "not_counted": await stats.seller_not_counted(conn, seller_id, period, day),
    }


async def video_page(
    conn: AsyncConnection[DictRow], video: DictRow, period: Period, day: dt.date, zone: ZoneInfo
) -> dict[str, Any]:
    first, last = stats.period_bounds(period, day)
    video_stats = await stats.video_stats(conn, video, first, last, zone)
    return {
        "stats": video_stats,
        "day_counts": day_counts(video_stats["days"]),
        "chart": daily_payout_chart(video_stats["days"]),
        "period_start": first,
        "period_end": last,
    }
