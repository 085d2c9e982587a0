"""Playback: start, progress, pause, stop of the calling user watching a video."""

from typing import Annotated

from fastapi import APIRouter, Path
from psycopg.rows import DictRow

from api.auth.dependencies import CurrentUser
from api.database import Connection
from api.dependencies import AppSettings
from api.errors import conflict, error_responses, not_found
from api.playback import service
from api.playback.schemas import PositionIn, PositionOut, StartIn, StartOut
from api.schemas import BIGINT_MAX
from api.videos.service import video_by_id

router = APIRouter(prefix="/videos/{video_id}/playback", tags=["playback"], responses=error_responses(401, 404, 409))
VideoId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]


async def playable_video(conn, video_id: int) -> DictRow:
    video = await video_by_id(conn, video_id)
    if video is None:
        raise not_found(f"no video {video_id}")
    if video["status"] != "ACTIVE":
        raise conflict(f"video {video_id} is not playable (status {video['status']})")
    return video


@router.post("/start", response_model=StartOut)
async def start(
    video_id: VideoId, body: StartIn, user: CurrentUser, conn: Connection, settings: AppSettings
) -> StartOut:
    """Starts watching: returns where to resume, and whether this start counts as a view."""
    service.check_event_time(settings, body.occurred_at)
    await playable_video(conn, video_id)
    return await service.start(conn, settings, user["id"], video_id, body)


async def _move(kind, video_id, body, user, conn, settings) -> PositionOut:
    service.check_event_time(settings, body.occurred_at)
    video = await playable_video(conn, video_id)
    return await service.move(conn, settings, kind, user["id"], video, body)


@router.post("/progress", response_model=PositionOut)
async def progress(
    video_id: VideoId, body: PositionIn, user: CurrentUser, conn: Connection, settings: AppSettings
) -> PositionOut:
    """Reports the playhead and the seconds played since the previous event; playing across an ad
    slot records that ad's impression (seeking past it does not)."""
    return await _move("PROGRESS", video_id, body, user, conn, settings)


@router.post("/pause", response_model=PositionOut)
async def pause(
    video_id: VideoId, body: PositionIn, user: CurrentUser, conn: Connection, settings: AppSettings
) -> PositionOut:
    return await _move("PAUSE", video_id, body, user, conn, settings)


@router.post("/stop", response_model=PositionOut)
async def stop(
    video_id: VideoId, body: PositionIn, user: CurrentUser, conn: Connection, settings: AppSettings
) -> PositionOut:
    return await _move("STOP", video_id, body, user, conn, settings)
