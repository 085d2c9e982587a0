from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas import JsonInt, Timestamp
from api.videos.schemas import MAX_VIDEO_SECONDS

OCCURRED_AT_RULE = (
    "When it happened on the client, with its UTC offset. It must lie between "
    "SETTLEMENT_PLAYBACK_MAX_EVENT_AGE_HOURS (default 72) before the server's clock and "
    "SETTLEMENT_PLAYBACK_MAX_CLOCK_SKEW_SECONDS (default 300) after it: a time outside is refused "
    "with 422 (loc [\"body\", \"occurred_at\"]). JSON Schema cannot say \"relative to now\", so the "
    "format alone does not tell."
)


class EventIn(BaseModel):
    event_id: UUID = Field(description="Made by the client, once per event: resending an event is harmless.")
    occurred_at: Timestamp = Field(description=OCCURRED_AT_RULE)


class StartIn(EventIn):
    pass


class PositionIn(EventIn):
    position_seconds: JsonInt = Field(
        ge=0,
        le=MAX_VIDEO_SECONDS,
        description="Where the playhead is; past the video's duration it is refused with 422 "
        '(loc ["body", "position_seconds"]).',
    )
    watched_seconds: JsonInt = Field(
        default=0, ge=0, le=MAX_VIDEO_SECONDS, description="Seconds actually played since the previous event."
    )


class StartOut(BaseModel):
    event_id: UUID
    duplicate: bool = Field(description="True when this event had been recorded already (a retry).")
    counts_as_view: bool = Field(
        description="Whether this start is a new view (no event of this viewer and video within the view "
        "window before it). Indicative: the settlement pipeline decides."
    )
    resume_position_seconds: int


class AdImpressionOut(BaseModel):
    event_id: UUID
    slot: int
    ad_id: int


class PositionOut(BaseModel):
    event_id: UUID
    duplicate: bool
    position_seconds: int = Field(description="The saved position (a late event does not move it back).")
    ad_impressions: list[AdImpressionOut] = Field(
        description="The ads of the slots this event's playing moved the playhead across (a seek plays none)."
    )
