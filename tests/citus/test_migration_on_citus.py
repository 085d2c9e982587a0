"""Migration 0031 on Citus: the event tables distributed by user_id and colocated, rows kept through a
downgrade (undistributed) and an upgrade again; rows that landed in the DEFAULT partition move to their
day's partition, which is distributed, with nothing left behind on the coordinator."""

import datetime as dt
import uuid

import psycopg
import pytest

from settlement import migrations

pytestmark = pytest.mark.citus

EVENT_TABLES = ("watch_events", "ad_impressions", "watch_event_ids", "ad_impression_ids")


def distributed(conn) -> set[str]:
    return {
        name
        for (name,) in conn.execute(
            """SELECT logicalrelid::text FROM pg_dist_partition
               WHERE NOT (SELECT relispartition FROM pg_class WHERE oid = logicalrelid)"""
        )
    }


def coordinator_bytes(conn, table: str) -> int:
    """What the coordinator's own files of a partitioned table hold (its shells, on Citus)."""
    return conn.execute(
        "SELECT coalesce(sum(pg_relation_size(inhrelid)), 0) FROM pg_inherits WHERE inhparent = %s::regclass", (table,)
    ).fetchone()[0]


@pytest.fixture
def citus_database(citus_cluster):
    name = f"citus_migration_{uuid.uuid4().hex[:10]}"
    url = citus_cluster.create_database(name)
    yield url
    citus_cluster.drop_database(name)


def test_upgrade_distributes_downgrade_undistributes_and_rows_stay(citus_database):
    migrations.upgrade(citus_database)
    day = dt.date(2026, 11, 20)
    with psycopg.connect(citus_database, autocommit=True) as conn:
        assert distributed(conn) >= set(EVENT_TABLES)
        groups = conn.execute(
            "SELECT count(DISTINCT colocationid) FROM pg_dist_partition WHERE logicalrelid::text = ANY (%s)",
            (list(EVENT_TABLES),),
        ).fetchone()[0]
        assert groups == 1
        # events for a day without a partition land in DEFAULT; ensure_day_partitions moves them
        for user in range(1, 41):
            conn.execute("SELECT record_watch_event(%s, 'START', %s, 1, %s, 0, 0)", (uuid.uuid4(), user, f"{day} 12:00+09"))
        assert conn.execute("SELECT ensure_day_partitions(%s, %s, 'Asia/Seoul')", (day, day)).fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM watch_events_20261120").fetchone()[0] == 40
        assert conn.execute("SELECT count(*) FROM watch_events_default").fetchone()[0] == 0
        assert coordinator_bytes(conn, "watch_events") == 0  # the rows are in the workers' shards only
        assert "watch_events_20261120" in {name for (name,) in conn.execute("SELECT logicalrelid::text FROM pg_dist_partition")}

    migrations.downgrade(citus_database, "0030")
    with psycopg.connect(citus_database, autocommit=True) as conn:
        assert not distributed(conn) & set(EVENT_TABLES)
        assert conn.execute("SELECT count(*) FROM watch_events").fetchone()[0] == 40
        assert conn.execute("SELECT count(*) FROM watch_event_ids").fetchone()[0] == 40

    migrations.upgrade(citus_database)
    with psycopg.connect(citus_database, autocommit=True) as conn:
        assert distributed(conn) >= set(EVENT_TABLES)
        assert conn.execute("SELECT count(*) FROM watch_events_20261120").fetchone()[0] == 40
        assert coordinator_bytes(conn, "watch_events") == 0
        # a copy of a recorded event (same user and id) is still turned away on the workers' registry
        event_id, user_id = conn.execute("SELECT event_id, user_id FROM watch_event_ids LIMIT 1").fetchone()
        recorded = conn.execute(
            "SELECT record_watch_event(%s, 'START', %s, 1, %s, 0, 0)", (event_id, user_id, f"{day} 13:00+09")
        ).fetchone()[0]
        assert recorded is False
