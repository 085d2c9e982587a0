"""The engine settles a day recorded in batches exactly as the same events recorded one by one: three
databases with the same catalog, viewers' sessions across midnight (views, watch time, ad slots played
across and seeked past, claims beyond the watch credit, out-of-order reports, retried batches, copies,
refusals) sent to the first as batches of 1 to 60 events, to the second event by event to the single
endpoints, to the third event by event through the API's code before the set-based path
(tests/api/playback_reference.py); all settled (two days); every table the engine builds compared row
for row, and the rows recording wrote."""

import contextlib
import datetime as dt
import json
import random
import uuid

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from api.auth.service import start_session
from api.main import create_app
from settlement import migrations, pipeline
from settlement.config import EngineSettings
from tests.api import playback_reference
from tests.api.conftest import BASE_URL
from tests.api.test_playback_batch import send_batch, send_one

SEED = 23
VIEWERS = 20
# (duration, ad slots) of the catalog's videos; video 6 is the seller's own, watched by the seller too
VIDEOS = [(960, [1, 2, 3]), (200, []), (1800, [1, 2, 3, 4, 5]), (600, [1]), (3600, list(range(1, 12))), (960, [1, 2])]
# When each database recorded something, not what was settled.
CLOCK_COLUMNS = {"received_at", "settled_at", "run_id", "run_started_at", "closed_at"}
PUBLIC_TABLES = ("settled_days",)


class Viewer:
    def __init__(self, user_id: int, headers: dict):
        self.id, self.headers = user_id, headers


def build_catalog(conn, day: dt.date) -> tuple[int, list[int], list[int]]:
    """(seller, videos, viewers), the same ids on every fresh database."""
    seller = conn.execute(
        "INSERT INTO users (email, username, password_hash, role) VALUES ('seller@example.com', 's', 'x', 'SELLER') RETURNING id"
    ).fetchone()[0]
    viewers = [
        conn.execute(
            "INSERT INTO users (email, username, password_hash) VALUES (%s, 'v', 'x') RETURNING id", (f"viewer{n}@example.com",)
        ).fetchone()[0]
        for n in range(VIEWERS)
    ]
    ad = conn.execute(
        """INSERT INTO ads (title, ad_url, duration_seconds, contract_start, contract_end, status)
           VALUES ('ad', 'https://ads.example.com/1', 15, %s, %s, 'ACTIVE') RETURNING id""",
        (day - dt.timedelta(days=30), day + dt.timedelta(days=30)),
    ).fetchone()[0]
    videos = []
    for duration, slots in VIDEOS:
        video = conn.execute(
            """INSERT INTO videos (seller_id, title, video_url, duration_seconds, created_at)
               VALUES (%s, 'v', 'https://cdn.example.com/v.mp4', %s, %s) RETURNING id""",
            (seller, duration, dt.datetime.combine(day - dt.timedelta(days=7), dt.time(), dt.UTC)),
        ).fetchone()[0]
        for slot in slots:
            conn.execute("INSERT INTO video_ads (video_id, ad_id, slot) VALUES (%s, %s, %s)", (video, ad, slot))
        videos.append(video)
    return seller, videos, viewers


def sessions(rng: random.Random, videos: list[int], start_of_day: dt.datetime) -> list[dict]:
    """One viewer's reports, in the order the player sends them: sessions before and across midnight and
    on the day, with seeks, pauses, overclaims, out-of-order reports, copies and refused events."""
    reports, reused = [], []
    for _ in range(rng.randint(2, 5)):
        index = rng.randrange(len(videos))
        video, (duration, _) = videos[index], VIDEOS[index]
        at = start_of_day + dt.timedelta(minutes=rng.choice([-40, -20, -5, 0, 600, 900, 1100]) + rng.randint(0, 30))
        position = rng.choice([0, 0, rng.randrange(duration)])
        reports.append({"video_id": video, "kind": "START", "event_id": str(uuid.uuid4()), "occurred_at": at.isoformat()})
        for _ in range(rng.randint(1, 25)):
            gap = rng.randint(20, 70)
            at += dt.timedelta(seconds=gap)
            roll = rng.random()
            if roll < 0.08:  # a seek: the playhead jumps, nothing played
                position, watched = rng.randrange(duration + 1), 0
            elif roll < 0.12:  # more than could have played: the engine's watch credit turns it down
                watched = min(duration, gap * 5)
                position = min(duration, position + watched)
            else:
                watched = min(gap, duration - position)
                position += watched
            kind = rng.choice(["PROGRESS"] * 8 + ["PAUSE"])
            report = {
                "video_id": video,
                "kind": kind,
                "event_id": str(uuid.uuid4()),
                "occurred_at": at.isoformat(),
                "position_seconds": position,
                "watched_seconds": watched,
            }
            reports.append(report)
            if rng.random() < 0.05:
                reused.append(report)
            if position >= duration:
                break
        reports.append({**reports[-1], "kind": "STOP", "event_id": str(uuid.uuid4()), "watched_seconds": 0})
    for report in reused:  # a copy under the same id, claiming another time: kept as a duplicate
        copy = dict(report, occurred_at=(dt.datetime.fromisoformat(report["occurred_at"]) + dt.timedelta(hours=1)).isoformat())
        reports.insert(rng.randrange(len(reports) + 1), copy)
    for _ in range(len(reports) // 10):  # reports that arrive out of order
        n = rng.randrange(len(reports) - 1)
        reports[n], reports[n + 1] = reports[n + 1], reports[n]
    reports.append({"video_id": 424242, "kind": "START", "event_id": str(uuid.uuid4()), "occurred_at": start_of_day.isoformat()})
    reports.append(
        {
            **reports[0],
            "event_id": str(uuid.uuid4()),
            "video_id": videos[1],
            "kind": "PROGRESS",
            "position_seconds": 500,
            "watched_seconds": 10,
        }
    )  # past the end of a 200 s video: refused
    return reports


def batches_of(rng: random.Random, reports: list[dict]) -> list[list[dict]]:
    """The reports as a player sends them: batches of 1 to 60, a batch now and then sent again (a retry)."""
    batches, n = [], 0
    while n < len(reports):
        size = rng.randint(1, 60)
        batches.append(reports[n : n + size])
        n += size
        if rng.random() < 0.2:
            batches.append(batches[-1])
    return batches


def canonical(value):
    """A value as text, without the times of arrival (jsonb raw rows hold theirs) and not depending on the
    order of an aggregate nobody ordered."""
    if isinstance(value, list):
        return sorted(canonical(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(
            {key: canonical(item) for key, item in value.items() if key not in CLOCK_COLUMNS}, sort_keys=True, default=str
        )
    return repr(value)


def snapshot(conn) -> dict[str, list]:
    tables = [
        f"analytics.{name}"
        for (name,) in conn.execute(
            """SELECT relname FROM pg_class WHERE relnamespace = 'analytics'::regnamespace AND relkind IN ('r', 'p', 'v')
           AND NOT relispartition AND relname NOT LIKE 'stg\\_%' ORDER BY 1"""
        )
    ]
    tables += [f"public.{name}" for name in PUBLIC_TABLES]
    tables += [
        "public.watch_events",
        "public.ad_impressions",
        "public.duplicate_events",
        "public.playback_positions",
        "public.watch_event_ids",
        "public.ad_impression_ids",
    ]
    dump = {}
    for table in tables:
        cursor = conn.execute(f"SELECT * FROM {table}")
        names = [column.name for column in cursor.description]
        dump[table] = sorted(
            repr([canonical(value) for name, value in zip(names, row) if name not in CLOCK_COLUMNS | {"id"}])
            for row in cursor.fetchall()
        )
    return dump


@contextlib.asynccontextmanager
async def client_on(api_settings, database_url: str):
    settings = api_settings.model_copy(update={"database_url": database_url})
    app = create_app(settings, database_url)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client,
    ):
        yield client, app.state.jwt_secret


@pytest.fixture
async def recorded(fresh_database, api_settings, event_day):
    """(the batches' database, the single endpoints', the code before's; how many reports were sent)."""
    urls = [fresh_database("batch_settle"), fresh_database("single_settle"), fresh_database("before_settle")]
    catalogs = []
    for url in urls:
        migrations.upgrade(url)
        with psycopg.connect(url, autocommit=True) as conn:
            catalogs.append(build_catalog(conn, event_day))
    assert catalogs[0] == catalogs[1] == catalogs[2]
    seller, videos, viewers = catalogs[0]
    midnight = dt.datetime.combine(event_day, dt.time(), api_settings.zone)
    rng = random.Random(SEED)
    plan = {viewer: batches_of(rng, sessions(rng, videos, midnight)) for viewer in [*viewers, seller]}
    sent = 0
    async with await psycopg.AsyncConnection.connect(urls[2], autocommit=True, row_factory=dict_row) as before:
        for user_id, batches in plan.items():
            for batch in batches:
                for report in batch:
                    assert (await playback_reference.record(before, api_settings, user_id, report))["status"] != "refused" or (
                        report["video_id"] == 424242 or report.get("position_seconds") == 500
                    )
    for url, one_by_one in zip(urls, (False, True)):
        async with (
            client_on(api_settings, url) as (client, secret),
            await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as sessions_conn,
        ):
            for user_id, batches in plan.items():
                token, _ = await start_session(sessions_conn, api_settings, secret, user_id)
                viewer = Viewer(user_id, {"Authorization": f"Bearer {token}"})
                for batch in batches:
                    if one_by_one:
                        statuses = [(await send_one(client, viewer, report)).status_code for report in batch]
                        assert set(statuses) <= {200, 404, 422}, statuses
                    else:
                        assert (await send_batch(client, viewer, batch)).status_code == 200
                    sent += len(batch) if one_by_one else 0
    return *urls, sent


async def test_the_engine_settles_batches_as_the_same_events_one_by_one(recorded, event_day):
    *urls, sent = recorded
    for url in urls:
        results = pipeline.run_days(EngineSettings(_env_file=None, database_url=url), event_day)
        assert [(r.run_date, r.status) for r in results] == [
            (event_day - dt.timedelta(days=1), "SUCCEEDED"),
            (event_day, "SUCCEEDED"),
        ]
    with psycopg.connect(urls[0]) as batches, psycopg.connect(urls[1]) as singles, psycopg.connect(urls[2]) as before:
        expected, actual, single = snapshot(before), snapshot(batches), snapshot(singles)
        reasons = dict(before.execute("SELECT reason, count(*) FROM analytics.fct_quarantined_events GROUP BY 1").fetchall())
        counted = before.execute("SELECT sum(views), sum(watch_seconds), sum(ad_views) FROM analytics.fct_video_daily").fetchone()
    assert actual.keys() == single.keys() == expected.keys()
    for table in expected:
        assert actual[table] == expected[table], f"{table} differs between batches and the code before"
        assert single[table] == expected[table], f"{table} differs between the single endpoints and the code before"
    # the comparison compared something: both days, views, watch time, ad views, and what the gate turns down
    assert sent > 1000 and len(expected["public.watch_events"]) > 700
    assert all(counted) and {"duplicate_event", "implausible_watch"} <= set(reasons), (counted, reasons)
