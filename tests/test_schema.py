import datetime as dt
import uuid

import psycopg
import pytest

from settlement import migrations

TZ = "Asia/Seoul"


def insert_user(conn, email="a@example.com", role="USER") -> int:
    return conn.execute(
        "INSERT INTO users (email, username, password_hash, role) VALUES (%s, 'a', 'x', %s) RETURNING id", (email, role)
    ).fetchone()[0]


def insert_event(conn, occurred_at: dt.datetime, event_id: uuid.UUID | None = None) -> uuid.UUID:
    event_id = event_id or uuid.uuid4()
    conn.execute(
        "INSERT INTO watch_events (event_id, kind, user_id, video_id, occurred_at) VALUES (%s, 'START', 1, 1, %s)",
        (event_id, occurred_at),
    )
    return event_id


def partition_of(conn, event_id: uuid.UUID) -> str:
    return conn.execute("SELECT tableoid::regclass::text FROM watch_events WHERE event_id = %s", (event_id,)).fetchone()[0]


def test_upgrade_from_empty_and_downgrade_back_to_empty(fresh_database):
    url = fresh_database("settlement_migrate")
    migrations.upgrade(url)
    with psycopg.connect(url) as conn:
        tables = {name for name, *_ in migrations.schema_summary(conn)}
    source = {"users", "videos", "ads", "video_ads", "watch_events", "ad_impressions", "playback_positions"}
    assert source <= tables

    migrations.downgrade(url)
    with psycopg.connect(url) as conn:
        left = conn.execute(
            """SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relname NOT LIKE 'alembic_version%' AND c.relkind IN ('r', 'p', 'v', 'i', 'S')"""
        ).fetchone()[0]
        functions = conn.execute("SELECT count(*) FROM pg_proc WHERE proname = 'ensure_day_partitions'").fetchone()[0]
    assert (left, functions) == (0, 0)
    migrations.upgrade(url)  # and up again from the downgraded state


def test_constraints_follow_the_naming_convention(conn):
    names = [
        row[0]
        for row in conn.execute(
            """SELECT conname FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
               WHERE t.relnamespace = 'public'::regnamespace AND NOT t.relispartition AND c.contype <> 'n'
                 AND t.relname <> 'alembic_version'"""
        )
    ]
    assert names
    assert all(name.split("_")[0] in {"pk", "uq", "fk", "ck"} for name in names), names
    indexes = [
        row[0]
        for row in conn.execute(
            """SELECT indexname FROM pg_indexes i JOIN pg_class t ON t.relname = i.tablename
           WHERE i.schemaname = 'public' AND NOT t.relispartition AND i.tablename <> 'alembic_version'"""
        )
    ]
    assert all(name.split("_")[0] in {"pk", "uq", "ix"} for name in indexes), indexes


def test_partitions_for_a_range_and_default_for_the_rest(conn):
    # Days no other test settles, so their partitions are made here.
    created = migrations.ensure_day_partitions(conn, dt.date(2029, 3, 10), dt.date(2029, 3, 12), TZ)
    assert created == 6  # three days, two event tables
    assert migrations.ensure_day_partitions(conn, dt.date(2029, 3, 10), dt.date(2029, 3, 12), TZ) == 0

    seoul = dt.timezone(dt.timedelta(hours=9))
    inside = insert_event(conn, dt.datetime(2029, 3, 11, 0, 0, tzinfo=seoul))
    last_instant = insert_event(conn, dt.datetime(2029, 3, 12, 23, 59, 59, tzinfo=seoul))
    outside = insert_event(conn, dt.datetime(2029, 3, 13, 0, 0, tzinfo=seoul))
    assert partition_of(conn, inside) == "watch_events_20290311"
    assert partition_of(conn, last_instant) == "watch_events_20290312"
    assert partition_of(conn, outside) == "watch_events_default"


def test_new_partition_takes_over_its_rows_from_default(conn):
    seoul = dt.timezone(dt.timedelta(hours=9))
    early = insert_event(conn, dt.datetime(2030, 1, 5, 3, 0, tzinfo=seoul))
    assert partition_of(conn, early) == "watch_events_default"

    migrations.ensure_day_partitions(conn, dt.date(2030, 1, 5), dt.date(2030, 1, 5), TZ)

    assert partition_of(conn, early) == "watch_events_20300105"
    assert conn.execute("SELECT count(*) FROM watch_events").fetchone()[0] == 1


def test_bad_partition_range_is_refused(conn):
    with pytest.raises(psycopg.errors.RaiseException, match="bad range"):
        migrations.ensure_day_partitions(conn, dt.date(2026, 11, 22), dt.date(2026, 11, 20), TZ)


RECORD_WATCH_EVENT = "SELECT record_watch_event(%s, 'START', %s, 1, %s, 0, 0)"
RECORD_AD_IMPRESSION = "SELECT record_ad_impression(%s, %s, 1, 1, 1, %s)"


def test_an_event_key_is_recorded_once_for_ever_on_any_day(conn):
    """(user_id, event_id) is unique across every day partition: a copy claiming another day, or another
    time of the day, is kept in duplicate_events instead."""
    migrations.ensure_day_partitions(conn, dt.date(2029, 4, 21), dt.date(2029, 4, 22), TZ)
    at = dt.datetime(2029, 4, 21, 3, 0, tzinfo=dt.UTC)
    event_id = uuid.uuid4()
    assert conn.execute(RECORD_WATCH_EVENT, (event_id, 1, at)).fetchone() == (True,)
    for copy_at in (at, at + dt.timedelta(minutes=5), at + dt.timedelta(days=1), dt.datetime(2031, 1, 1, tzinfo=dt.UTC)):
        assert conn.execute(RECORD_WATCH_EVENT, (event_id, 1, copy_at)).fetchone() == (False,)
    assert conn.execute("SELECT count(*) FROM watch_events").fetchone()[0] == 1
    copies = conn.execute("SELECT occurred_at FROM duplicate_events WHERE source = 'watch_events' ORDER BY id").fetchall()
    assert len(copies) == 4 and copies[2][0] == at + dt.timedelta(days=1)
    with pytest.raises(psycopg.errors.UniqueViolation):  # the registry is the rule, for any writer
        conn.execute("INSERT INTO watch_event_ids (event_id, user_id) VALUES (%s, 1)", (event_id,))


def test_one_users_event_id_never_hides_another_users_event(conn):
    at = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
    nil = uuid.UUID(int=0)
    assert [conn.execute(RECORD_WATCH_EVENT, (nil, user, at)).fetchone()[0] for user in (1, 2, 1)] == [True, True, False]
    assert [conn.execute(RECORD_AD_IMPRESSION, (nil, user, at)).fetchone()[0] for user in (1, 2, 2)] == [True, True, False]
    assert conn.execute("SELECT count(*) FROM watch_events").fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM ad_impressions").fetchone()[0] == 2
    assert conn.execute("SELECT source, raw_row ->> 'user_id' FROM duplicate_events ORDER BY id").fetchall() == [
        ("watch_events", "1"),
        ("ad_impressions", "2"),
    ]


def test_the_migration_keeps_the_first_arrival_of_copies_stored_before_it(fresh_database):
    """Before 0009 a copy claiming another day was stored twice; upgrading keeps the first arrival and
    moves the copy to duplicate_events (a downgrade cannot restore both, but loses nothing either)."""
    url = fresh_database("settlement_migrate")
    migrations.upgrade(url, "0008")
    first, second = dt.datetime(2026, 11, 21, 3, tzinfo=dt.UTC), dt.datetime(2026, 11, 22, 3, tzinfo=dt.UTC)
    event_id = uuid.uuid4()
    with psycopg.connect(url, autocommit=True) as conn:
        migrations.ensure_day_partitions(conn, dt.date(2026, 11, 21), dt.date(2026, 11, 22), TZ)
        for occurred_at, received_at in ((first, first), (second, second)):
            conn.execute(
                """INSERT INTO watch_events (event_id, kind, user_id, video_id, occurred_at, received_at)
                   VALUES (%s, 'START', 7, 1, %s, %s)""",
                (event_id, occurred_at, received_at),
            )
    migrations.upgrade(url)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT occurred_at FROM watch_events").fetchall() == [(first,)]
        assert conn.execute("SELECT occurred_at FROM duplicate_events").fetchall() == [(second,)]
        assert conn.execute("SELECT event_id, user_id FROM watch_event_ids").fetchall() == [(event_id, 7)]


def test_foreign_keys_hold(conn):
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("INSERT INTO videos (seller_id, title, video_url, duration_seconds) VALUES (999, 't', 'u', 60)")
    seller = insert_user(conn, role="SELLER")
    video = conn.execute(
        "INSERT INTO videos (seller_id, title, video_url, duration_seconds) VALUES (%s, 't', 'u', 600) RETURNING id",
        (seller,),
    ).fetchone()[0]
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("INSERT INTO video_ads (video_id, ad_id, slot) VALUES (%s, 999, 1)", (video,))
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("INSERT INTO playback_positions (user_id, video_id, position_seconds) VALUES (999, %s, 0)", (video,))
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("DELETE FROM users WHERE id = %s", (seller,))


def test_checks_hold(conn):
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("INSERT INTO users (email, username, password_hash, role) VALUES ('b@x', 'b', 'x', 'ADMIN')")
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            """INSERT INTO ads (title, ad_url, duration_seconds, contract_start, contract_end)
               VALUES ('a', 'u', 15, '2026-02-01', '2026-01-01')"""
        )
    insert_user(conn, "same@x")
    with pytest.raises(psycopg.errors.UniqueViolation):
        insert_user(conn, "same@x")


def test_a_video_is_live_from_its_creation_until_taken_down_and_again_once_back(conn):
    seller = insert_user(conn, role="SELLER")
    created = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    video = conn.execute(
        """INSERT INTO videos (seller_id, title, video_url, duration_seconds, created_at)
           VALUES (%s, 't', 'u', 600, %s) RETURNING id""",
        (seller, created),
    ).fetchone()[0]
    periods = "SELECT live_from, live_until FROM video_live_periods WHERE video_id = %s ORDER BY live_from"
    assert conn.execute(periods, (video,)).fetchall() == [(created, None)]
    taken_down = conn.execute(
        "UPDATE videos SET status = 'INACTIVE' WHERE id = %s RETURNING settlement_now()", (video,)
    ).fetchone()[0]
    conn.execute("UPDATE videos SET title = 'renamed' WHERE id = %s", (video,))  # not a status change
    back = conn.execute("UPDATE videos SET status = 'ACTIVE' WHERE id = %s RETURNING settlement_now()", (video,)).fetchone()[0]
    assert conn.execute(periods, (video,)).fetchall() == [(created, taken_down), (back, None)]
    hidden = conn.execute(
        "INSERT INTO videos (seller_id, title, video_url, duration_seconds, status) VALUES (%s, 't', 'u', 60, 'INACTIVE') RETURNING id",
        (seller,),
    ).fetchone()[0]
    assert conn.execute(periods, (hidden,)).fetchall() == []  # never live


def test_days_with_events_before_the_first_settled_day_are_settled_first(conn):
    """An empty yesterday settled first must not hide the days with events before it."""
    migrations.ensure_day_partitions(conn, dt.date(2026, 11, 18), dt.date(2026, 11, 22), TZ)
    run = conn.execute(
        "INSERT INTO pipeline_runs (run_date, status, finished_at) VALUES ('2026-11-22', 'SUCCEEDED', now()) RETURNING id"
    ).fetchone()[0]
    conn.execute("INSERT INTO settled_days (day, run_id, run_started_at) VALUES ('2026-11-22', %s, now())", (run,))
    insert_event(conn, dt.datetime(2026, 11, 19, 12, tzinfo=dt.timezone(dt.timedelta(hours=9))))
    days = conn.execute("SELECT days_to_settle_before('2026-11-22', 40, %s, interval '10 seconds')", (TZ,)).fetchone()[0]
    assert days == [dt.date(2026, 11, 19), dt.date(2026, 11, 20), dt.date(2026, 11, 21)]
    assert conn.execute("SELECT days_to_settle_before('2026-11-19', 40, %s, interval '10 seconds')", (TZ,)).fetchone()[0] == []


def settle(conn, day: str, settled_at: str) -> None:
    run = conn.execute(
        "INSERT INTO pipeline_runs (run_date, status, finished_at) VALUES (%s, 'SUCCEEDED', now()) RETURNING id", (day,)
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO settled_days (day, run_id, run_started_at, settled_at) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (day) DO UPDATE SET run_id = excluded.run_id, run_started_at = excluded.run_started_at, settled_at = excluded.settled_at",
        (day, run, settled_at, settled_at),
    )


def test_a_day_settled_before_an_earlier_day_was_settled_again_is_settled_again(conn):
    """Stale: its numbers follow from the earlier day as it was."""
    for day, at in (
        ("2026-11-20", "2026-11-21 01:00+09"),
        ("2026-11-21", "2026-11-22 01:00+09"),
        ("2026-11-22", "2026-11-23 01:00+09"),
    ):
        settle(conn, day, at)
    before = "SELECT days_to_settle_before('2026-11-23', 40, %s, interval '10 seconds')"
    assert conn.execute(before, (TZ,)).fetchone()[0] == []
    settle(conn, "2026-11-20", "2026-11-23 02:00+09")  # settled again, alone
    assert conn.execute(before, (TZ,)).fetchone()[0] == [dt.date(2026, 11, 21), dt.date(2026, 11, 22)]


def test_late_events_of_the_next_days_first_seconds_are_late_for_the_day_before(conn):
    """An impression just before midnight may have been played in the next day's first seconds."""
    migrations.ensure_day_partitions(conn, dt.date(2026, 11, 20), dt.date(2026, 11, 23), TZ)
    settle(conn, "2026-11-20", "2026-11-21 01:00+09")
    settle(conn, "2026-11-21", "2026-11-22 01:00+09")
    late = "SELECT array(SELECT days_with_late_events('2026-11-19', '2026-11-22', %s, interval '10 seconds'))"
    seoul = dt.timezone(dt.timedelta(hours=9))
    insert_event(conn, dt.datetime(2026, 11, 21, 0, 0, 11, tzinfo=seoul))  # after the slack: the 21st's alone
    assert conn.execute(late, (TZ,)).fetchone()[0] == [dt.date(2026, 11, 21)]
    insert_event(conn, dt.datetime(2026, 11, 21, 0, 0, 9, tzinfo=seoul))
    assert conn.execute(late, (TZ,)).fetchone()[0] == [dt.date(2026, 11, 20), dt.date(2026, 11, 21)]
