import datetime as dt
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, Field, UrlConstraints

from api.schemas import JsonInt, Page, text

MAX_VIDEO_SECONDS = 24 * 60 * 60
VideoStatus = Literal["ACTIVE", "INACTIVE"]

if TYPE_CHECKING:  # text() makes an Annotated[str, ...] when the module runs; to mypy the fields are str
    VideoTitle = str
    VideoDescription = str
else:
    VideoTitle = text(min_length=1, max_length=200)
    VideoDescription = text(max_length=5000)


class VideoIn(BaseModel):
    title: VideoTitle
    description: VideoDescription = ""
    video_url: Annotated[AnyHttpUrl, UrlConstraints(max_length=2048)]
    duration_seconds: JsonInt = Field(ge=1, le=MAX_VIDEO_SECONDS)


class VideoAdOut(BaseModel):
    slot: int
    ad_id: int
    starts_at_seconds: int


class VideoSummary(BaseModel):
    id: int
    seller_id: int
    title: str
    description: str
    video_url: str
    duration_seconds: int
    status: VideoStatus
    created_at: dt.datetime


class VideoOut(VideoSummary):
    ads: list[VideoAdOut] = Field(description="The ads playing in this video, by slot.")


class VideoPage(Page[VideoSummary]):
    pass
