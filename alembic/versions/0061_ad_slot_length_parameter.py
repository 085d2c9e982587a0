"""The ad-slot length is a parameter of the slot functions, not 300 written into them.

The slot length is a rule (SPEC: "slot length" among the rules a day is settled under; the setting
`ad_slot_interval_seconds`, the dbt var `ad_slot_seconds`), but 0003 wrote 300 (and the last minute, 60)
into ad_slot_count, and fill_ad_slots and refresh_ad_lifecycle used that: with another slot length,
videos got slots past their end, or too few. Now every caller passes the length it runs with:

- ad_slot_count(duration_seconds, slot_seconds): floor((L/60 - 1)/5) slots when L/60 > 5 with the
  SPEC's 300 s, i.e. the slots k with k * slot_seconds <= L - 60 (none in a video's last minute), for
  L > slot_seconds; else none.
- fill_ad_slots(video_ids, slot_seconds) and refresh_ad_lifecycle(as_of, slot_seconds): as before, with
  the slot count above.

The one-argument forms are dropped, so no caller can go on using a length of its own.

Revision ID: 0061
"""

from alembic import op
from settlement.migrations import earlier_migration

revision = "0061"
down_revision = "0060"
branch_labels = None
depends_on = None


ADS = earlier_migration("0003_ads.py")
AD_LOAD_FROM_COUNTER = earlier_migration("0006_ad_slot_loads.py").AD_LOAD_FROM_COUNTER
LAST_MINUTE_SECONDS = 60  # SPEC: a video's last minute has no slot

AD_SLOT_COUNT = f"""
CREATE FUNCTION ad_slot_count(p_duration_seconds integer, p_slot_seconds integer)
RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE WHEN p_duration_seconds > p_slot_seconds
            THEN (p_duration_seconds - {LAST_MINUTE_SECONDS}) / p_slot_seconds ELSE 0 END;
"""


def fill_ad_slots_with_length() -> str:
    """0006's fill_ad_slots (least-assigned first, from the per-ad counter), its slot count by parameter."""
    text = ADS.fill_ad_slots_sql(AD_LOAD_FROM_COUNTER)
    for old, new in (
        ("fill_ad_slots(p_video_ids bigint[])", "fill_ad_slots(p_video_ids bigint[], p_slot_seconds integer)"),
        ("ad_slot_count(v.duration_seconds)", "ad_slot_count(v.duration_seconds, p_slot_seconds)"),
        (
            "RAISE EXCEPTION 'fill_ad_slots: video ids must not be NULL';",
            "RAISE EXCEPTION 'fill_ad_slots: video ids must not be NULL';\n    END IF;\n"
            "    IF p_slot_seconds IS NULL OR p_slot_seconds < 1 THEN\n"
            "        RAISE EXCEPTION 'fill_ad_slots: the slot length must be a positive number of seconds';",
        ),
    ):
        if text.count(old) != 1:
            raise RuntimeError(f"migration 0061 expected the text once: {old}")
        text = text.replace(old, new)
    return text


REFRESH_AD_LIFECYCLE = f"""
CREATE FUNCTION refresh_ad_lifecycle(p_as_of date, p_slot_seconds integer)
RETURNS TABLE (activated integer, expired integer, scheduled integer,
               slots_freed integer, slots_filled integer, slots_empty integer)
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF p_as_of IS NULL THEN
        RAISE EXCEPTION 'refresh_ad_lifecycle: the day must not be NULL';
    END IF;
    IF p_slot_seconds IS NULL OR p_slot_seconds < 1 THEN
        RAISE EXCEPTION 'refresh_ad_lifecycle: the slot length must be a positive number of seconds';
    END IF;
    PERFORM pg_advisory_xact_lock({ADS.AD_SLOTS_LOCK});

    WITH changed AS (
        UPDATE ads
        SET status = ad_status_on(contract_start, contract_end, p_as_of)
        WHERE status <> ad_status_on(contract_start, contract_end, p_as_of)
        RETURNING status
    )
    SELECT count(*) FILTER (WHERE status = 'ACTIVE'),
           count(*) FILTER (WHERE status = 'EXPIRED'),
           count(*) FILTER (WHERE status = 'SCHEDULED')
    INTO activated, expired, scheduled
    FROM changed;

    WITH freed AS (
        DELETE FROM video_ads va
        USING ads a
        WHERE a.id = va.ad_id AND a.status <> 'ACTIVE'
        RETURNING 1
    )
    SELECT count(*) INTO slots_freed FROM freed;

    slots_filled := fill_ad_slots(ARRAY(
        SELECT v.id FROM videos v
        WHERE v.status = 'ACTIVE'
          AND ad_slot_count(v.duration_seconds, p_slot_seconds) > (SELECT count(*) FROM video_ads va WHERE va.video_id = v.id)
    ), p_slot_seconds);

    SELECT coalesce(sum(ad_slot_count(v.duration_seconds, p_slot_seconds) - (SELECT count(*) FROM video_ads va WHERE va.video_id = v.id)), 0)
    INTO slots_empty
    FROM videos v
    WHERE v.status = 'ACTIVE';

    RETURN NEXT;
END
$fn$;
"""

# How 0006 tuned the upload's fill (its reasons there).
FILL_SETTINGS = "SET jit = off SET plan_cache_mode = force_custom_plan"


# The deployed staging view stg_platform__videos read the one-argument form; it is dropped with it, and the
# next settlement run deploys it again (its file changed: the day's models count a video's slots now).
DROP_VIEWS_ON_OLD_SLOT_COUNT = """
DO $drop$
DECLARE
    dependent regclass;
BEGIN
    FOR dependent IN
        SELECT DISTINCT r.ev_class::regclass
        FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
        WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = 'ad_slot_count(integer)'::regprocedure
    LOOP
        EXECUTE format('DROP VIEW %s', dependent);
    END LOOP;
END
$drop$;
"""


def upgrade() -> None:
    op.execute(DROP_VIEWS_ON_OLD_SLOT_COUNT)
    op.execute(
        "DROP FUNCTION refresh_ad_lifecycle(date); DROP FUNCTION fill_ad_slots(bigint[]); DROP FUNCTION ad_slot_count(integer);"
    )
    op.execute(AD_SLOT_COUNT)
    op.execute(fill_ad_slots_with_length())
    op.execute(f"ALTER FUNCTION fill_ad_slots(bigint[], integer) {FILL_SETTINGS}")
    op.execute(REFRESH_AD_LIFECYCLE)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION refresh_ad_lifecycle(date, integer); DROP FUNCTION fill_ad_slots(bigint[], integer);"
        " DROP FUNCTION ad_slot_count(integer, integer);"
    )
    old_slot_count, rest = ADS.FUNCTIONS.split("CREATE FUNCTION ad_status_on", 1)
    old_refresh = "CREATE FUNCTION refresh_ad_lifecycle" + rest.split("CREATE FUNCTION refresh_ad_lifecycle", 1)[1]
    op.execute(old_slot_count)
    op.execute(ADS.fill_ad_slots_sql(AD_LOAD_FROM_COUNTER))
    op.execute(f"ALTER FUNCTION fill_ad_slots(bigint[]) {FILL_SETTINGS}")
    op.execute(old_refresh)
