"""The generator's shapes beside its default one, for the scaling benchmark: few videos with many viewers,
many videos, impression-heavy days, and days of different volumes. Each is deterministic for a seed and has the property it is made for."""

import dataclasses
import datetime as dt

import psycopg
import pytest

from settlement.generate import GenerateConfig, generate
from tests.generate.conftest import settings_for
from tests.generate.test_generate import TABLE_DUMPS, scalar, session_problems

DAY = dt.date(2026, 3, 1)
DUMPS = TABLE_DUMPS

FEW_VIDEOS = GenerateConfig(videos=3, users=3_000, days=2, events_per_day=4_000, seed=21, first_day=DAY)
MANY_VIDEOS = GenerateConfig(videos=50_000, users=2_000, days=1, events_per_day=3_000, seed=22, first_day=DAY,
                             popularity_exponent=0.3)
IMPRESSION_HEAVY = GenerateConfig(videos=40, users=500, days=2, events_per_day=3_000, seed=23, first_day=DAY,
                                  min_video_minutes=30)


def dump(url: str) -> dict[str, list]:
    with psycopg.connect(url) as conn:
        return {table: conn.execute(query).fetchall() for table, query in DUMPS.items()}


def generated_twice(migrated_database, config: GenerateConfig) -> str:
    """Generates config into two empty databases, checks that they hold the same rows, returns one."""
    first, second = migrated_database(), migrated_database()
    for url in (first, second):
        generate(url, config, progress=False, settings=settings_for(url))
    assert dump(first) == dump(second)
    return first


def test_few_videos_with_many_viewers(migrated_database):
    url = generated_twice(migrated_database, FEW_VIDEOS)
    with psycopg.connect(url) as conn:
        viewers = [n for (n,) in conn.execute("SELECT count(DISTINCT user_id) FROM watch_events GROUP BY video_id")]
        assert len(viewers) == 3 and min(viewers) >= 30
        assert scalar(conn, "SELECT count(*) FROM watch_events") == 2 * 4_000
        # many sessions of one pair in a day: still one at a time, each consistent
        assert session_problems(conn) == (0, 0, 0, 0, 0, 0)


def test_fifty_thousand_videos_most_of_them_watched(migrated_database):
    url = generated_twice(migrated_database, MANY_VIDEOS)
    with psycopg.connect(url) as conn:
        assert scalar(conn, "SELECT count(*) FROM videos") == 50_000
        assert scalar(conn, "SELECT count(DISTINCT video_id) FROM watch_events") >= 300
        assert scalar(conn, "SELECT count(*) FROM video_ads") == scalar(conn, "SELECT sum(ad_slot_count(duration_seconds)) FROM videos")


def test_impression_heavy_every_video_half_an_hour_with_every_slot_filled(generated, migrated_database):
    url = generated_twice(migrated_database, IMPRESSION_HEAVY)
    with psycopg.connect(url) as conn:
        assert scalar(conn, "SELECT min(duration_seconds) FROM videos") >= 30 * 60
        assert scalar(conn, "SELECT max(duration_seconds) FROM videos") <= 60 * 60
        slots = scalar(conn, "SELECT sum(ad_slot_count(duration_seconds)) FROM videos")
        assert slots >= 5 * 40
        assert scalar(conn, "SELECT count(*) FROM video_ads") == slots
        # every slot's ad is active by its contract on every generated day
        inactive = scalar(
            conn,
            """SELECT count(*) FROM video_ads va JOIN ads a ON a.id = va.ad_id
               CROSS JOIN generate_series(%s::date, %s::date, interval '1 day') AS d
               WHERE ad_status_on(a.contract_start, a.contract_end, d::date) <> 'ACTIVE'""",
            (DAY, DAY + dt.timedelta(days=1)),
        )
        assert inactive == 0
        heavy = scalar(conn, "SELECT count(*)::float / (SELECT count(*) FROM watch_events) FROM ad_impressions")
        assert session_problems(conn) == (0, 0, 0, 0, 0, 0)
    with psycopg.connect(generated[0]) as conn:  # the default shape, for comparison
        default = scalar(conn, "SELECT count(*)::float / (SELECT count(*) FROM watch_events) FROM ad_impressions")
    # Honest play reports every ~45 s and passes a slot every 300 s: ~0.15 impressions per event at most.
    assert heavy > 1.3 * default and heavy > 0.1


def test_days_of_their_own_volumes_in_one_catalog(migrated_database):
    url = migrated_database()
    config = GenerateConfig(videos=30, users=300, daily_events=(500, 0, 2_000), seed=25, first_day=DAY)
    report = generate(url, config, progress=False, settings=settings_for(url))
    assert (report.first_day, report.last_day) == (DAY, DAY + dt.timedelta(days=2))
    with psycopg.connect(url) as conn:
        per_day = conn.execute(
            "SELECT (occurred_at AT TIME ZONE 'Asia/Seoul')::date, count(*) FROM watch_events GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert per_day == [(DAY, 500), (DAY + dt.timedelta(days=2), 2_000)]
        assert scalar(conn, "SELECT count(*) FROM videos") == 30


@pytest.mark.parametrize(
    "change, message",
    [
        ({"min_video_minutes": 0}, "min_video_minutes"),
        ({"daily_events": (10, -1)}, "daily_events"),
    ],
)
def test_bad_shapes_are_refused_with_a_clear_message(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(IMPRESSION_HEAVY, **change).resolved("Asia/Seoul")
