"""The platform's clock in the database: settlement_now() and settlement_clock().

Wherever the database decides something from the time (when an event was received, when a video went
live or was taken down, which day is today for settling, a run's lease, an email link's expiry), it reads
the server's clock shifted by the session setting `settlement.clock_shift` (seconds; unset: 0), which
settlement.clock passes to every session through PGOPTIONS. So tests can set "now" for every process
and every database session alike, and the product behaves on the 1st of a month or at midnight as it
would then.

- settlement_now(): the transaction's start (now()), shifted: for the time a row was received or made.
- settlement_clock(): the wall clock (clock_timestamp()), shifted: for leases and heartbeats.

Every column default and function of the schema that read now() or clock_timestamp() reads these now.

Revision ID: 0032
"""

from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

CLOCK_FUNCTIONS = """
CREATE FUNCTION settlement_clock_shift() RETURNS interval
LANGUAGE sql STABLE PARALLEL SAFE
RETURN make_interval(secs => coalesce(nullif(current_setting('settlement.clock_shift', true), '')::double precision, 0));
COMMENT ON FUNCTION settlement_clock_shift() IS
    'How far the platform clock is ahead of the server''s: the session setting settlement.clock_shift (seconds), set by settlement.clock.';

CREATE FUNCTION settlement_now() RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE RETURN now() + settlement_clock_shift();
COMMENT ON FUNCTION settlement_now() IS 'The platform clock at the start of the transaction (now(), shifted).';

CREATE FUNCTION settlement_clock() RETURNS timestamptz
LANGUAGE sql VOLATILE PARALLEL SAFE RETURN clock_timestamp() + settlement_clock_shift();
COMMENT ON FUNCTION settlement_clock() IS 'The platform clock now, within a transaction too (clock_timestamp(), shifted).';
"""

# What reads the clock when a row is written: (table, column, the clock's default, as it was)
DEFAULTS = [
    ("ad_impressions", "received_at", "settlement_now()", "now()"),
    ("watch_events", "received_at", "settlement_now()", "now()"),
    ("duplicate_events", "received_at", "settlement_now()", "now()"),
    ("ads", "created_at", "settlement_now()", "now()"),
    ("users", "created_at", "settlement_now()", "now()"),
    ("videos", "created_at", "settlement_now()", "now()"),
    ("playback_positions", "updated_at", "settlement_now()", "now()"),
    ("email_outbox", "created_at", "settlement_now()", "now()"),
    ("email_verifications", "created_at", "settlement_now()", "now()"),
    ("closed_days", "closed_at", "settlement_clock()", "clock_timestamp()"),
    ("pipeline_runs", "started_at", "settlement_clock()", "clock_timestamp()"),
    ("settled_days", "settled_at", "settlement_clock()", "clock_timestamp()"),
]

FUNCTIONS = [
    "record_watch_event(uuid, text, bigint, bigint, timestamptz, integer, integer, timestamptz)",
    "record_ad_impression(uuid, bigint, bigint, bigint, integer, timestamptz, timestamptz)",
    "track_video_live_periods()",
    "settlement_run_is_alive(pipeline_runs)",
    "begin_settlement_run(date, text, interval, text, integer)",
    "join_settlement_run(bigint, text, interval)",
    "renew_settlement_run(text, interval)",
    "finish_settlement_run(bigint, text, text, jsonb, jsonb)",
]

TO_PLATFORM_CLOCK = [("now()", "settlement_now()"), ("clock_timestamp()", "settlement_clock()")]


def rewrite_functions(replacements: list[tuple[str, str]]) -> None:
    """Recreates each function of FUNCTIONS from its own definition with the clock reads replaced."""
    for signature in FUNCTIONS:
        op.execute(
            f"""
            DO $rewrite$
            DECLARE
                definition text := pg_get_functiondef('{signature}'::regprocedure);
            BEGIN
                {"".join(f"definition := replace(definition, '{old}', '{new}');" for old, new in replacements)}
                EXECUTE definition;
            END
            $rewrite$
            """
        )


def upgrade() -> None:
    op.execute(CLOCK_FUNCTIONS)
    for table, column, platform_clock, _ in DEFAULTS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {platform_clock}")
    rewrite_functions(TO_PLATFORM_CLOCK)


def downgrade() -> None:
    rewrite_functions([(new, old) for old, new in TO_PLATFORM_CLOCK])
    for table, column, _, server_clock in DEFAULTS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {server_clock}")
    op.execute("DROP FUNCTION settlement_clock(); DROP FUNCTION settlement_now(); DROP FUNCTION settlement_clock_shift();")
