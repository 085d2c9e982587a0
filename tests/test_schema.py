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
    return conn.execute(
        "SELECT tableoid::regclass::text FROM watch_events WHERE event_id = %s", (event_id,)
    ).fetchone()[0]


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
    indexes = [row[0] for row in conn.execute(
        """SELECT indexname FROM pg_indexes i JOIN pg_class t ON t.relname = i.tablename
           WHERE i.schemaname = 'public' AND NOT t.relispartition AND i.tablename <> 'alembic_version'""")]
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


def test_duplicate_event_id_is_rejected(conn):
    at = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.timezone.utc)
    event_id = insert_event(conn, at)
    with pytest.raises(psycopg.errors.UniqueViolation):
        insert_event(conn, at, event_id)
    conn.execute(
        """INSERT INTO watch_events (event_id, kind, user_id, video_id, occurred_at)
           VALUES (%s, 'START', 1, 1, %s) ON CONFLICT DO NOTHING""",
        (event_id, at),
    )
    assert conn.execute("SELECT count(*) FROM watch_events").fetchone()[0] == 1


def test_same_event_id_at_another_time_of_the_day_is_rejected(conn):
    migrations.ensure_day_partitions(conn, dt.date(2029, 4, 21), dt.date(2029, 4, 21), TZ)
    at = dt.datetime(2029, 4, 21, 3, 0, tzinfo=dt.timezone.utc)
    event_id = insert_event(conn, at)
    assert partition_of(conn, event_id) == "watch_events_20290421"
    with pytest.raises(psycopg.errors.UniqueViolation):
        insert_event(conn, at + dt.timedelta(minutes=5), event_id)
    far = dt.datetime(2031, 1, 1, tzinfo=dt.timezone.utc)  # the DEFAULT partition has the index too
    insert_event(conn, far, event_id)
    with pytest.raises(psycopg.errors.UniqueViolation):
        insert_event(conn, far + dt.timedelta(minutes=5), event_id)


def test_duplicate_ad_impression_is_rejected(conn):
    at = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.timezone.utc)
    statement = "INSERT INTO ad_impressions (event_id, user_id, video_id, ad_id, occurred_at) VALUES (%s, 1, 1, 1, %s)"
    event_id = uuid.uuid4()
    conn.execute(statement, (event_id, at))
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(statement, (event_id, at))


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
    with pytest.raises(psycopg.errors.UniqueViolation):
        insert_user(conn, "same@x")
        insert_user(conn, "same@x")
