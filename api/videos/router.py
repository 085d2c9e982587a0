"""Videos: sellers upload them (ads are assigned on upload); anyone lists and reads them."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from api.auth.dependencies import CurrentSeller
from api.config import ApiSettings
from api.database import Connection
from api.dependencies import AppSettings
from api.errors import error_responses, not_found
from api.schemas import BIGINT_MAX, Offset
from api.videos import service
from api.videos.schemas import VideoIn, VideoOut, VideoPage, VideoStatus

router = APIRouter(prefix="/videos", tags=["videos"])
VideoId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]


async def video_with_ads(conn: AsyncConnection[DictRow], settings: ApiSettings, video: DictRow) -> VideoOut:
    ads = await service.video_ads(conn, video["id"], settings.ad_slot_seconds)
    return VideoOut.model_validate({**video, "ads": ads})


# OpenAPI links: what a client (and the stateful fuzzer) can do next with an uploaded video.
NEW_VIDEO = {"video_id": "$response.body#/id"}
UPLOAD_LINKS = {
    name: {"operationId": operation_id, "parameters": NEW_VIDEO}
    for name, operation_id in {
        "GetVideo": "get_video_videos__video_id__get",
        "GetVideoStats": "video_stats_videos__video_id__stats_get",
        "StartPlayback": "start_videos__video_id__playback_start_post",
        "ReportProgress": "progress_videos__video_id__playback_progress_post",
        "StopPlayback": "stop_videos__video_id__playback_stop_post",
    }.items()
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=VideoOut,
    responses={201: {"links": UPLOAD_LINKS}, **error_responses(401, 403)},
)
async def upload_video(body: VideoIn, seller: CurrentSeller, conn: Connection, settings: AppSettings) -> VideoOut:
    """Registers a video (sellers only). Videos longer than 5 minutes get ad slots, filled with the
    least-assigned active ads."""
    video = await service.create_video(conn, seller["id"], body, settings.ad_slot_seconds)
    return await video_with_ads(conn, settings, video)


@router.get("", response_model=VideoPage)
async def list_videos(
    conn: Connection,
    seller_id: Annotated[int | None, Query(ge=1, le=BIGINT_MAX)] = None,
    video_status: Annotated[VideoStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Offset = 0,
) -> VideoPage:
    items, total = await service.list_videos(conn, seller_id, video_status, limit, offset)
    return VideoPage.model_validate({"items": items, "total": total, "limit": limit, "offset": offset})


@router.get("/{video_id}", response_model=VideoOut, responses=error_responses(404))
async def get_video(video_id: VideoId, conn: Connection, settings: AppSettings) -> VideoOut:
    video = await service.video_by_id(conn, video_id)
    if video is None:
        raise not_found(f"no video {video_id}")
    return await video_with_ads(conn, settings, video)
