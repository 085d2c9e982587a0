"""Settlement results: a seller's payouts, top-5 rankings, a video's stats over a date range.

Sellers read only their own payouts, rankings and video stats (403 otherwise); the platform-wide
ranking is public.
"""

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query
from psycopg.rows import DictRow

from api.auth.dependencies import CurrentUser
from api.auth.schemas import Role
from api.database import ResultsConnection
from api.errors import error_responses, forbidden, not_found
from api.schemas import BIGINT_MAX, Day
from api.stats import service
from api.stats.schemas import DateInPeriod, PayoutsOut, Period, RankingsOut, VideoStatsOut
from api.videos.service import video_by_id

router = APIRouter(tags=["stats"])
SellerId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]


def require_own_seller_data(user: DictRow, seller_id: int) -> None:
    if user["id"] != seller_id:
        raise forbidden("sellers can only read their own results")
    if user["role"] != Role.SELLER:
        raise forbidden("sellers only: become a seller with POST /me/seller first")


@router.get(
    "/sellers/{seller_id}/payouts", response_model=PayoutsOut, responses=error_responses(401, 403, 404)
)
async def seller_payouts(
    seller_id: SellerId,
    period: Period,
    date: DateInPeriod,
    user: CurrentUser,
    conn: ResultsConnection,
) -> PayoutsOut:
    """Total payout, payout per video and per ad of each video, for the day / ISO week / month holding date,
    and the adjustments for closed days booked in it."""
    require_own_seller_data(user, seller_id)
    start, end = service.period_bounds(period, date)
    videos, adjustments = await service.seller_payouts(conn, seller_id, period, start, end)
    return PayoutsOut(
        seller_id=seller_id,
        period=period,
        period_start=start,
        period_end=end,
        videos=videos,
        adjustments=adjustments,
        **service.totals(videos, service.PAYOUT_MEASURES),
    )


async def rankings(conn, period: Period, date: dt.date, seller_id: int | None) -> RankingsOut:
    start, end = service.period_bounds(period, date)
    ranked = await service.top_videos(conn, period, start, seller_id)
    return RankingsOut(
        period=period,
        period_start=start,
        period_end=end,
        seller_id=seller_id,
        by_views=ranked["views"],
        by_watch_time=ranked["watch_time"],
    )


@router.get("/rankings", response_model=RankingsOut, responses=error_responses(404))
async def platform_rankings(
    period: Period, date: DateInPeriod, conn: ResultsConnection
) -> RankingsOut:
    """The platform's top 5 videos by views and by watch time."""
    return await rankings(conn, period, date, None)


@router.get(
    "/sellers/{seller_id}/rankings", response_model=RankingsOut, responses=error_responses(401, 403, 404)
)
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


@router.get(
    "/videos/{video_id}/stats", response_model=VideoStatsOut, responses=error_responses(401, 403, 404)
)
async def video_stats(
    video_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)],
    first: Annotated[Day, Query(alias="from")],
    last: Annotated[Day, Query(alias="to")],
    user: CurrentUser,
    conn: ResultsConnection,
) -> VideoStatsOut:
    """Views, watch time, ad views and payouts of one of the caller's videos, per settled day with
    activity from `from` to `to` (both included), and in total. Any range: the answer holds at most
    one row per day the video was settled; `to` before `from` is an empty range."""
    video = await video_by_id(conn, video_id)
    if video is None:
        raise not_found(f"no video {video_id}")
    require_own_seller_data(user, video["seller_id"])
    days = await service.video_days(conn, video_id, first, last)
    return VideoStatsOut(video_id=video_id, from_date=first, to_date=last, days=days, **service.totals(days))
