from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, Field

from api.schemas import BIGINT_MAX, JsonInt, Timestamp, bounded_json_int
from api.videos.schemas import MAX_VIDEO_SECONDS

OCCURRED_AT_RULE = (
    "When it happened on the client, with its UTC offset. It must lie between "
    "SETTLEMENT_PLAYBACK_MAX_EVENT_AGE_HOURS (default 72) before the server's clock and "
    "SETTLEMENT_CLOCK_SKEW_SECONDS (default 300) after it: a time outside is refused "
    'with 422 (loc ["body", "occurred_at"]). JSON Schema cannot say "relative to now", so the '
    "format alone does not tell."
)
# Events per POST /playback/events: what a player buffers between two reports.
MAX_BATCH_EVENTS = 500


class EventIn(BaseModel):
    event_id: UUID = Field(
        description="Made by the client, once per event: resending an event is harmless. Time-ordered ids "
        "(UUIDv7) cost the database less to record than random ones."
    )
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
        "window before it, and not a seller watching their own video). Indicative: the settlement pipeline decides."
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


# POST /playback/events: one event of a batch names its video and kind.
if TYPE_CHECKING:  # bounded_json_int() makes an Annotated[int, ...] when the module runs; to mypy it is an int
    VideoIdIn = int
else:
    VideoIdIn = bounded_json_int(1, BIGINT_MAX, "The video played.")


class BatchStartIn(StartIn):
    video_id: VideoIdIn
    kind: Literal["START"] = Field(description="As POST /videos/{video_id}/playback/start.")


class BatchPositionIn(PositionIn):
    video_id: VideoIdIn
    kind: Literal["PROGRESS", "PAUSE", "STOP"] = Field(
        description="As POST /videos/{video_id}/playback/progress, /pause or /stop."
    )


BatchEventIn = Annotated[BatchStartIn | BatchPositionIn, Field(discriminator="kind")]


def _at_most_a_batch(events: Any) -> Any:
    # Before the events are validated one by one: an oversized list costs nothing to refuse.
    if isinstance(events, list) and len(events) > MAX_BATCH_EVENTS:
        raise ValueError(f"a batch holds at most {MAX_BATCH_EVENTS} events, not {len(events)}: send the rest in another")
    return events


class BatchIn(BaseModel):
    events: Annotated[list[BatchEventIn], BeforeValidator(_at_most_a_batch)] = Field(
        max_length=MAX_BATCH_EVENTS,
        description=f"Up to {MAX_BATCH_EVENTS} of the calling viewer's events, of any videos, in the order they "
        "happened on the client (the saved positions move as if they had been sent one by one, in this order).",
    )


class RefusalOut(BaseModel):
    status_code: int = Field(description="What the single event endpoint would have answered: 404, 409 or 422.")
    detail: str | list[dict[str, Any]] = Field(description="Its answer's detail, the same.")


class BatchEventOut(BaseModel):
    event_id: UUID
    video_id: int
    kind: str
    status: Literal["recorded", "duplicate", "refused"] = Field(
        description="recorded; duplicate: this event had been recorded already (a retry), nothing changed; "
        "refused: not recorded, for the reason in refusal."
    )
    refusal: RefusalOut | None = None
    counts_as_view: bool | None = Field(default=None, description="A START's, as the start endpoint answers.")
    resume_position_seconds: int | None = Field(default=None, description="A START's, as the start endpoint answers.")
    position_seconds: int | None = Field(
        default=None, description="A PROGRESS, PAUSE or STOP's saved position, as their endpoints answer."
    )
    ad_impressions: list[AdImpressionOut] = Field(
        default_factory=list, description="A PROGRESS's ad impressions, as the progress endpoint answers."
    )


class BatchOut(BaseModel):
    events: list[BatchEventOut] = Field(description="One answer per event, in the order they were sent.")
    recorded: int
    duplicates: int
    refused: int
