import datetime as dt
from enum import StrEnum
from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, Field

from api.schemas import Day

DateInPeriod = Annotated[Day, Query(description="Any day inside the period.")]
Won = Annotated[int, Field(description="Whole won (amounts are truncated, never rounded).")]


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class AdPayoutOut(BaseModel):
    ad_id: int
    ad_views: int
    ad_payout: Won


class Measures(BaseModel):
    views: int
    watch_seconds: int
    ad_views: int
    video_payout: Won
    ad_payout: Won
    payout: Won


class PayoutMeasures(Measures):
    adjustment: Won = Field(
        description="Adjustments booked in the period for closed (already paid) days whose payouts changed "
        "since (late events); may be negative. payout = video_payout + ad_payout + adjustment."
    )


class VideoPayoutOut(PayoutMeasures):
    video_id: int
    title: str
    ads: list[AdPayoutOut]


class AdjustmentOut(BaseModel):
    booked_on: dt.date = Field(description="The open day the adjustment is booked on (inside the period).")
    belongs_to: dt.date = Field(description="The closed day whose payout changed.")
    video_id: int
    amount: Won = Field(description="Settled now minus already paid; may be negative.")
    reason: str


class PayoutsOut(PayoutMeasures):
    seller_id: int
    period: Period
    period_start: dt.date
    period_end: dt.date
    videos: list[VideoPayoutOut]
    adjustments: list[AdjustmentOut] = Field(
        description="The seller's adjustments booked in the period, oldest first; their amounts sum to adjustment."
    )


class RankedVideoOut(BaseModel):
    rank: int
    video_id: int
    title: str
    views: int
    watch_seconds: int


class RankingsOut(BaseModel):
    period: Period
    period_start: dt.date
    period_end: dt.date
    seller_id: int | None = Field(description="Whose videos are ranked; null for the whole platform.")
    by_views: list[RankedVideoOut]
    by_watch_time: list[RankedVideoOut]


class VideoDayOut(Measures):
    day: dt.date


class VideoStatsOut(Measures):
    video_id: int
    from_date: dt.date
    to_date: dt.date
    days: list[VideoDayOut] = Field(description="Settled days with activity, oldest first.")
