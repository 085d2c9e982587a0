"""Duplicates are kept, not dropped: a copy of an event that was stored already is turned away from
the event table (its day partition's unique event_id index) and recorded in duplicate_events with
its raw row, so the quality gate can report it (reason duplicate_event) and ingested = counted +
quarantined holds for every copy that arrived.

- duplicate_events: the copies turned away, per source, with the raw row as it was reported.
- record_watch_event(...): stores a watch event; a copy of a stored one goes to duplicate_events.
  Returns whether the event was new. (Ad impressions written by the API have ids derived from their
  progress event's, so they cannot arrive twice; the table takes both sources for other writers.)

Revision ID: 0007
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


RECORD_WATCH_EVENT = """
CREATE FUNCTION record_watch_event(
    p_event_id uuid, p_kind text, p_user_id bigint, p_video_id bigint, p_occurred_at timestamptz,
    p_position_seconds integer, p_watched_seconds integer
) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO watch_events (event_id, kind, user_id, video_id, occurred_at, position_seconds, watched_seconds)
    VALUES (p_event_id, p_kind, p_user_id, p_video_id, p_occurred_at, p_position_seconds, p_watched_seconds)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN true;
    END IF;
    INSERT INTO duplicate_events (source, event_id, occurred_at, raw_row)
    VALUES ('watch_events', p_event_id, p_occurred_at, jsonb_build_object(
        'event_id', p_event_id, 'kind', p_kind, 'user_id', p_user_id, 'video_id', p_video_id,
        'occurred_at', p_occurred_at, 'position_seconds', p_position_seconds,
        'watched_seconds', p_watched_seconds, 'received_at', now()));
    RETURN false;
END
$$;
"""


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE duplicate_events (
            id           bigint GENERATED ALWAYS AS IDENTITY,
            source       text NOT NULL,
            event_id     uuid NOT NULL,
            occurred_at  timestamptz NOT NULL,
            received_at  timestamptz NOT NULL DEFAULT now(),
            raw_row      jsonb NOT NULL,
            CONSTRAINT pk_duplicate_events PRIMARY KEY (id),
            CONSTRAINT ck_duplicate_events_source CHECK (source IN ('watch_events', 'ad_impressions'))
        );
        CREATE INDEX ix_duplicate_events_occurred_at ON duplicate_events (occurred_at);
        """
    )
    op.execute(RECORD_WATCH_EVENT)


def downgrade() -> None:
    op.execute(
        """
        DROP FUNCTION record_watch_event(uuid, text, bigint, bigint, timestamptz, integer, integer);
        DROP TABLE duplicate_events;
        """
    )
