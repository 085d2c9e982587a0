"""The API's playback recording as it was before the set-based path (api/playback/service.py and router.py
at 749ab61), kept as the reference the new path is checked against: one event at a time, about ten
statements each, through the per-row functions record_watch_event() and record_ad_impression(). The
code below is that service's, unchanged but for one rule added since: a seller's START on their own
video is no view (SPEC.md, self_view); `record` is what its router did with one event.
"""

import datetime as dt
import uuid
from typing import Literal

from fastapi import HTTPException
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from api.config import ApiSettings
from api.errors import conflict, invalid, not_found
from api.playback.schemas import AdImpressionOut, EventIn, PositionIn, PositionOut, StartIn, StartOut
from settlement import clock

PositionKind = Literal["PROGRESS", "PAUSE", "STOP"]


def check_event_time(settings: ApiSettings, occurred_at: dt.datetime) -> None:
    now = clock.now()
    skew = dt.timedelta(seconds=settings.clock_skew_seconds)
    max_age = dt.timedelta(hours=settings.playback_max_event_age_hours)
    if occurred_at > now + skew:
        raise invalid(("body", "occurred_at"), f"is in the future (server time {now.isoformat()})", str(occurred_at))
    if occurred_at < now - max_age:
        raise invalid(
            ("body", "occurred_at"),
            f"is older than {settings.playback_max_event_age_hours} hours (server time {now.isoformat()})",
            str(occurred_at),
        )


async def require_live_at(conn: AsyncConnection[DictRow], video_id: int, occurred_at: dt.datetime) -> None:
    """409 unless the video was live at occurred_at (the engine would not count the event)."""
    cursor = await conn.execute(
        """
        SELECT EXISTS (
            SELECT 1 FROM video_live_periods
            WHERE video_id = %s AND live_from <= %s AND (live_until IS NULL OR %s < live_until)
        ) AS live
        """,
        (video_id, occurred_at, occurred_at),
    )
    if not (await cursor.fetchone())["live"]:
        raise conflict(f"video {video_id} was not live at {occurred_at.isoformat()}")


async def lock_saved_position(
    conn: AsyncConnection[DictRow], user_id: int, video_id: int, occurred_at: dt.datetime
) -> DictRow | None:
    """The pair's saved position, locked until commit; None on the pair's first event, which creates
    the row (at position 0)."""
    for _ in range(3):
        cursor = await conn.execute(
            """
            SELECT position_seconds, updated_at FROM playback_positions
            WHERE user_id = %s AND video_id = %s
            FOR UPDATE
            """,
            (user_id, video_id),
        )
        saved = await cursor.fetchone()
        if saved:
            return saved
        cursor = await conn.execute(
            """
            INSERT INTO playback_positions (user_id, video_id, position_seconds, updated_at)
            VALUES (%s, %s, 0, %s)
            ON CONFLICT DO NOTHING
            RETURNING 1
            """,
            (user_id, video_id, occurred_at),
        )
        if await cursor.fetchone():
            return None
        # A concurrent first event created the row meanwhile: lock that one.
    raise RuntimeError(f"playback position of user {user_id}, video {video_id} keeps changing")


async def record_event(
    conn: AsyncConnection[DictRow], kind: str, user_id: int, video_id: int, event: EventIn, position: int, watched: int
) -> bool:
    """Whether the event is new (False: it had been recorded already, and this copy is kept as a
    duplicate for the quality gate's report; migration 0007)."""
    cursor = await conn.execute(
        "SELECT record_watch_event(%s, %s, %s, %s, %s, %s, %s)",
        (event.event_id, kind, user_id, video_id, event.occurred_at, position, watched),
    )
    return (await cursor.fetchone())["record_watch_event"]


async def save_position(
    conn: AsyncConnection[DictRow], user_id: int, video_id: int, position: int | None, occurred_at: dt.datetime
) -> None:
    """Refreshes the pair's last event time, and moves its position unless position is None."""
    await conn.execute(
        """
        UPDATE playback_positions
        SET position_seconds = coalesce(%s, position_seconds), updated_at = greatest(updated_at, %s)
        WHERE user_id = %s AND video_id = %s
        """,
        (position, occurred_at, user_id, video_id),
    )


async def start(
    conn: AsyncConnection[DictRow], settings: ApiSettings, user_id: int, video_id: int, event: EventIn, own_video: bool = False
) -> StartOut:
    await require_live_at(conn, video_id, event.occurred_at)
    saved = await lock_saved_position(conn, user_id, video_id, event.occurred_at)
    resume_at = saved["position_seconds"] if saved else 0
    answer = StartOut(event_id=event.event_id, duplicate=True, counts_as_view=False, resume_position_seconds=resume_at)
    if not await record_event(conn, "START", user_id, video_id, event, resume_at, 0):
        return answer
    window = dt.timedelta(hours=settings.view_window_hours)
    answer.duplicate = False
    answer.counts_as_view = (saved is None or saved["updated_at"] <= event.occurred_at - window) and not own_video  # self_view
    await save_position(conn, user_id, video_id, None, event.occurred_at)
    return answer


async def move(
    conn: AsyncConnection[DictRow],
    settings: ApiSettings,
    kind: PositionKind,
    user_id: int,
    video: DictRow,
    event: PositionIn,
) -> PositionOut:
    """PROGRESS, PAUSE or STOP. An event older than the saved position's does not move it (events
    can arrive out of order); a PROGRESS whose playing moved the playhead across slot k's start
    records slot k's ad impression (a seek records none)."""
    length = video["duration_seconds"]
    if event.position_seconds > length:
        raise invalid(("body", "position_seconds"), f"is past the end of the video ({length} s)", event.position_seconds)
    if event.watched_seconds > length:
        raise invalid(("body", "watched_seconds"), f"is more than the whole video ({length} s)", event.watched_seconds)
    await require_live_at(conn, video["id"], event.occurred_at)
    saved = await lock_saved_position(conn, user_id, video["id"], event.occurred_at)
    answer = PositionOut(
        event_id=event.event_id,
        duplicate=True,
        position_seconds=saved["position_seconds"] if saved else event.position_seconds,
        ad_impressions=[],
    )
    if not await record_event(conn, kind, user_id, video["id"], event, event.position_seconds, event.watched_seconds):
        return answer
    answer.duplicate = False
    if kind == "PROGRESS":
        answer.ad_impressions = await record_ad_impressions(conn, settings, user_id, video["id"], event)
    if saved is not None and event.occurred_at < saved["updated_at"]:
        return answer
    await save_position(conn, user_id, video["id"], event.position_seconds, event.occurred_at)
    answer.position_seconds = event.position_seconds
    return answer


async def record_ad_impressions(
    conn: AsyncConnection[DictRow], settings: ApiSettings, user_id: int, video_id: int, event: PositionIn
) -> list[AdImpressionOut]:
    """The impressions of the slots k the event's playing moved the playhead across: position -
    watched_seconds < k * interval <= position. Each impression's id derives from the event's, so a
    replay cannot record it twice."""
    cursor = await conn.execute(
        """
        SELECT slot, ad_id FROM video_ads
        WHERE video_id = %(video_id)s
          AND slot * %(interval)s > %(played_from)s AND slot * %(interval)s <= %(position)s
        ORDER BY slot
        """,
        {
            "video_id": video_id,
            "interval": settings.ad_slot_seconds,
            "played_from": event.position_seconds - event.watched_seconds,
            "position": event.position_seconds,
        },
    )
    reached = [
        AdImpressionOut(event_id=uuid.uuid5(event.event_id, f"ad-slot-{row['slot']}"), slot=row["slot"], ad_id=row["ad_id"])
        for row in await cursor.fetchall()
    ]
    for impression in reached:
        await conn.execute(
            "SELECT record_ad_impression(%s, %s, %s, %s, %s, %s)",
            (impression.event_id, user_id, video_id, impression.ad_id, impression.slot, event.occurred_at),
        )
    return reached


# What the router did with one event: the checks in its order, then the service.


async def playable_video(conn, video_id: int) -> DictRow:
    cursor = await conn.execute("SELECT id, seller_id, status, duration_seconds FROM videos WHERE id = %s", (video_id,))
    video = await cursor.fetchone()
    if video is None:
        raise not_found(f"no video {video_id}")
    if video["status"] != "ACTIVE":
        raise conflict(f"video {video_id} is not playable (status {video['status']})")
    return video


async def record(conn: AsyncConnection[DictRow], settings: ApiSettings, user_id: int, item: dict) -> dict:
    """One event of a batch (its JSON) as its single endpoint recorded it, in a transaction of its own
    on conn; the answer in the batch's form."""
    answer = {
        "event_id": item["event_id"],
        "video_id": item["video_id"],
        "kind": item["kind"],
        "refusal": None,
        "counts_as_view": None,
        "resume_position_seconds": None,
        "position_seconds": None,
        "ad_impressions": [],
    }
    try:
        async with conn.transaction():
            if item["kind"] == "START":
                event = StartIn.model_validate(item)
                check_event_time(settings, event.occurred_at)
                video = await playable_video(conn, item["video_id"])
                started = await start(conn, settings, user_id, video["id"], event, own_video=video["seller_id"] == user_id)
                answer |= {"counts_as_view": started.counts_as_view, "resume_position_seconds": started.resume_position_seconds}
                duplicate = started.duplicate
            else:
                event = PositionIn.model_validate(item)
                check_event_time(settings, event.occurred_at)
                video = await playable_video(conn, item["video_id"])
                moved = await move(conn, settings, item["kind"], user_id, video, event)
                answer |= {
                    "position_seconds": moved.position_seconds,
                    "ad_impressions": [impression.model_dump(mode="json") for impression in moved.ad_impressions],
                }
                duplicate = moved.duplicate
    except HTTPException as refused:
        return {**answer, "status": "refused", "refusal": {"status_code": refused.status_code, "detail": refused.detail}}
    return {**answer, "status": "duplicate" if duplicate else "recorded"}
