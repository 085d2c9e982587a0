"""Event ids unique within each day partition, instead of (event_id, occurred_at) across the table.

A partitioned table's unique key must hold its partition key, so the old key let the same event id in
twice with two different times. A unique index on event_id in each day partition (and the DEFAULT
one) turns such a duplicate away on arrival; INSERT ... ON CONFLICT DO NOTHING makes it a no-op.
ensure_day_partitions creates the index with each new partition.

Revision ID: 0004
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

EVENT_TABLES = ("watch_events", "ad_impressions")

ENSURE_DAY_PARTITIONS = r"""
CREATE OR REPLACE FUNCTION ensure_day_partitions(p_from date, p_to date, p_time_zone text)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
-- Creates the missing daily partitions of every day-partitioned event table for the calendar days
-- p_from..p_to of p_time_zone, each with its unique event_id index. Rows that had landed in the
-- DEFAULT partition for such a day move into the new partition, so no event is ever lost.
-- Returns how many partitions it created.
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
            EXECUTE format('CREATE UNIQUE INDEX %I ON %I (event_id)', 'uq_' || partition_name || '_event_id',
                           partition_name);
            EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                           parent, partition_name, lower_bound, upper_bound);
            created := created + 1;
        END LOOP;
    END LOOP;
    RETURN created;
END
$fn$;
"""


def for_each_partition(table: str, statement: str) -> None:
    """Runs a format() statement (%I is the partition, %I the index name) on every partition of table."""
    op.execute(
        f"""
        DO $$
        DECLARE name text;
        BEGIN
            FOR name IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                        WHERE i.inhparent = '{table}'::regclass LOOP
                EXECUTE format('{statement}', 'uq_' || name || '_event_id', name);
            END LOOP;
        END $$;
        """
    )


def upgrade() -> None:
    for table in EVENT_TABLES:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}")
        for_each_partition(table, "CREATE UNIQUE INDEX %I ON %I (event_id)")
    op.execute(ENSURE_DAY_PARTITIONS)


def downgrade() -> None:
    for table in EVENT_TABLES:
        for_each_partition(table, "DROP INDEX %I /* on %I */")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (event_id, occurred_at)")
    # The function as 0001 made it: without the per-partition index.
    op.execute(
        ENSURE_DAY_PARTITIONS.replace(
            "            EXECUTE format('CREATE UNIQUE INDEX %I ON %I (event_id)', 'uq_' || partition_name || '_event_id',\n"
            "                           partition_name);\n",
            "",
        )
    )
