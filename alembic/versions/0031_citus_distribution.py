"""On Citus (distributed PostgreSQL), the event tables are distributed by viewer; elsewhere nothing changes.

Only where the `citus` extension is created in the database (CREATE EXTENSION citus, which needs the
server to preload it and the workers registered with citus_add_node): on plain PostgreSQL, and on the
embedded server, this revision does nothing. Create the extension before migrating; a database migrated
without it is distributed by `alembic downgrade 0030` and `upgrade head` once it is there.

- watch_events, ad_impressions (with every day partition) and their key registries watch_event_ids,
  ad_impression_ids are hash-distributed by user_id and colocated: a viewer's events, impressions and
  keys live in the same shard, so the engine's per-viewer work (the ordered pass over each (user, video)
  pair, the ad impressions' check against the same viewer's playing, the key registries' uniqueness on
  (event_id, user_id)) runs on the workers, shard by shard, without moving rows between nodes. The
  per-viewer models of the dbt project (config distributed_by='user_id') are colocated with them.
- Everything else stays on the coordinator as it is: the catalog (users, videos, ads, video_ads,
  video_live_periods) is written by the API through triggers that Citus cannot run on reference tables
  (the live periods of videos, the ad-slot counter of video_ads), and it is small next to the events:
  a query that joins it with the events gets it shipped to the workers with the query (recursive
  planning). The engine's state (pipeline_runs, settled_days, closed_*), duplicate_events (keyed by its
  own id) and the API's tables are coordinator work.

The distributed tables keep their rows in shards on the workers; the coordinator's tables become
empty shells, so the local copy the distribution leaves behind is truncated. ensure_day_partitions
does the same for a day partition it fills from the DEFAULT partition (Citus distributes it on attach).

Downgrade undistributes them and the dbt project's per-viewer models colocated with them, which
brings the rows back to the coordinator.

Revision ID: 0031
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

# Distributed by user_id, in this order: the first is the colocation group's anchor.
DISTRIBUTED = ("watch_events", "ad_impressions", "watch_event_ids", "ad_impression_ids")
DISTRIBUTION_COLUMN = "user_id"
# Where the dbt project builds (settlement.warehouse): its distributed models are undistributed too.
ANALYTICS_SCHEMA, BUILD_SCHEMA = "analytics", "settlement_build"

UPGRADE = f"""
DO $citus$
DECLARE
    anchor constant text := '{DISTRIBUTED[0]}';
    name text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_dist_node WHERE isactive AND shouldhaveshards AND noderole = 'primary') THEN
        RAISE EXCEPTION 'citus is created in this database but no node can hold shards'
            USING HINT = 'register the workers first (SELECT citus_add_node(host, port)), or drop the extension';
    END IF;
    FOREACH name IN ARRAY ARRAY{list(DISTRIBUTED)!r}::text[] LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = name::regclass);
        IF name = anchor THEN
            PERFORM create_distributed_table(name, '{DISTRIBUTION_COLUMN}');
        ELSE
            PERFORM create_distributed_table(name, '{DISTRIBUTION_COLUMN}', colocate_with => anchor);
        END IF;
        -- the rows now live in the shards; the coordinator's shell keeps an invisible copy otherwise
        PERFORM truncate_local_data_after_distributing_table(name::regclass);
    END LOOP;
END
$citus$;
"""

DOWNGRADE = f"""
DO $citus$
DECLARE
    relation regclass;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = '{DISTRIBUTED[0]}'::regclass) THEN
        RETURN;
    END IF;
    -- these tables and the dbt project's per-viewer models colocated with them (in its schemas),
    -- partitions through their parents, the events last
    FOR relation IN
        SELECT p.logicalrelid
        FROM pg_dist_partition p
        JOIN pg_class c ON c.oid = p.logicalrelid
        WHERE p.colocationid = (SELECT colocationid FROM pg_dist_partition
                                WHERE logicalrelid = '{DISTRIBUTED[0]}'::regclass)
          AND NOT c.relispartition
          AND (p.logicalrelid::text = ANY (ARRAY{list(DISTRIBUTED)!r}::text[])
               OR c.relnamespace::regnamespace::text IN ('{ANALYTICS_SCHEMA}', '{BUILD_SCHEMA}'))
        ORDER BY p.logicalrelid::text = ANY (ARRAY{list(DISTRIBUTED)!r}::text[]), p.logicalrelid::text DESC
    LOOP
        PERFORM undistribute_table(relation);
    END LOOP;
END
$citus$;
"""


def _previous_ensure_day_partitions() -> str:
    """ensure_day_partitions as 0009 left it (0001's text)."""
    spec = importlib.util.spec_from_file_location("settlement_0001", Path(__file__).with_name("0001_source_schema.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ENSURE_DAY_PARTITIONS.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")


# A day partition created for rows that landed in the DEFAULT partition is filled on the coordinator and
# distributed when it is attached; its local copy is then dropped, as the distribution leaves it behind.
MOVED_ROWS = (
    "                parent || '_default', lower_bound, upper_bound, partition_name);\n",
    "                parent || '_default', lower_bound, upper_bound, partition_name);\n"
    "            GET DIAGNOSTICS moved_rows = ROW_COUNT;\n",
)
ATTACHED = (
    "                           parent, partition_name, lower_bound, upper_bound);\n",
    "                           parent, partition_name, lower_bound, upper_bound);\n"
    "            IF moved_rows > 0 THEN\n"
    "                PERFORM truncate_local_data_after_distributing_table(partition_name::regclass);\n"
    "            END IF;\n",
)


def ensure_day_partitions_on_citus() -> str:
    function = _previous_ensure_day_partitions()
    for old, new in (
        MOVED_ROWS,
        ATTACHED,
        ("    created integer := 0;\n", "    created integer := 0;\n    moved_rows bigint;\n"),
    ):
        if old not in function:
            raise RuntimeError(f"0031: ensure_day_partitions has no line {old.strip()!r}")
        function = function.replace(old, new)
    return function


def has_citus() -> bool:
    return bool(op.get_bind().exec_driver_sql("SELECT count(*) FROM pg_extension WHERE extname = 'citus'").scalar())


def upgrade() -> None:
    if has_citus():
        # functions first: Citus creates them on the workers too, which it cannot do in a transaction
        # after a parallel operation on distributed tables
        op.execute(ensure_day_partitions_on_citus())
        op.execute(UPGRADE)


def downgrade() -> None:
    if has_citus():
        op.execute(_previous_ensure_day_partitions())
        op.execute(DOWNGRADE)
