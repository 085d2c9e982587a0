"""video_live_periods: when each video was live, so events are judged by the video's state at the
event's time, not at settlement time (a video taken down today keeps what it earned while it was live,
and re-settling an old day gives the same payout as before the take-down).

- A video goes live when it is created ACTIVE (at its created_at), or when it becomes ACTIVE again;
  it is taken down when its status leaves ACTIVE. Triggers on videos keep the periods; the open period
  of a live video has no live_until.
- Videos that were INACTIVE before this revision get no period: when they were taken down is not known,
  and the engine turned their events down already (they stay not counted, so nothing settled changes).

Revision ID: 0010
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE video_live_periods (
            video_id   bigint NOT NULL,
            live_from  timestamptz NOT NULL,
            live_until timestamptz,
            CONSTRAINT pk_video_live_periods PRIMARY KEY (video_id, live_from),
            CONSTRAINT fk_video_live_periods_video_id_videos FOREIGN KEY (video_id) REFERENCES videos (id) ON DELETE CASCADE,
            CONSTRAINT ck_video_live_periods_ordered CHECK (live_until IS NULL OR live_until >= live_from)
        );
        CREATE UNIQUE INDEX uq_video_live_periods_open ON video_live_periods (video_id) WHERE live_until IS NULL;

        INSERT INTO video_live_periods (video_id, live_from)
        SELECT id, created_at FROM videos WHERE status = 'ACTIVE';

        CREATE FUNCTION track_video_live_periods() RETURNS trigger
        LANGUAGE plpgsql AS $$
        -- A video is live from its creation (ACTIVE) or from going ACTIVE again, until it leaves ACTIVE.
        BEGIN
            IF TG_OP = 'INSERT' THEN
                IF NEW.status = 'ACTIVE' THEN
                    INSERT INTO video_live_periods (video_id, live_from) VALUES (NEW.id, NEW.created_at);
                END IF;
            ELSIF OLD.status = 'ACTIVE' AND NEW.status <> 'ACTIVE' THEN
                UPDATE video_live_periods SET live_until = greatest(now(), live_from)
                WHERE video_id = NEW.id AND live_until IS NULL;
            ELSIF OLD.status <> 'ACTIVE' AND NEW.status = 'ACTIVE' THEN
                INSERT INTO video_live_periods (video_id, live_from) VALUES (NEW.id, now());
            END IF;
            RETURN NULL;
        END
        $$;

        CREATE TRIGGER videos_track_live_periods_inserted AFTER INSERT ON videos
            FOR EACH ROW EXECUTE FUNCTION track_video_live_periods();
        CREATE TRIGGER videos_track_live_periods_status AFTER UPDATE OF status ON videos
            FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION track_video_live_periods();
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER videos_track_live_periods_status ON videos;
        DROP TRIGGER videos_track_live_periods_inserted ON videos;
        DROP FUNCTION track_video_live_periods();
        DROP TABLE video_live_periods;
        """
    )
