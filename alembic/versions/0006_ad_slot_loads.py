"""ads.assigned_slots: how many video slots each ad holds, kept by triggers on video_ads.

fill_ad_slots picks the least-assigned ACTIVE ads. Counting video_ads for that reads every slot of the
platform (about 0.26 s per upload at a million slots, and uploads queue on one lock); the counter makes
an upload's fill cost proportional to the number of ads instead.

The counter is maintained by statement-level triggers (one UPDATE per statement, whatever its size,
through transition tables) on INSERT, UPDATE, DELETE (including deletes cascaded from videos) and
TRUNCATE of video_ads. They take the ad-slots advisory lock first, so counter updates never run
concurrently and cannot deadlock on the ads rows they lock.

Revision ID: 0006
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _ads_migration():
    """0003 (alembic's version files are not importable by name): its fill_ad_slots template."""
    spec = importlib.util.spec_from_file_location("settlement_migration_0003", Path(__file__).with_name("0003_ads.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


AD_LOAD_FROM_COUNTER = """
        SELECT id AS ad_id, assigned_slots AS assigned
        FROM ads
        WHERE status = 'ACTIVE'"""

COUNTER_TRIGGERS = """
CREATE FUNCTION count_ad_slots() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
-- A transition table exists only in the triggers that declare it (INSERT: new_slots, DELETE:
-- old_slots, UPDATE: both), hence one branch per event.
BEGIN
    PERFORM pg_advisory_xact_lock({lock});
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE ads SET assigned_slots = 0 WHERE assigned_slots <> 0;
    ELSIF TG_OP = 'INSERT' THEN
        UPDATE ads SET assigned_slots = assigned_slots + added.slots
        FROM (SELECT ad_id, count(*) AS slots FROM new_slots GROUP BY ad_id) AS added
        WHERE ads.id = added.ad_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE ads SET assigned_slots = assigned_slots - removed.slots
        FROM (SELECT ad_id, count(*) AS slots FROM old_slots GROUP BY ad_id) AS removed
        WHERE ads.id = removed.ad_id;
    ELSE
        UPDATE ads SET assigned_slots = assigned_slots + moved.slots
        FROM (
            SELECT ad_id, sum(slots) AS slots
            FROM (SELECT ad_id, 1 AS slots FROM new_slots UNION ALL SELECT ad_id, -1 FROM old_slots) AS changes
            GROUP BY ad_id
            HAVING sum(slots) <> 0
        ) AS moved
        WHERE ads.id = moved.ad_id;
    END IF;
    RETURN NULL;
END
$fn$;
"""


def upgrade() -> None:
    ads_migration = _ads_migration()
    op.execute(
        """
        ALTER TABLE ads ADD COLUMN assigned_slots integer NOT NULL DEFAULT 0,
            ADD CONSTRAINT ck_ads_assigned_slots_not_negative CHECK (assigned_slots >= 0);
        UPDATE ads SET assigned_slots = loads.slots
        FROM (SELECT ad_id, count(*) AS slots FROM video_ads GROUP BY ad_id) AS loads
        WHERE ads.id = loads.ad_id;
        """
    )
    op.execute(COUNTER_TRIGGERS.format(lock=ads_migration.AD_SLOTS_LOCK))
    op.execute(
        """
        CREATE TRIGGER video_ads_count_inserted AFTER INSERT ON video_ads
            REFERENCING NEW TABLE AS new_slots FOR EACH STATEMENT EXECUTE FUNCTION count_ad_slots();
        CREATE TRIGGER video_ads_count_deleted AFTER DELETE ON video_ads
            REFERENCING OLD TABLE AS old_slots FOR EACH STATEMENT EXECUTE FUNCTION count_ad_slots();
        CREATE TRIGGER video_ads_count_updated AFTER UPDATE ON video_ads
            REFERENCING OLD TABLE AS old_slots NEW TABLE AS new_slots FOR EACH STATEMENT EXECUTE FUNCTION count_ad_slots();
        CREATE TRIGGER video_ads_count_truncated AFTER TRUNCATE ON video_ads
            FOR EACH STATEMENT EXECUTE FUNCTION count_ad_slots();
        """
    )
    op.execute(ads_migration.fill_ad_slots_sql(AD_LOAD_FROM_COUNTER, or_replace=True))
    # An upload's fill is a few milliseconds of work. Without these, the planner's guess for
    # generate_series (1,000 rows per ad) has it spend ~20 ms compiling the statement with JIT, and
    # once a session has filled a large batch (the refresh) it may keep a generic plan that scans
    # all videos (~130 ms per upload at 200,000 videos).
    op.execute("ALTER FUNCTION fill_ad_slots(bigint[]) SET jit = off SET plan_cache_mode = force_custom_plan")


def downgrade() -> None:
    ads_migration = _ads_migration()
    op.execute(ads_migration.fill_ad_slots_sql(ads_migration.AD_LOAD_BY_COUNTING, or_replace=True))
    op.execute(
        """
        DROP TRIGGER video_ads_count_truncated ON video_ads;
        DROP TRIGGER video_ads_count_updated ON video_ads;
        DROP TRIGGER video_ads_count_deleted ON video_ads;
        DROP TRIGGER video_ads_count_inserted ON video_ads;
        DROP FUNCTION count_ad_slots();
        ALTER TABLE ads DROP COLUMN assigned_slots;
        """
    )
