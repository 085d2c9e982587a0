from psycopg import AsyncConnection
from psycopg.rows import DictRow

from api.database import one_row
from api.videos.schemas import VideoIn, VideoStatus

VIDEO_COLUMNS = "id, seller_id, title, description, video_url, duration_seconds, status, created_at"


async def create_video(conn: AsyncConnection[DictRow], seller_id: int, video: VideoIn, slot_seconds: int) -> DictRow:
    """The new video; its ad slots are filled in the same transaction (fill_ad_slots serialises
    concurrent uploads on one advisory lock, so slots are neither doubled nor deadlocked)."""
    cursor = await conn.execute(
        f"""
        INSERT INTO videos (seller_id, title, description, video_url, duration_seconds)
        VALUES (%s, %s, %s, %s, %s)
        RETURNING {VIDEO_COLUMNS}
        """,
        (seller_id, video.title, video.description, str(video.video_url), video.duration_seconds),
    )
    created = await one_row(cursor)
    await conn.execute("SELECT fill_ad_slots(ARRAY[%s]::bigint[], %s)", (created["id"], slot_seconds))
    return created


async def video_by_id(conn: AsyncConnection[DictRow], video_id: int) -> DictRow | None:
    cursor = await conn.execute(f"SELECT {VIDEO_COLUMNS} FROM videos WHERE id = %s", (video_id,))
    return await cursor.fetchone()


async def video_ads(conn: AsyncConnection[DictRow], video_id: int, slot_seconds: int) -> list[DictRow]:
    cursor = await conn.execute(
        """
        SELECT slot, ad_id, ad_slot_starts_at(slot, %s) AS starts_at_seconds
        FROM video_ads WHERE video_id = %s ORDER BY slot
        """,
        (slot_seconds, video_id),
    )
    return await cursor.fetchall()


async def list_videos(
    conn: AsyncConnection[DictRow], seller_id: int | None, status: VideoStatus | None, limit: int, offset: int
) -> tuple[list[DictRow], int]:
    """One page of videos, newest first, and how many match in all."""
    where = "(%(seller_id)s::bigint IS NULL OR seller_id = %(seller_id)s) AND (%(status)s::text IS NULL OR status = %(status)s)"
    params = {"seller_id": seller_id, "status": status, "limit": limit, "offset": offset}
    page = await conn.execute(
        f"SELECT {VIDEO_COLUMNS} FROM videos WHERE {where} ORDER BY id DESC LIMIT %(limit)s OFFSET %(offset)s", params
    )
    total = await conn.execute(f"SELECT count(*) AS total FROM videos WHERE {where}", params)
    return await page.fetchall(), (await one_row(total))["total"]
