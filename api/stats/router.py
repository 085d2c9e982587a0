"""Settlement results: a seller's payouts, top-5 rankings, a video's stats over a date range, and what
the quality gate did not count.

Sellers read only their own payouts, rankings, video stats and uncounted events (403 otherwise); the
platform-wide ranking is public. Every answer says the status of its days (pending, settled, closed)
and amounts are whole won (currency KRW).
"""

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from api.auth.dependencies import CurrentUser, require_own_seller_data
from api.database import ResultsConnection
from api.dependencies import AppSettings
from api.errors import UNAVAILABLE, error_responses, not_found
from api.schemas import BIGINT_MAX, Day, SellerId
from api.stats import service
from api.stats.schemas import DateInPeriod, NotCountedPeriodOut, PayoutsOut, Period, RankingsOut, VideoStatsOut
from api.videos.service import video_by_id

router = APIRouter(tags=["stats"])


@router.get("/sellers/{seller_id}/payouts", response_model=PayoutsOut, responses={**error_responses(401, 403), **UNAVAILABLE})
async def seller_payouts(
    seller_id: SellerId,
    period: Period,
    date: DateInPeriod,
    user: CurrentUser,
    conn: ResultsConnection,
) -> PayoutsOut:
    """Total payout, payout per video and per ad of each video, for the day / ISO week / month holding date,
    and the adjustments for closed days booked in it; the status of each day and of the period. A period
    none of whose days is settled yet answers status pending with null amounts (unknown, not zero)."""
    require_own_seller_data(user, seller_id)
    return PayoutsOut(**await service.seller_period_payouts(conn, seller_id, period, date))


async def rankings(conn: AsyncConnection[DictRow], period: Period, date: dt.date, seller_id: int | None) -> RankingsOut:
    return RankingsOut(**await service.rankings(conn, period, date, seller_id))


@router.get("/rankings", response_model=RankingsOut, responses=UNAVAILABLE)
async def platform_rankings(period: Period, date: DateInPeriod, conn: ResultsConnection) -> RankingsOut:
    """The platform's top 5 videos by views and by watch time."""
    return await rankings(conn, period, date, None)


@router.get("/sellers/{seller_id}/rankings", response_model=RankingsOut, responses={**error_responses(401, 403), **UNAVAILABLE})
async def seller_rankings(
    seller_id: SellerId,
    period: Period,
    date: DateInPeriod,
    user: CurrentUser,
    conn: ResultsConnection,
) -> RankingsOut:
    """The seller's own top 5 videos by views and by watch time."""
    require_own_seller_data(user, seller_id)
    return await rankings(conn, period, date, seller_id)


@router.get("/videos/{video_id}/stats", response_model=VideoStatsOut, responses={**error_responses(401, 403, 404), **UNAVAILABLE})
async def video_stats(
    video_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)],
    first: Annotated[Day, Query(alias="from")],
    last: Annotated[Day, Query(alias="to")],
    user: CurrentUser,
    conn: ResultsConnection,
    settings: AppSettings,
) -> VideoStatsOut:
    """Views, watch time, ad views and payouts of one of the caller's videos, every day of the range and in
    total, as paid: a closed day as it was paid (and, apart, what changed since), adjustments on the day
    they were booked, so that the days add up to the video's payouts in /sellers/{seller_id}/payouts.
    Any range; the days listed are those of the video's life so far (from the day it was uploaded to
    today, platform time) within it, so from_date and to_date may be narrower than asked; `to` before
    `from` is an empty range."""
    video = await video_by_id(conn, video_id)
    if video is None:
        raise not_found(f"no video {video_id}")
    require_own_seller_data(user, video["seller_id"])
    return VideoStatsOut(**await service.video_stats(conn, video, first, last, settings.zone))


@router.get(
    "/sellers/{seller_id}/not-counted",
    response_model=NotCountedPeriodOut,
    responses=error_responses(401, 403),
)
async def seller_not_counted(
    seller_id: SellerId,
    period: Period,
    date: DateInPeriod,
    user: CurrentUser,
    conn: ResultsConnection,
) -> NotCountedPeriodOut:
    """Per day of the period, how many events of the seller's videos the quality gate did not count, per
    reason, in words ("312 events not counted: implausible watch time"). Counts only, nothing about the viewers."""
    require_own_seller_data(user, seller_id)
    return NotCountedPeriodOut(**await service.seller_not_counted(conn, seller_id, period, date))
