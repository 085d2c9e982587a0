import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel, Field

from api.schemas import Day
from settlement.warehouse import DayStatus

DateInPeriod = Annotated[Day, Query(description="Any day inside the period.")]
Won = Annotated[int, Field(description="Whole won (amounts are truncated, never rounded).")]
Currency = Annotated[Literal["KRW"], Field(description="The currency of every amount in the answer: whole won.")]

STATUS_OF_A_DAY = (
    "pending: not settled yet (its amounts are unknown, not zero); settled: settled, late events may still "
    "change it; closed: paid and final, later changes arrive as adjustments booked on an open day."
)
STATUS_OF_DAYS = "Of all the days together: closed when every day is closed, pending when any day is pending, settled otherwise."
AMOUNTS_SO_FAR = "The amounts are those of the days settled or closed so far; null only when no day is."
SO_FAR = "Sum over the settled and closed days; null when none of them is settled yet."
IF_SETTLED = "Null when the day is pending (not settled yet): unknown, not zero."


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class DayStatusOut(BaseModel):
    day: dt.date
    status: DayStatus = Field(description=STATUS_OF_A_DAY)


class AdPayoutOut(BaseModel):
    ad_id: int
    title: str = Field(description="The ad's title.")
    ad_views: int
    ad_payout: Won


class Measures(BaseModel):
    views: int
    watch_seconds: int
    ad_views: int
    video_payout: Won
    ad_payout: Won
    payout: Won


ADJUSTMENT = (
    "Adjustments booked in the period for closed (already paid) days whose payouts changed since (late "
    "events); may be negative. payout = video_payout + ad_payout + adjustment."
)


class PayoutMeasures(Measures):
    adjustment: Won = Field(description=ADJUSTMENT)


class VideoPayoutOut(PayoutMeasures):
    video_id: int
    title: str
    ads: list[AdPayoutOut]


class AdjustmentOut(BaseModel):
    booked_on: dt.date = Field(description="The open day the adjustment is booked on (inside the period).")
    belongs_to: dt.date = Field(description="The closed day whose payout changed.")
    video_id: int
    title: str = Field(description="The video's title.")
    amount: Won = Field(description="Settled now minus already paid; may be negative.")
    reason: str


MaybeCount = Annotated[int | None, Field(description=SO_FAR)]
MaybeWon = Annotated[int | None, Field(description=f"Whole won. {SO_FAR}")]


class PayoutsOut(BaseModel):
    seller_id: int
    period: Period
    period_start: dt.date
    period_end: dt.date
    status: DayStatus = Field(description=f"{STATUS_OF_DAYS} {AMOUNTS_SO_FAR}")
    days: list[DayStatusOut] = Field(description="Each day of the period with its status, oldest first.")
    currency: Currency = "KRW"
    views: MaybeCount
    watch_seconds: MaybeCount
    ad_views: MaybeCount
    video_payout: MaybeWon
    ad_payout: MaybeWon
    adjustment: MaybeWon = Field(description=f"{ADJUSTMENT} {SO_FAR}")
    payout: MaybeWon
    videos: list[VideoPayoutOut] = Field(description="The seller's videos with results in the period, highest payout first.")
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
    status: DayStatus = Field(description=f"{STATUS_OF_DAYS} The ranks cover the settled and closed days.")
    days: list[DayStatusOut] = Field(description="Each day of the period with its status, oldest first.")
    seller_id: int | None = Field(description="Whose videos are ranked; null for the whole platform.")
    by_views: list[RankedVideoOut]
    by_watch_time: list[RankedVideoOut]


class VideoDayOut(BaseModel):
    day: dt.date
    status: DayStatus = Field(description=STATUS_OF_A_DAY)
    views: Annotated[int | None, Field(description=f"Views. A closed day: as paid. {IF_SETTLED}")]
    watch_seconds: Annotated[int | None, Field(description=f"Seconds watched. A closed day: as paid. {IF_SETTLED}")]
    ad_views: Annotated[int | None, Field(description=f"Ad views. A closed day: as paid. {IF_SETTLED}")]
    video_payout: Annotated[int | None, Field(description=f"Video part, whole won. A closed day: as paid. {IF_SETTLED}")]
    ad_payout: Annotated[int | None, Field(description=f"Ad part, whole won. A closed day: as paid. {IF_SETTLED}")]
    adjustment: Annotated[
        int | None,
        Field(
            description=f"Adjustments for this video booked on this day (for earlier closed days); may be negative. {IF_SETTLED}"
        ),
    ]
    payout: Annotated[
        int | None,
        Field(
            description="video_payout + ad_payout + adjustment, whole won: what this day pays for the video, as "
            f"in /sellers/{{seller_id}}/payouts (a period's days add up to its payout there). {IF_SETTLED}"
        ),
    ]
    changed_since_close: Annotated[
        int | None,
        Field(
            description="A closed day only (null otherwise): what the engine settles for it now minus what was "
            "paid, whole won, may be negative. Information only: it is paid through adjustments booked on later "
            "open days (their `adjustment`), so do not add it to payout."
        ),
    ]


class VideoStatsOut(BaseModel):
    video_id: int
    title: str
    from_date: dt.date = Field(description="The first day listed: `from`, or the day the video was uploaded if later.")
    to_date: dt.date = Field(description="The last day listed: `to`, or today (platform time) if earlier.")
    status: DayStatus = Field(description=f"{STATUS_OF_DAYS} {AMOUNTS_SO_FAR}")
    currency: Currency = "KRW"
    views: MaybeCount
    watch_seconds: MaybeCount
    ad_views: MaybeCount
    video_payout: MaybeWon
    ad_payout: MaybeWon
    adjustment: MaybeWon
    payout: MaybeWon
    changed_since_close: Annotated[
        int | None, Field(description="Sum over the closed days of the range; null when none is closed.")
    ]
    days: list[VideoDayOut] = Field(
        description="Every day from from_date to to_date, oldest first: days without activity are zeros, days not settled yet are null."
    )


class NotCountedOut(BaseModel):
    source: Literal["watch_events", "ad_impressions"] = Field(description="Playback events or ad impressions.")
    reason: str = Field(description="The quality gate's rule (SPEC.md, 'What does not count').")
    events: int = Field(description="How many of them.")
    explanation: str = Field(description="The same in words, e.g. '312 events not counted: implausible watch time'.")


class NotCountedDayOut(BaseModel):
    day: dt.date
    status: DayStatus = Field(description=STATUS_OF_A_DAY)
    events: int | None = Field(description="Events of the seller's videos not counted that day; null when the day is pending.")
    reasons: list[NotCountedOut] = Field(description="Per source and reason, most first.")


class NotCountedPeriodOut(BaseModel):
    seller_id: int
    period: Period
    period_start: dt.date
    period_end: dt.date
    status: DayStatus = Field(description=STATUS_OF_DAYS)
    events: int = Field(description="Events of the seller's videos not counted in the settled and closed days of the period.")
    days: list[NotCountedDayOut] = Field(description="Each day of the period, oldest first.")
