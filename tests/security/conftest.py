"""The API's fixtures (one app on the session database, a client per test, accounts), shared with tests/api."""

import psycopg
import pytest

from tests.api.conftest import OPS_TOKEN, add_ads, api_settings, app, client, kakao_server, make_account  # noqa: F401

WATCHED_TABLES = ("users", "videos", "watch_events", "ad_impressions", "duplicate_events", "video_ads", "playback_positions")


def row_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Rows per source table; raises if a table is gone."""
    selects = " UNION ALL ".join(f"SELECT '{table}', count(*) FROM {table}" for table in WATCHED_TABLES)
    return dict(conn.execute(selects).fetchall())


@pytest.fixture
async def platform(client, make_account, add_ads):  # noqa: F811 (fixtures imported above)
    """A seller with a video that has an ad slot: the ids hostile requests are built around, and the
    credentials each security scheme of the spec asks for."""
    seller = await make_account("seller", seller=True)
    add_ads(1)
    body = {"title": "target", "video_url": "https://cdn.example.com/target.mp4", "duration_seconds": 600}
    video = await client.post("/videos", json=body, headers=seller.headers)
    assert video.status_code == 201, video.text
    return {
        "known": {"seller_id": seller.id, "video_id": video.json()["id"]},
        "credentials": {"UserToken": seller.headers["Authorization"], "OperatorToken": f"Bearer {OPS_TOKEN}"},
        "seller": seller,
    }
