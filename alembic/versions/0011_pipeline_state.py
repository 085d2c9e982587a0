"""Pipeline state as data, shared by every way of settling a day (`settlement run`, the scheduler, a plain
`dbt build`): which days are settled, who holds the pipeline, and what must be settled before a day.

- settled_days: one row per settled day, written in the transaction that publishes the day (so a
  reader that sees a day's results sees it settled, and a killed run leaves no row).
- The pipeline lock is a lease on the RUNNING row of pipeline_runs (at most one, by a unique index).
  A session advisory lock cannot be it: dbt opens a new connection for every node, so a plain
  `dbt build` has no session that lives as long as its run. Every node renews the lease; a run that
  drives dbt from Python also names the backend of a connection it keeps for the whole run, so its
  death frees the pipeline at once. Another run may take over only from a run that is gone (its
  lease ran out, or its backend ended); the run taken over is FAILED as of its last sign of life, and
  cannot publish any more (publishing checks the lease in the publishing transaction).
- begin_settlement_run / join_settlement_run / renew_settlement_run / finish_settlement_run: the lease.
- days_to_settle_before(day, horizon, time zone): the days that must be settled before `day` can be:
  from the first day after the last settled one (or the first day with events, when none is), and
  from the first recently settled day that received events after it was settled (late events).
- closed_payout_adjustments: the adjustments booked on a closed day, frozen with it.
- settlement_lock_key(name): every advisory lock of the project (publish, scheduler jobs) hashes its
  name the same way, here.

Revision ID: 0011
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

FUNCTIONS = r"""
CREATE FUNCTION settlement_lock_key(p_name text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN hashtextextended('settlement.' || p_name, 0);
COMMENT ON FUNCTION settlement_lock_key(text) IS
    'The advisory lock key of a named settlement lock (pipeline, publish, scheduler jobs): one hash for all.';

CREATE FUNCTION settlement_busy_message(p_run pipeline_runs) RETURNS text
LANGUAGE sql STABLE RETURN format(
    'another settlement run holds the pipeline: run %s for %s (%s, started %s, last sign of life %s)',
    p_run.id, p_run.run_date, p_run.trigger, to_char(p_run.started_at, 'YYYY-MM-DD HH24:MI:SS TZ'),
    to_char(p_run.heartbeat_at, 'YYYY-MM-DD HH24:MI:SS TZ'));

CREATE FUNCTION settlement_run_is_alive(p_run pipeline_runs) RETURNS boolean
LANGUAGE sql STABLE RETURN
    p_run.lease_until > clock_timestamp()
    AND (p_run.holder_pid IS NULL OR EXISTS (
        SELECT 1 FROM pg_stat_activity WHERE pid = p_run.holder_pid AND backend_start = p_run.holder_started_at));

CREATE FUNCTION begin_settlement_run(
    p_day date, p_trigger text, p_lease interval, p_time_zone text, p_holder_pid integer DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql AS $fn$
-- Takes the pipeline for settling p_day, or raises: the day has not ended yet (SQLSTATE 22023), or a
-- live run holds the pipeline (55P03). A run that is gone is FAILED first, as of its last sign of life.
DECLARE
    today date := (clock_timestamp() AT TIME ZONE p_time_zone)::date;
    running pipeline_runs;
    run_id bigint;
BEGIN
    IF p_day IS NULL OR p_day >= today THEN
        RAISE EXCEPTION 'cannot settle %: a day can be settled once it has ended in %, and today is %', p_day, p_time_zone, today
            USING ERRCODE = '22023';
    END IF;
    PERFORM pg_advisory_xact_lock(settlement_lock_key('pipeline'));
    SELECT * INTO running FROM pipeline_runs WHERE status = 'RUNNING' FOR UPDATE;
    IF FOUND THEN
        IF settlement_run_is_alive(running) THEN
            RAISE EXCEPTION '%', settlement_busy_message(running) USING ERRCODE = '55P03';
        END IF;
        UPDATE pipeline_runs
        SET status = 'FAILED', finished_at = greatest(heartbeat_at, started_at),
            error = format('interrupted: no sign of life since %s', to_char(heartbeat_at, 'YYYY-MM-DD HH24:MI:SS TZ'))
        WHERE id = running.id;
    END IF;
    INSERT INTO pipeline_runs (run_date, trigger, heartbeat_at, lease_until, holder_pid, holder_started_at)
    SELECT p_day, p_trigger, clock_timestamp(), clock_timestamp() + p_lease, p_holder_pid,
           (SELECT backend_start FROM pg_stat_activity WHERE pid = p_holder_pid)
    RETURNING id INTO run_id;
    RETURN run_id;
END
$fn$;

CREATE FUNCTION join_settlement_run(p_run_id bigint, p_invocation text, p_lease interval) RETURNS date
LANGUAGE plpgsql AS $fn$
-- A dbt invocation joins the run that started it (settlement run); returns the run's day.
DECLARE
    day date;
BEGIN
    UPDATE pipeline_runs SET invocation_id = p_invocation, heartbeat_at = clock_timestamp(),
                             lease_until = greatest(lease_until, clock_timestamp() + p_lease)
    WHERE id = p_run_id AND status = 'RUNNING'
    RETURNING run_date INTO day;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'settlement run % does not hold the pipeline (any more)', p_run_id USING ERRCODE = '55P03';
    END IF;
    RETURN day;
END
$fn$;

CREATE FUNCTION renew_settlement_run(p_invocation text, p_lease interval) RETURNS bigint
LANGUAGE plpgsql AS $fn$
-- The run of this dbt invocation shows it is alive; raises when the run no longer holds the pipeline.
DECLARE
    run_id bigint;
BEGIN
    UPDATE pipeline_runs SET heartbeat_at = clock_timestamp(),
                             lease_until = greatest(lease_until, clock_timestamp() + p_lease)
    WHERE invocation_id = p_invocation AND status = 'RUNNING'
    RETURNING id INTO run_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'this run (dbt invocation %) does not hold the pipeline (any more): it stops here', p_invocation
            USING ERRCODE = '55P03';
    END IF;
    RETURN run_id;
END
$fn$;

CREATE FUNCTION finish_settlement_run(
    p_run_id bigint, p_status text, p_error text, p_row_counts jsonb, p_quarantined jsonb
) RETURNS void
LANGUAGE sql AS $fn$
    UPDATE pipeline_runs
    SET status = p_status, finished_at = clock_timestamp(), error = p_error,
        row_counts = coalesce(p_row_counts, row_counts), quarantined = coalesce(p_quarantined, quarantined),
        lease_until = NULL
    WHERE id = p_run_id AND status = 'RUNNING';
$fn$;

CREATE FUNCTION days_with_late_events(p_from date, p_before date, p_time_zone text) RETURNS SETOF date
LANGUAGE plpgsql STABLE AS $fn$
-- Settled days in [p_from, p_before) with events that arrived after their settlement started (the
-- received_at BRIN indexes keep each look a few pages).
DECLARE
    settled settled_days;
BEGIN
    FOR settled IN SELECT * FROM settled_days WHERE day >= p_from AND day < p_before ORDER BY day LOOP
        IF EXISTS (SELECT 1 FROM watch_events
                   WHERE occurred_at >= settled.day::timestamp AT TIME ZONE p_time_zone
                     AND occurred_at < (settled.day + 1)::timestamp AT TIME ZONE p_time_zone
                     AND received_at > settled.run_started_at)
           OR EXISTS (SELECT 1 FROM ad_impressions
                   WHERE occurred_at >= settled.day::timestamp AT TIME ZONE p_time_zone
                     AND occurred_at < (settled.day + 1)::timestamp AT TIME ZONE p_time_zone
                     AND received_at > settled.run_started_at)
           OR EXISTS (SELECT 1 FROM duplicate_events
                   WHERE occurred_at >= settled.day::timestamp AT TIME ZONE p_time_zone
                     AND occurred_at < (settled.day + 1)::timestamp AT TIME ZONE p_time_zone
                     AND received_at > settled.run_started_at) THEN
            RETURN NEXT settled.day;
        END IF;
    END LOOP;
END
$fn$;

CREATE FUNCTION days_to_settle_before(p_day date, p_horizon_days integer, p_time_zone text) RETURNS date[]
LANGUAGE plpgsql STABLE AS $fn$
-- The days to settle, in order, before p_day can be: each day builds on the one before it (lifetime
-- views, the view window), so every day from the first settled one on is settled, and a settled day
-- that received late events is settled again, with the days after it.
DECLARE
    first_needed date;
    last_settled date;
    late date;
BEGIN
    SELECT max(day) INTO last_settled FROM settled_days WHERE day < p_day;
    IF last_settled IS NULL THEN
        IF EXISTS (SELECT 1 FROM settled_days) THEN
            first_needed := NULL;  -- p_day is before every settled day: nothing before it is needed
        ELSE
            SELECT min((occurred_at AT TIME ZONE p_time_zone)::date) INTO first_needed
            FROM watch_events WHERE occurred_at < p_day::timestamp AT TIME ZONE p_time_zone;
        END IF;
    ELSE
        first_needed := CASE WHEN last_settled < p_day - 1 THEN last_settled + 1 END;
        IF first_needed IS NULL AND EXISTS (
            SELECT 1 FROM generate_series((SELECT min(day) FROM settled_days), p_day - 1, interval '1 day') AS d
            WHERE NOT EXISTS (SELECT 1 FROM settled_days WHERE day = d::date)
        ) THEN
            SELECT min(d::date) INTO first_needed
            FROM generate_series((SELECT min(day) FROM settled_days), p_day - 1, interval '1 day') AS d
            WHERE NOT EXISTS (SELECT 1 FROM settled_days WHERE day = d::date);
        END IF;
    END IF;
    SELECT min(d) INTO late FROM days_with_late_events(p_day - p_horizon_days, p_day, p_time_zone) AS d;
    first_needed := least(first_needed, late);
    IF first_needed IS NULL THEN
        RETURN '{}';
    END IF;
    RETURN ARRAY(SELECT d::date FROM generate_series(first_needed, p_day - 1, interval '1 day') AS d);
END
$fn$;
"""


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE settled_days (
            day            date NOT NULL,
            run_id         bigint NOT NULL,
            run_started_at timestamptz NOT NULL,
            settled_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
            CONSTRAINT pk_settled_days PRIMARY KEY (day),
            CONSTRAINT fk_settled_days_run_id_pipeline_runs FOREIGN KEY (run_id) REFERENCES pipeline_runs (id)
        );

        CREATE TABLE closed_payout_adjustments (
            booked_on     date NOT NULL,
            belongs_to    date NOT NULL,
            video_id      bigint NOT NULL,
            seller_id     bigint NOT NULL,
            payout_delta  numeric NOT NULL,
            reason        text NOT NULL,
            CONSTRAINT pk_closed_payout_adjustments PRIMARY KEY (booked_on, belongs_to, video_id),
            CONSTRAINT fk_closed_payout_adjustments_booked_on_closed_days FOREIGN KEY (booked_on) REFERENCES closed_days (day)
        );

        ALTER TABLE pipeline_runs
            ADD COLUMN invocation_id text,
            ADD COLUMN heartbeat_at timestamptz,
            ADD COLUMN lease_until timestamptz,
            ADD COLUMN holder_pid integer,
            ADD COLUMN holder_started_at timestamptz;
        UPDATE pipeline_runs SET status = 'FAILED', finished_at = clock_timestamp(),
                                 error = 'interrupted: the run ended without finishing'
        WHERE status = 'RUNNING';
        CREATE UNIQUE INDEX uq_pipeline_runs_one_running ON pipeline_runs (status) WHERE status = 'RUNNING';
        CREATE INDEX ix_pipeline_runs_invocation_id ON pipeline_runs (invocation_id) WHERE invocation_id IS NOT NULL;

        -- The days already settled, as the partitions of the lifetime model tell (the state this replaces).
        DO $$
        BEGIN
            IF to_regclass('analytics.int_video_lifetime_daily') IS NOT NULL THEN
                INSERT INTO settled_days (day, run_id, run_started_at, settled_at)
                SELECT DISTINCT ON (runs.run_date) runs.run_date, runs.id, runs.started_at, runs.finished_at
                FROM pipeline_runs AS runs
                WHERE runs.status = 'SUCCEEDED'
                  AND EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                              WHERE i.inhparent = 'analytics.int_video_lifetime_daily'::regclass
                                AND c.relname = 'int_video_lifetime_daily_' || to_char(runs.run_date, 'YYYYMMDD'))
                ORDER BY runs.run_date, runs.started_at DESC;
            END IF;
        END $$;
        """
    )
    op.execute(FUNCTIONS)


def downgrade() -> None:
    op.execute(
        """
        DROP FUNCTION days_to_settle_before(date, integer, text);
        DROP FUNCTION days_with_late_events(date, date, text);
        DROP FUNCTION finish_settlement_run(bigint, text, text, jsonb, jsonb);
        DROP FUNCTION renew_settlement_run(text, interval);
        DROP FUNCTION join_settlement_run(bigint, text, interval);
        DROP FUNCTION begin_settlement_run(date, text, interval, text, integer);
        DROP FUNCTION settlement_run_is_alive(pipeline_runs);
        DROP FUNCTION settlement_busy_message(pipeline_runs);
        DROP FUNCTION settlement_lock_key(text);
        DROP INDEX ix_pipeline_runs_invocation_id;
        DROP INDEX uq_pipeline_runs_one_running;
        ALTER TABLE pipeline_runs DROP COLUMN holder_started_at, DROP COLUMN holder_pid, DROP COLUMN lease_until,
            DROP COLUMN heartbeat_at, DROP COLUMN invocation_id;
        DROP TABLE closed_payout_adjustments;
        DROP TABLE settled_days;
        """
    )
