"""Playback events: each one is a watch_events row and moves the viewer's saved position.

Per (viewer, video) the saved position row is locked first, so the pair's concurrent events (and
retries of one event) apply one after the other. A retry is recognised by its event key and changes
nothing.
"""

import datetime as dt
import uuid
from typing import Literal

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from api.errors import invalid
from api.playback.schemas import AdImpressionOut, EventIn, PositionIn, PositionOut, StartOut
from settlement.config import Settings

PositionKind = Literal["PROGRESS", "PAUSE", "STOP"]


def check_event_time(settings: Settings, occurred_at: dt.datetime) -> None:
    now = dt.datetime.now(dt.UTC)
    skew = dt.timedelta(seconds=settings.playback_max_clock_skew_seconds)
    max_age = dt.timedelta(hours=settings.playback_max_event_age_hours)
    if occurred_at > now + skew:
        raise invalid(("body", "occurred_at"), f"is in the future (server time {now.isoformat()})", str(occurred_at))
    if occurred_at < now - max_age:
        raise invalid(
            ("body", "occurred_at"),
            f"is older than {settings.playback_max_event_age_hours} hours (server time {now.isoformat()})",
            str(occurred_at),
        )


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
    conn: AsyncConnection[DictRow], settings: Settings, user_id: int, video_id: int, event: EventIn
) -> StartOut:
    saved = await lock_saved_position(conn, user_id, video_id, event.occurred_at)
    resume_at = saved["position_seconds"] if saved else 0
    answer = StartOut(event_id=event.event_id, duplicate=True, counts_as_view=False, resume_position_seconds=resume_at)
    if not await record_event(conn, "START", user_id, video_id, event, resume_at, 0):
        return answer
    window = dt.timedelta(hours=settings.view_window_hours)
    answer.duplicate = False
    answer.counts_as_view = saved is None or saved["updated_at"] <= event.occurred_at - window
    await save_position(conn, user_id, video_id, None, event.occurred_at)
    return answer


async def move(
    conn: AsyncConnection[DictRow],
    settings: Settings,
    kind: PositionKind,
    user_id: int,
    video: DictRow,
    event: PositionIn,
) -> PositionOut:
    """PROGRESS, PAUSE or STOP. An event older than the saved position's does not move it (events
    can arrive out of order); a PROGRESS that moves the playhead past slot k's start records slot k's
    ad impression."""
    if event.position_seconds > video["duration_seconds"]:
        raise invalid(
            ("body", "position_seconds"),
            f"is past the end of the video ({video['duration_seconds']} s)",
            event.position_seconds,
        )
    saved = await lock_saved_position(conn, user_id, video["id"], event.occurred_at)
    answer = PositionOut(
        event_id=event.event_id,
        duplicate=True,
        position_seconds=saved["position_seconds"] if saved else event.position_seconds,
        ad_impressions=[],
    )
    if not await record_event(
        conn, kind, user_id, video["id"], event, event.position_seconds, event.watched_seconds
    ):
        return answer
    answer.duplicate = False
    if saved is not None and event.occurred_at < saved["updated_at"]:
        return answer
    await save_position(conn, user_id, video["id"], event.position_seconds, event.occurred_at)
    answer.position_seconds = event.position_seconds
    if kind == "PROGRESS":
        previous = saved["position_seconds"] if saved else 0
        answer.ad_impressions = await record_ad_impressions(
            conn, settings, user_id, video["id"], event, previous
        )
    return answer


async def record_ad_impressions(
    conn: AsyncConnection[DictRow], settings: Settings, user_id: int, video_id: int, event: PositionIn, previous: int
) -> list[AdImpressionOut]:
    cursor = await conn.execute(
        """
        SELECT slot, ad_id FROM video_ads
        WHERE video_id = %(video_id)s
          AND slot * %(interval)s > %(previous)s AND slot * %(interval)s <= %(position)s
        ORDER BY slot
        """,
        {
            "video_id": video_id,
            "interval": settings.ad_slot_interval_seconds,
            "previous": previous,
            "position": event.position_seconds,
        },
    )
    reached = [
        AdImpressionOut(event_id=uuid.uuid5(event.event_id, f"ad-slot-{row['slot']}"), slot=row["slot"], ad_id=row["ad_id"])
        for row in await cursor.fetchall()
    ]
    if reached:
        # The impression's id derives from the progress event's, so a replay cannot count it twice.
        await conn.execute(
            """
            INSERT INTO ad_impressions (event_id, user_id, video_id, ad_id, occurred_at)
            SELECT impression_id, %s, %s, ad_id, %s
            FROM unnest(%s::uuid[], %s::bigint[]) AS reached (impression_id, ad_id)
            ON CONFLICT DO NOTHING
            """,
            (user_id, video_id, event.occurred_at, [r.event_id for r in reached], [r.ad_id for r in reached]),
        )
    return reached
