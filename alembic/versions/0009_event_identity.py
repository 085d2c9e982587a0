"""Event identity is (user_id, event_id), unique for ever, across every day.

Until now an event id was unique per day partition only (a partitioned table's unique index must hold
the partition key): a copy claiming another day was stored again and counted, and one user's id hid
another user's event (a client that always sends the nil UUID lost data).

- watch_event_ids / ad_impression_ids: every recorded event's key, one unpartitioned table per source.
  The primary key (event_id, user_id) makes the key unique on every day at once; event ids first, so
  that time-ordered ids (what the generator writes, UUIDv7-style) are appended at the index's right edge.
- record_watch_event(...) / record_ad_impression(...): register the key and store the event, or keep
  the copy in duplicate_events (quarantined as duplicate_event by the engine). Every writer goes
  through them or registers its keys with its rows (settlement generate COPYs both).
- The per-partition unique event_id indexes go: the registry holds the rule, and loading no longer
  pays for them. Copies already stored twice (on two days) move to duplicate_events: the copy that
  arrived first stays.

Revision ID: 0009
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SOURCES = ("watch_events", "ad_impressions")
REGISTRY = {"watch_events": "watch_event_ids", "ad_impressions": "ad_impression_ids"}


def _migration(file_name: str):
    """An earlier migration module (alembic's version files are not importable by name)."""
    spec = importlib.util.spec_from_file_location(f"settlement_{file_name}", Path(__file__).with_name(file_name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RECORD_FUNCTIONS = """
CREATE FUNCTION record_watch_event(
    p_event_id uuid, p_kind text, p_user_id bigint, p_video_id bigint, p_occurred_at timestamptz,
    p_position_seconds integer, p_watched_seconds integer, p_received_at timestamptz DEFAULT now()
) RETURNS boolean
LANGUAGE plpgsql AS $$
-- Stores a watch event and returns true; a copy of a recorded one (same user and event id, any day)
-- goes to duplicate_events instead, and false is returned.
BEGIN
    INSERT INTO watch_event_ids (event_id, user_id) VALUES (p_event_id, p_user_id) ON CONFLICT DO NOTHING;
    IF FOUND THEN
        INSERT INTO watch_events (event_id, kind, user_id, video_id, occurred_at, position_seconds,
                                  watched_seconds, received_at)
        VALUES (p_event_id, p_kind, p_user_id, p_video_id, p_occurred_at, p_position_seconds,
                p_watched_seconds, p_received_at);
        RETURN true;
    END IF;
    INSERT INTO duplicate_events (source, event_id, occurred_at, received_at, raw_row)
    VALUES ('watch_events', p_event_id, p_occurred_at, p_received_at, jsonb_build_object(
        'event_id', p_event_id, 'kind', p_kind, 'user_id', p_user_id, 'video_id', p_video_id,
        'occurred_at', p_occurred_at, 'position_seconds', p_position_seconds,
        'watched_seconds', p_watched_seconds, 'received_at', p_received_at));
    RETURN false;
END
$$;

CREATE FUNCTION record_ad_impression(
    p_event_id uuid, p_user_id bigint, p_video_id bigint, p_ad_id bigint, p_slot integer,
    p_occurred_at timestamptz, p_received_at timestamptz DEFAULT now()
) RETURNS boolean
LANGUAGE plpgsql AS $$
-- The same for an ad impression.
BEGIN
    INSERT INTO ad_impression_ids (event_id, user_id) VALUES (p_event_id, p_user_id) ON CONFLICT DO NOTHING;
    IF FOUND THEN
        INSERT INTO ad_impressions (event_id, user_id, video_id, ad_id, slot, occurred_at, received_at)
        VALUES (p_event_id, p_user_id, p_video_id, p_ad_id, p_slot, p_occurred_at, p_received_at);
        RETURN true;
    END IF;
    INSERT INTO duplicate_events (source, event_id, occurred_at, received_at, raw_row)
    VALUES ('ad_impressions', p_event_id, p_occurred_at, p_received_at, jsonb_build_object(
        'event_id', p_event_id, 'user_id', p_user_id, 'video_id', p_video_id, 'ad_id', p_ad_id,
        'slot', p_slot, 'occurred_at', p_occurred_at, 'received_at', p_received_at));
    RETURN false;
END
$$;
"""


def move_stored_copies(source: str, registry: str) -> str:
    """Keeps the first arrival of each key in `source`, moves the later copies to duplicate_events,
    and registers the keys that stay."""
    return f"""
        WITH ranked AS (
            SELECT tableoid, ctid, event_id, occurred_at, received_at,
                   row_number() OVER (PARTITION BY user_id, event_id ORDER BY received_at, occurred_at) AS arrival
            FROM {source}
        ),
        copies AS (
            DELETE FROM {source} AS stored
            USING ranked
            WHERE ranked.arrival > 1 AND stored.tableoid = ranked.tableoid AND stored.ctid = ranked.ctid
            RETURNING stored.*
        )
        INSERT INTO duplicate_events (source, event_id, occurred_at, received_at, raw_row)
        SELECT '{source}', event_id, occurred_at, received_at, to_jsonb(copies) FROM copies;

        INSERT INTO {registry} (event_id, user_id) SELECT event_id, user_id FROM {source};
    """


def upgrade() -> None:
    per_day_index = _migration("0004_event_ids_unique_per_day.py")
    for source in SOURCES:
        op.execute(
            f"""
            CREATE TABLE {REGISTRY[source]} (
                event_id uuid NOT NULL,
                user_id  bigint NOT NULL,
                CONSTRAINT pk_{REGISTRY[source]} PRIMARY KEY (event_id, user_id)
            )
            """
        )
        per_day_index.for_each_partition(source, "DROP INDEX %I /* on %I */")
        op.execute(move_stored_copies(source, REGISTRY[source]))
    # ensure_day_partitions as 0001 made it: new partitions need no index of their own.
    op.execute(_migration("0001_source_schema.py").ENSURE_DAY_PARTITIONS.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    op.execute("DROP FUNCTION record_watch_event(uuid, text, bigint, bigint, timestamptz, integer, integer)")
    op.execute(RECORD_FUNCTIONS)


def downgrade() -> None:
    per_day_index = _migration("0004_event_ids_unique_per_day.py")
    op.execute(
        """
        DROP FUNCTION record_ad_impression(uuid, bigint, bigint, bigint, integer, timestamptz, timestamptz);
        DROP FUNCTION record_watch_event(uuid, text, bigint, bigint, timestamptz, integer, integer, timestamptz);
        """
    )
    op.execute(_migration("0007_duplicate_events.py").RECORD_WATCH_EVENT)
    op.execute(per_day_index.ENSURE_DAY_PARTITIONS)
    for source in SOURCES:
        # Two users' events with one id cannot both stay under a per-day id index: the later one is
        # kept as a duplicate, as 0007 would have done on arrival.
        op.execute(
            f"""
            WITH ranked AS (
                SELECT tableoid, ctid, row_number() OVER (
                    PARTITION BY event_id, tableoid ORDER BY received_at, occurred_at) AS arrival
                FROM {source}
            ),
            copies AS (
                DELETE FROM {source} AS stored USING ranked
                WHERE ranked.arrival > 1 AND stored.tableoid = ranked.tableoid AND stored.ctid = ranked.ctid
                RETURNING stored.*
            )
            INSERT INTO duplicate_events (source, event_id, occurred_at, received_at, raw_row)
            SELECT '{source}', event_id, occurred_at, received_at, to_jsonb(copies) FROM copies
            """
        )
        per_day_index.for_each_partition(source, "CREATE UNIQUE INDEX %I ON %I (event_id)")
        op.execute(f"DROP TABLE {REGISTRY[source]}")
