"""Playback: start, progress, pause, stop of the calling user watching a video, one event at a time
or in batches (POST /playback/events) — one code path, api.playback.service.record."""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from api.auth.dependencies import Session, SessionCheckedRoute, TokenSession
from api.config import ApiSettings
from api.database import Connection
from api.dependencies import AppSettings
from api.errors import error_responses
from api.playback import service
from api.playback.schemas import (
    MAX_BATCH_EVENTS,
    BatchIn,
    BatchOut,
    PositionIn,
    PositionOut,
    StartIn,
    StartOut,
)
from api.schemas import BIGINT_MAX

# The viewer's session is checked by the recording statement itself (TokenSession, SessionCheckedRoute):
# one round trip to the database for a request, not one for the check and another for the events.
router = APIRouter(
    prefix="/videos/{video_id}/playback",
    tags=["playback"],
    responses=error_responses(401, 404, 409),
    route_class=SessionCheckedRoute,
)
batch_router = APIRouter(prefix="/playback", tags=["playback"], responses=error_responses(401), route_class=SessionCheckedRoute)
VideoId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]


@router.post("/start", response_model=StartOut)
async def start(video_id: VideoId, body: StartIn, session: TokenSession, conn: Connection, settings: AppSettings) -> StartOut:
    """Starts watching: returns where to resume, and whether this start counts as a view."""
    event = service.Event(video_id, "START", body.event_id, body.occurred_at)
    outcome = await service.record_one(conn, settings, session, event)
    return StartOut(
        event_id=body.event_id,
        duplicate=not outcome.recorded,
        counts_as_view=outcome.counts_as_view,
        resume_position_seconds=outcome.position_seconds,
    )


async def _move(
    kind: service.Kind, video_id: int, body: PositionIn, session: Session, conn: AsyncConnection[DictRow], settings: ApiSettings
) -> PositionOut:
    event = service.Event(video_id, kind, body.event_id, body.occurred_at, body.position_seconds, body.watched_seconds)
    outcome = await service.record_one(conn, settings, session, event)
    return PositionOut(
        event_id=body.event_id,
        duplicate=not outcome.recorded,
        position_seconds=outcome.position_seconds,
        ad_impressions=outcome.ad_impressions,
    )


@router.post("/progress", response_model=PositionOut)
async def progress(
    video_id: VideoId, body: PositionIn, session: TokenSession, conn: Connection, settings: AppSettings
) -> PositionOut:
    """Reports the playhead and the seconds played since the previous event; playing across an ad
    slot records that ad's impression (seeking past it does not)."""
    return await _move("PROGRESS", video_id, body, session, conn, settings)


@router.post("/pause", response_model=PositionOut)
async def pause(
    video_id: VideoId, body: PositionIn, session: TokenSession, conn: Connection, settings: AppSettings
) -> PositionOut:
    return await _move("PAUSE", video_id, body, session, conn, settings)


@router.post("/stop", response_model=PositionOut)
async def stop(
    video_id: VideoId, body: PositionIn, session: TokenSession, conn: Connection, settings: AppSettings
) -> PositionOut:
    return await _move("STOP", video_id, body, session, conn, settings)


def answer(outcome: service.Outcome) -> dict[str, Any]:
    """The batch's answer for one event, as BatchEventOut documents it."""
    event = outcome.event
    fields = {
        "event_id": str(event.event_id),
        "video_id": event.video_id,
        "kind": event.kind,
        "status": outcome.status,
        "refusal": None,
        "counts_as_view": None,
        "resume_position_seconds": None,
        "position_seconds": None,
        "ad_impressions": [],
    }
    if outcome.refusal:
        fields["refusal"] = {"status_code": outcome.refusal.status_code, "detail": outcome.refusal.detail}
    elif event.kind == "START":
        fields |= {"counts_as_view": outcome.counts_as_view, "resume_position_seconds": outcome.position_seconds}
    else:
        fields["position_seconds"] = outcome.position_seconds
        fields["ad_impressions"] = [
            {"event_id": str(impression.event_id), "slot": impression.slot, "ad_id": impression.ad_id}
            for impression in outcome.ad_impressions
        ]
    return fields


BATCH_DESCRIPTION = (
    f"Records a batch of the calling viewer's playback events (up to {MAX_BATCH_EVENTS}, of any videos), as a "
    f"player buffers them: each is recorded, recognised as a retry (duplicate), or refused with the answer "
    f"its single event endpoint would have given (status_code and detail: an unknown or unplayable video, "
    f"one not live at the event's time, a position or watched seconds beyond its length, a time outside the "
    f"accepted window). Everything is checked before anything is written, in one transaction; a retried "
    f"batch records nothing twice. A malformed batch (not the schema below, more than {MAX_BATCH_EVENTS} "
    f"events) is refused whole with 422, a body over the size limit with 413."
)


@batch_router.post(
    "/events",
    response_model=BatchOut,
    description=BATCH_DESCRIPTION,
)
async def record_events(body: BatchIn, session: TokenSession, conn: Connection, settings: AppSettings) -> Response:
    events = [
        service.Event(
            item.video_id,
            item.kind,
            item.event_id,
            item.occurred_at,
            getattr(item, "position_seconds", None),
            getattr(item, "watched_seconds", None),
        )
        for item in body.events
    ]
    outcomes = await service.record(conn, settings, session, events)
    statuses = [outcome.status for outcome in outcomes]
    batch = {
        "events": [answer(outcome) for outcome in outcomes],
        "recorded": statuses.count("recorded"),
        "duplicates": statuses.count("duplicate"),
        "refused": statuses.count("refused"),
    }
    # The answer as BatchOut documents it (tests/api/test_playback_batch.py and the schema tests hold it
    # to that), encoded at once: building and validating 500 models would cost more than recording.
    return Response(json.dumps(batch, separators=(",", ":")), media_type="application/json")
