"""The synthetic data generator, on small data against a real PostgreSQL."""

import dataclasses
import datetime as dt
import re

import psycopg
import pytest

from settlement import cli
from settlement import generate as generate_module
from settlement.ads import DEFAULT_SLOT_SECONDS
from settlement.commands.generate import count
from settlement.config import EngineSettings, get_settings
from settlement.generate import GenerateConfig, default_first_day, generate, producer
from tests.generate.conftest import SMALL, settings_for

SLOTS = f"SELECT sum(ad_slot_count(duration_seconds, {DEFAULT_SLOT_SECONDS})) FROM videos"  # the slots the videos have

TABLE_DUMPS = {
    "users": "SELECT * FROM users ORDER BY id",
    "videos": "SELECT * FROM videos ORDER BY id",
    "ads": "SELECT id, title, ad_url, duration_seconds, contract_start, contract_end, status FROM ads ORDER BY id",
    "video_ads": "SELECT * FROM video_ads ORDER BY video_id, slot",
    "watch_events": "SELECT * FROM watch_events ORDER BY event_id",
    "ad_impressions": "SELECT * FROM ad_impressions ORDER BY event_id",
}

# Consecutive events of one session: sessions never overlap within a (user, video), so a session is the
# run of events from one START to the next of the same pair.
SESSION_EVENTS = """
WITH numbered AS (
    SELECT *, count(*) FILTER (WHERE kind = 'START')
                  OVER (PARTITION BY user_id, video_id ORDER BY occurred_at) AS session
    FROM watch_events
)
SELECT *, lag(position_seconds) OVER w AS previous_position,
          lag(occurred_at) OVER w AS previous_at,
          lag(kind) OVER w AS previous_kind,
          row_number() OVER w AS step
FROM numbered
WINDOW w AS (PARTITION BY user_id, video_id, session ORDER BY occurred_at)
"""


def session_problems(conn) -> tuple[int, ...]:
    return conn.execute(
        f"""
        SELECT
            count(*) FILTER (WHERE step = 1 AND kind <> 'START'),
            count(*) FILTER (WHERE kind = 'START' AND watched_seconds <> 0),
            count(*) FILTER (WHERE step > 1 AND watched_seconds <> position_seconds - previous_position),
            count(*) FILTER (WHERE step > 1 AND watched_seconds <= 0),
            count(*) FILTER (WHERE step > 1 AND occurred_at <= previous_at),
            count(*) FILTER (WHERE previous_kind = 'STOP')
        FROM ({SESSION_EVENTS}) AS events
        """
    ).fetchone()


def dump(url: str) -> dict[str, list]:
    with psycopg.connect(url) as conn:
        return {table: conn.execute(query).fetchall() for table, query in TABLE_DUMPS.items()}


def scalar(conn, query: str, params=None):
    return conn.execute(query, params).fetchone()[0]


def test_same_seed_and_config_give_identical_rows(generated, migrated_database):
    url = migrated_database()
    generate(url, SMALL, progress=False, settings=settings_for(url))
    first, second = dump(generated[0]), dump(url)
    for table in TABLE_DUMPS:
        assert first[table], f"{table} is empty"
        assert first[table] == second[table], f"{table} differs between two runs of one seed"


def test_another_seed_gives_other_data(migrated_database):
    config = dataclasses.replace(SMALL, days=1, events_per_day=300)
    url_a, url_b = migrated_database(), migrated_database()
    generate(url_a, config, progress=False, settings=settings_for(url_a))
    generate(url_b, dataclasses.replace(config, seed=12), progress=False, settings=settings_for(url_b))
    a, b = dump(url_a), dump(url_b)
    assert a["watch_events"] != b["watch_events"]
    assert a["videos"] != b["videos"]


def test_row_counts_are_as_asked(generated, generated_conn):
    _, report = generated
    conn = generated_conn
    expected = {"users": 400, "videos": 60, "ads": 5, "watch_events": 3 * 1_500}
    for table, rows in expected.items():
        assert scalar(conn, f"SELECT count(*) FROM {table}") == rows == report.rows[table]
    assert scalar(conn, "SELECT count(*) FROM users WHERE role = 'SELLER'") == 400 // 20
    assert scalar(conn, "SELECT count(*) FROM ad_impressions") == report.rows["ad_impressions"] > 0
    per_day = conn.execute(
        "SELECT (occurred_at AT TIME ZONE 'Asia/Seoul')::date, count(*) FROM watch_events GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert per_day == [(dt.date(2026, 3, day), 1_500) for day in (1, 2, 3)]
    assert (report.first_day, report.last_day) == (dt.date(2026, 3, 1), dt.date(2026, 3, 3))
    assert report.events_per_second > 0


def test_every_slot_of_every_video_is_filled_with_an_active_ad(generated_conn):
    conn = generated_conn
    slots = scalar(conn, SLOTS)
    assert slots > 0
    assert scalar(conn, "SELECT count(*) FROM video_ads") == slots
    assert scalar(conn, "SELECT count(*) FROM video_ads va JOIN ads a ON a.id = va.ad_id WHERE a.status <> 'ACTIVE'") == 0


def test_ads_have_contracts_around_the_days_mostly_active(generated_conn):
    statuses = dict(generated_conn.execute("SELECT status, count(*) FROM ads GROUP BY 1").fetchall())
    assert statuses.get("ACTIVE", 0) >= 1
    rows = generated_conn.execute(
        "SELECT status = ad_status_on(contract_start, contract_end, DATE '2026-03-04') FROM ads"
    ).fetchall()
    assert all(ok for (ok,) in rows)


def test_sessions_are_consistent(generated_conn):
    """START at the session's first position with nothing watched; each later event's watched_seconds
    is the play since the event before it; time moves on; one START per session; STOP only last."""
    conn = generated_conn
    assert session_problems(conn) == (0, 0, 0, 0, 0, 0)
    sessions = conn.execute(
        f"""
        SELECT count(*),
               count(*) FILTER (WHERE watched <> last_position - first_position),
               count(*) FILTER (WHERE last_kind <> 'STOP'),
               count(*) FILTER (WHERE stops > 1 OR last_kind = 'STOP' AND stops <> 1),
               count(*) FILTER (WHERE last_position > duration_seconds)
        FROM (
            SELECT sum(watched_seconds) AS watched,
                   (array_agg(position_seconds ORDER BY occurred_at))[1] AS first_position,
                   (array_agg(position_seconds ORDER BY occurred_at DESC))[1] AS last_position,
                   (array_agg(kind ORDER BY occurred_at DESC))[1] AS last_kind,
                   count(*) FILTER (WHERE kind = 'STOP') AS stops,
                   max(v.duration_seconds) AS duration_seconds
            FROM ({SESSION_EVENTS}) AS events
            JOIN videos v ON v.id = events.video_id
            GROUP BY user_id, video_id, session
        ) AS per_session
        """
    ).fetchone()
    total, watched_mismatch, unstopped, extra_stops, past_the_end = sessions
    assert total > 100
    assert watched_mismatch == extra_stops == past_the_end == 0
    assert unstopped <= SMALL.days  # only the session cut to hit the exact count of a day


def test_progress_reports_come_every_half_minute_to_minute_of_play(generated_conn):
    low, high, average = generated_conn.execute(
        "SELECT percentile_cont(0.05) WITHIN GROUP (ORDER BY watched_seconds),"
        "       percentile_cont(0.95) WITHIN GROUP (ORDER BY watched_seconds), avg(watched_seconds)"
        " FROM watch_events WHERE kind = 'PROGRESS'"
    ).fetchone()
    assert low >= 20 and high <= 75 and 35 <= average <= 55
    kinds = dict(generated_conn.execute("SELECT kind, count(*) FROM watch_events GROUP BY 1").fetchall())
    assert kinds["PAUSE"] > 0 and kinds["PROGRESS"] > kinds["START"] > 0


def test_ad_impressions_only_where_the_play_passes_a_filled_slot(generated_conn):
    conn = generated_conn
    interval = EngineSettings(_env_file=None).ad_slot_seconds
    # Each impression is recorded at the time of the event whose play crossed its slot (position -
    # watched < slot time <= position), for the ad in that slot of the video.
    unexplained = scalar(
        conn,
        """
        SELECT count(*) FROM ad_impressions i
        WHERE NOT EXISTS (
            SELECT 1 FROM watch_events e
            JOIN video_ads va ON va.video_id = e.video_id AND va.ad_id = i.ad_id AND va.slot = i.slot
            WHERE e.user_id = i.user_id AND e.video_id = i.video_id AND e.occurred_at = i.occurred_at
              AND e.position_seconds - e.watched_seconds < i.slot * %(interval)s
              AND i.slot * %(interval)s <= e.position_seconds
        )
        """,
        {"interval": interval},
    )
    assert unexplained == 0
    crossings = scalar(
        conn,
        f"""
        SELECT count(*) FROM ({SESSION_EVENTS}) e
        JOIN video_ads va ON va.video_id = e.video_id
        WHERE e.step > 1 AND e.previous_position < va.slot * %(interval)s AND va.slot * %(interval)s <= e.position_seconds
        """,
        {"interval": interval},
    )
    assert scalar(conn, "SELECT count(*) FROM ad_impressions") == crossings > 0
    short_videos = scalar(
        conn, "SELECT count(*) FROM ad_impressions i JOIN videos v ON v.id = i.video_id WHERE v.duration_seconds <= 300"
    )
    assert short_videos == 0


def test_every_event_is_in_its_days_partition(generated_conn):
    conn = generated_conn
    for table in ("watch_events", "ad_impressions"):
        assert scalar(conn, f"SELECT count(*) FROM {table}_default") == 0
        misplaced = scalar(
            conn,
            f"""SELECT count(*) FROM {table}
                WHERE tableoid::regclass::text
                      <> '{table}_' || to_char((occurred_at AT TIME ZONE 'Asia/Seoul')::date, 'YYYYMMDD')""",
        )
        assert misplaced == 0
    assert scalar(conn, "SELECT count(*) FROM watch_events WHERE received_at < occurred_at") == 0


def test_every_event_key_is_registered_once(generated_conn):
    conn = generated_conn
    for table, registry in (("watch_events", "watch_event_ids"), ("ad_impressions", "ad_impression_ids")):
        assert scalar(conn, f"SELECT count(*) FROM {registry}") == scalar(conn, f"SELECT count(*) FROM {table}")
        unregistered = scalar(
            conn,
            f"SELECT count(*) FROM {table} e WHERE NOT EXISTS (SELECT 1 FROM {registry} r "
            "WHERE r.event_id = e.event_id AND r.user_id = e.user_id)",
        )
        assert unregistered == 0


def test_loaded_day_partitions_are_analyzed(generated_conn):
    analyzed = generated_conn.execute(
        """SELECT relname FROM pg_stat_user_tables
           WHERE relname ~ '^(watch_events|ad_impressions)_2026030[1-3]$' AND last_analyze IS NOT NULL"""
    ).fetchall()
    assert len(analyzed) == 6


def test_viewers_come_back_on_later_days(generated_conn):
    conn = generated_conn
    returning_pairs = scalar(
        conn,
        """SELECT count(*) FROM (
               SELECT user_id, video_id FROM watch_events
               GROUP BY 1, 2 HAVING count(DISTINCT (occurred_at AT TIME ZONE 'Asia/Seoul')::date) > 1
           ) AS pairs""",
    )
    resumed = scalar(conn, "SELECT count(*) FROM watch_events WHERE kind = 'START' AND position_seconds > 0")
    assert returning_pairs > 20 and resumed > 10


def test_popularity_and_catalogs_are_skewed(generated_conn):
    conn = generated_conn
    starts = [
        n
        for (n,) in conn.execute(
            "SELECT count(*) FROM watch_events WHERE kind = 'START' GROUP BY video_id ORDER BY 1 DESC"
        ).fetchall()
    ]
    assert starts[0] >= 5 * starts[len(starts) // 2]
    catalogs = [n for (n,) in conn.execute("SELECT count(*) FROM videos GROUP BY seller_id ORDER BY 1 DESC")]
    assert catalogs[0] >= 3 * catalogs[len(catalogs) // 2]
    evening, night = conn.execute(
        """SELECT count(*) FILTER (WHERE h BETWEEN 19 AND 22), count(*) FILTER (WHERE h BETWEEN 2 AND 5)
           FROM (SELECT extract(hour FROM occurred_at AT TIME ZONE 'Asia/Seoul') AS h
                 FROM watch_events WHERE kind = 'START') AS starts"""
    ).fetchone()
    assert evening > 3 * night


def test_event_ids_ascend_with_time_within_a_day(generated_conn):
    out_of_order = scalar(
        generated_conn,
        """SELECT count(*) FROM (
               SELECT event_id, lag(event_id) OVER (ORDER BY occurred_at, event_id) AS previous
               FROM watch_events) AS ids
           WHERE event_id < previous""",
    )
    assert out_of_order == 0


def test_event_ids_are_version_7_uuids_never_shared_between_the_tables(generated_conn):
    conn = generated_conn
    for table in ("watch_events", "ad_impressions"):
        malformed = scalar(
            conn,
            f"SELECT count(*) FROM {table} WHERE substr(event_id::text, 15, 1) <> '7'"
            "   OR substr(event_id::text, 20, 1) NOT IN ('8', '9', 'a', 'b')",
        )
        assert malformed == 0
        id_times_off = scalar(
            conn,
            f"""SELECT count(*) FROM {table}
                      WHERE ('x' || substr(replace(event_id::text, '-', ''), 1, 12))::bit(48)::bigint
                            <> floor(extract(epoch FROM occurred_at) * 1000)""",
        )
        assert id_times_off == 0
    assert scalar(conn, "SELECT count(*) FROM watch_events JOIN ad_impressions USING (event_id)") == 0


def test_appending_twice_gives_new_ids_and_no_conflicts(migrated_database):
    url = migrated_database()
    config = dataclasses.replace(SMALL, days=2, events_per_day=500)
    first = generate(url, config, progress=False, settings=settings_for(url))
    second = generate(url, config, progress=False, settings=settings_for(url))
    assert second.user_ids[0] > first.user_ids[1] and second.video_ids[0] > first.video_ids[1]
    with psycopg.connect(url) as conn:
        assert scalar(conn, "SELECT count(*) FROM users") == 2 * config.users
        assert scalar(conn, "SELECT count(*) FROM videos") == 2 * config.videos
        assert scalar(conn, "SELECT count(DISTINCT event_id) FROM watch_events") == 2 * 2 * 500
        assert scalar(conn, "SELECT count(*) FROM watch_events WHERE video_id >= %s", (second.video_ids[0],)) == 1_000
        distinct_impressions = scalar(conn, "SELECT count(DISTINCT event_id) FROM ad_impressions")
        assert distinct_impressions == first.rows["ad_impressions"] + second.rows["ad_impressions"]


def test_appends_to_a_database_with_users_of_its_own(migrated_database):
    url = migrated_database()
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO users (email, username, password_hash) VALUES ('someone@example.com', 'someone', 'x')")
    report = generate(url, dataclasses.replace(SMALL, days=1, events_per_day=200), progress=False, settings=settings_for(url))
    assert report.user_ids[0] > 1 and report.rows["watch_events"] == 200


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"videos": 0}, "videos must be at least 1"),
        ({"users": 10, "sellers": 11}, "cannot outnumber"),
        ({"days": 0}, "days must be at least 1"),
        ({"events_per_day": -1}, "events_per_day"),
        ({"seed": -5}, "seed"),
    ],
)
def test_bad_configs_are_refused_with_a_clear_message(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(SMALL, **change).resolved("Asia/Seoul")


def test_defaults_end_yesterday_with_sellers_and_ads_scaled():
    config = GenerateConfig(videos=1_000, users=300, days=4).resolved("Asia/Seoul")
    assert config.sellers == 15 and config.ads == 20
    assert config.first_day == default_first_day(4, "Asia/Seoul")
    assert config.last_day == config.first_day + dt.timedelta(days=3)
    tiny = GenerateConfig(videos=10, users=5, days=1).resolved("UTC")
    assert tiny.sellers == 1 and tiny.ads == 5


def test_zero_events_per_day_still_loads_the_catalog(migrated_database):
    url = migrated_database()
    report = generate(url, dataclasses.replace(SMALL, days=1, events_per_day=0), progress=False, settings=settings_for(url))
    assert report.rows["watch_events"] == 0 and report.rows["videos"] == SMALL.videos


def test_a_viewer_never_plays_one_video_in_two_sessions_at_once(migrated_database):
    """Few users and videos bring the same (user, video) up many times a day; two sessions of a pair
    playing at once would interleave their events and break the position arithmetic."""
    url = migrated_database()
    config = dataclasses.replace(SMALL, users=40, videos=4, days=1, events_per_day=10_000)
    generate(url, config, progress=False, settings=settings_for(url))
    with psycopg.connect(url) as conn:
        assert session_problems(conn) == (0, 0, 0, 0, 0, 0)


def test_a_producer_process_loads_the_same_rows_as_generating_inline(generated, migrated_database, monkeypatch):
    monkeypatch.setattr(producer, "INLINE_EVENTS", 0)
    url = migrated_database()
    generate(url, SMALL, progress=False, settings=settings_for(url))
    assert dump(url) == dump(generated[0])


def test_a_failing_producer_process_fails_the_load_and_keeps_the_days_done(migrated_database, monkeypatch):
    monkeypatch.setattr(producer, "INLINE_EVENTS", 0)
    real_day_events = producer.day_events

    def day_events_failing_on_day_two(rng, sessions, catalog, day):
        if day.index == 1:
            raise RuntimeError("disk on fire")
        return real_day_events(rng, sessions, catalog, day)

    monkeypatch.setattr(producer, "day_events", day_events_failing_on_day_two)
    url = migrated_database()
    with pytest.raises(generate_module.ProducerFailed, match="disk on fire"):
        generate(url, dataclasses.replace(SMALL, events_per_day=300), progress=False, settings=settings_for(url))
    with psycopg.connect(url) as conn:
        per_day = conn.execute(
            "SELECT (occurred_at AT TIME ZONE 'Asia/Seoul')::date, count(*) FROM watch_events GROUP BY 1"
        ).fetchall()
    assert per_day == [(SMALL.first_day, 300)]


@pytest.fixture
def cli_database(migrated_database, monkeypatch):
    url = migrated_database()
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_the_command_loads_and_prints_the_report(cli_database, capsys):
    code = cli.main(["generate", "--videos", "30", "--users", "2k", "--days", "2", "--events-per-day", "1_000",
                     "--seed", "5", "--first-day", "2026-02-01", "--quiet"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "days 2026-02-01 .. 2026-02-02" in out and "events/s" in out
    assert re.search(r"watch_events\s+2,000", out) and re.search(r"users\s+2,000", out)
    with psycopg.connect(cli_database) as conn:
        assert scalar(conn, "SELECT count(*) FROM watch_events") == 2_000


def test_the_command_refuses_a_bad_config_before_touching_the_database(cli_database, capsys):
    code = cli.main(["generate", "--users", "10", "--sellers", "20", "--quiet"])
    assert code == 2
    assert "sellers (20) cannot outnumber users (10)" in capsys.readouterr().err
    with psycopg.connect(cli_database) as conn:
        assert scalar(conn, "SELECT count(*) FROM users") == 0


def test_counts_on_the_command_line_take_suffixes():
    assert [count(text) for text in ("5000", "5_000", "250k", "2M", "1.5m")] == [5000, 5000, 250_000, 2_000_000, 1_500_000]
    with pytest.raises(ValueError, match="not a count: 'many'"):
        count("many")
