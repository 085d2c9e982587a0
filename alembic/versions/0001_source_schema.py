"""Source schema: users, videos, ads, video_ads, day-partitioned watch_events and ad_impressions,
playback_positions.

Naming convention: pk_<table>, uq_<table>_<columns>, fk_<table>_<column>_<referenced table>,
ck_<table>_<rule>, ix_<table>_<columns>.

The event tables carry no foreign keys on purpose: they are an append-only log that accepts every
reported event (the pipeline's quality gate decides what counts), and COPY loads stay fast.
Their key is (event_id, occurred_at): a partitioned table's unique key must hold the partition key,
and a client's retry resends the same event, time included.

Revision ID: 0001
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ENSURE_DAY_PARTITIONS = r"""
CREATE FUNCTION ensure_day_partitions(p_from date, p_to date, p_time_zone text)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
-- Creates the missing daily partitions of every day-partitioned event table for the calendar days
-- p_from..p_to of p_time_zone. Rows that had landed in the DEFAULT partition for such a day move into
-- the new partition, so no event is ever lost. Returns how many partitions it created.
DECLARE
    parent text;
    day date;
    partition_name text;
    lower_bound timestamptz;
    upper_bound timestamptz;
    created integer := 0;
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_from > p_to THEN
        RAISE EXCEPTION 'ensure_day_partitions: bad range % .. %', p_from, p_to;
    END IF;
    IF p_to - p_from > 3660 THEN
        RAISE EXCEPTION 'ensure_day_partitions: range % .. % is longer than ten years', p_from, p_to;
    END IF;
    FOREACH parent IN ARRAY ARRAY['watch_events', 'ad_impressions'] LOOP
        FOR day IN SELECT d::date FROM generate_series(p_from, p_to, interval '1 day') AS d LOOP
            partition_name := format('%s_%s', parent, to_char(day, 'YYYYMMDD'));
            CONTINUE WHEN to_regclass(partition_name) IS NOT NULL;
            lower_bound := day::timestamp AT TIME ZONE p_time_zone;
            upper_bound := (day + 1)::timestamp AT TIME ZONE p_time_zone;
            EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                           partition_name, parent);
            EXECUTE format(
                'WITH moved AS (DELETE FROM %I WHERE occurred_at >= %L AND occurred_at < %L RETURNING *) '
                'INSERT INTO %I SELECT * FROM moved',
                parent || '_default', lower_bound, upper_bound, partition_name);
            EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                           parent, partition_name, lower_bound, upper_bound);
            created := created + 1;
        END LOOP;
    END LOOP;
    RETURN created;
END
$fn$;
"""


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE users (
            id            bigint GENERATED ALWAYS AS IDENTITY,
            email         text NOT NULL,
            username      text NOT NULL,
            password_hash text,
            kakao_id      bigint,
            role          text NOT NULL DEFAULT 'USER',
            created_at    timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_users PRIMARY KEY (id),
            CONSTRAINT uq_users_email UNIQUE (email),
            CONSTRAINT uq_users_kakao_id UNIQUE (kakao_id),
            CONSTRAINT ck_users_role CHECK (role IN ('USER', 'SELLER')),
            CONSTRAINT ck_users_can_log_in CHECK (password_hash IS NOT NULL OR kakao_id IS NOT NULL)
        );

        CREATE TABLE videos (
            id               bigint GENERATED ALWAYS AS IDENTITY,
            seller_id        bigint NOT NULL,
            title            text NOT NULL,
            description      text NOT NULL DEFAULT '',
            video_url        text NOT NULL,
            duration_seconds integer NOT NULL,
            status           text NOT NULL DEFAULT 'ACTIVE',
            created_at       timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_videos PRIMARY KEY (id),
            CONSTRAINT fk_videos_seller_id_users FOREIGN KEY (seller_id) REFERENCES users (id),
            CONSTRAINT ck_videos_duration_positive CHECK (duration_seconds > 0),
            CONSTRAINT ck_videos_status CHECK (status IN ('ACTIVE', 'INACTIVE'))
        );
        CREATE INDEX ix_videos_seller_id ON videos (seller_id);

        CREATE TABLE ads (
            id               bigint GENERATED ALWAYS AS IDENTITY,
            title            text NOT NULL,
            ad_url           text NOT NULL,
            duration_seconds integer NOT NULL,
            contract_start   date NOT NULL,
            contract_end     date NOT NULL,
            status           text NOT NULL DEFAULT 'SCHEDULED',
            created_at       timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_ads PRIMARY KEY (id),
            CONSTRAINT ck_ads_duration_positive CHECK (duration_seconds > 0),
            CONSTRAINT ck_ads_contract_period CHECK (contract_end >= contract_start),
            CONSTRAINT ck_ads_status CHECK (status IN ('SCHEDULED', 'ACTIVE', 'EXPIRED'))
        );
        CREATE INDEX ix_ads_status ON ads (status);

        CREATE TABLE video_ads (
            video_id bigint NOT NULL,
            ad_id    bigint NOT NULL,
            slot     integer NOT NULL,
            CONSTRAINT pk_video_ads PRIMARY KEY (video_id, slot),
            CONSTRAINT fk_video_ads_video_id_videos FOREIGN KEY (video_id) REFERENCES videos (id) ON DELETE CASCADE,
            CONSTRAINT fk_video_ads_ad_id_ads FOREIGN KEY (ad_id) REFERENCES ads (id),
            CONSTRAINT ck_video_ads_slot_positive CHECK (slot >= 1)
        );
        CREATE INDEX ix_video_ads_ad_id ON video_ads (ad_id);

        CREATE TABLE watch_events (
            event_id         uuid NOT NULL,
            kind             text NOT NULL,
            user_id          bigint NOT NULL,
            video_id         bigint NOT NULL,
            occurred_at      timestamptz NOT NULL,
            position_seconds integer NOT NULL DEFAULT 0,
            watched_seconds  integer NOT NULL DEFAULT 0,
            received_at      timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_watch_events PRIMARY KEY (event_id, occurred_at),
            CONSTRAINT ck_watch_events_kind CHECK (kind IN ('START', 'PROGRESS', 'PAUSE', 'STOP'))
        ) PARTITION BY RANGE (occurred_at);
        CREATE TABLE watch_events_default PARTITION OF watch_events DEFAULT;

        CREATE TABLE ad_impressions (
            event_id    uuid NOT NULL,
            user_id     bigint NOT NULL,
            video_id    bigint NOT NULL,
            ad_id       bigint NOT NULL,
            occurred_at timestamptz NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_ad_impressions PRIMARY KEY (event_id, occurred_at)
        ) PARTITION BY RANGE (occurred_at);
        CREATE TABLE ad_impressions_default PARTITION OF ad_impressions DEFAULT;

        CREATE TABLE playback_positions (
            user_id          bigint NOT NULL,
            video_id         bigint NOT NULL,
            position_seconds integer NOT NULL,
            updated_at       timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_playback_positions PRIMARY KEY (user_id, video_id),
            CONSTRAINT fk_playback_positions_user_id_users FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
            CONSTRAINT fk_playback_positions_video_id_videos FOREIGN KEY (video_id) REFERENCES videos (id) ON DELETE CASCADE,
            CONSTRAINT ck_playback_positions_position_not_negative CHECK (position_seconds >= 0)
        );
        """
    )
    op.execute(ENSURE_DAY_PARTITIONS)


def downgrade() -> None:
    op.execute(
        """
        DROP FUNCTION ensure_day_partitions(date, date, text);
        DROP TABLE playback_positions, ad_impressions, watch_events, video_ads, ads, videos, users;
        """
    )
