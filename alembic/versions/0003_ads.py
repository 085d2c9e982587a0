"""Ad slots and the ad lifecycle, as SQL functions.

- ad_slot_count(duration_seconds): floor((L/60 - 1)/5) slots when L/60 > 5, else none. In integer math
  that is (L - 60) / 300 for L > 300 (the numerator is then positive, so division truncates = floors).
- ad_status_on(contract_start, contract_end, day): the one place of the lifecycle rule. The contract is
  the half-open range [contract_start, contract_end): SPEC says "an expired ad stops earning from its end
  date on", so on contract_end itself the ad is already EXPIRED (and no longer fills slots).
- fill_ad_slots(video_ids): fills the missing slots 1..ad_slot_count of those videos with ACTIVE ads,
  least-assigned first (count of current video_ads rows per ad), random among ties. Only ACTIVE videos
  get ads: an INACTIVE video is not played, so giving it ads would only skew the load counts. With no
  ACTIVE ad the slots stay empty; the daily refresh fills them later. Returns how many slots it filled.
- refresh_ad_lifecycle(as_of): sets every ad's status for the platform day as_of, frees the slots of ads
  that are no longer ACTIVE and refills the empty slots of every ACTIVE video. Returns the counts.

Concurrency: both functions first take one transaction-scoped advisory lock (key AD_SLOTS_LOCK), so slot
assignments are serialised and each sees the load counts the previous one committed (in READ COMMITTED,
each statement of a plpgsql function takes a fresh snapshot after the lock is granted). The lock is taken
before any row lock the functions need, so concurrent uploads queue instead of deadlocking, and
ON CONFLICT on the (video_id, slot) key makes a repeated fill of one video a no-op, never a double slot.

Revision ID: 0003
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

AD_SLOTS_LOCK = "hashtextextended('settlement:ad_slots', 0)"

# The ACTIVE ads and how many slots each holds now. Counting video_ads is exact but reads every slot;
# 0006 replaces it with a per-ad counter, reusing fill_ad_slots_sql.
AD_LOAD_BY_COUNTING = """
        SELECT a.id AS ad_id, count(va.ad_id) AS assigned
        FROM ads a
        LEFT JOIN video_ads va ON va.ad_id = a.id
        WHERE a.status = 'ACTIVE'
        GROUP BY a.id"""


def fill_ad_slots_sql(ad_load: str, or_replace: bool = False) -> str:
    return FILL_AD_SLOTS_TEMPLATE.format(
        or_replace="OR REPLACE " if or_replace else "", ad_load=ad_load.strip("\n"), AD_SLOTS_LOCK=AD_SLOTS_LOCK
    )


FILL_AD_SLOTS_TEMPLATE = """
CREATE {or_replace}FUNCTION fill_ad_slots(p_video_ids bigint[])
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    filled integer;
BEGIN
    IF p_video_ids IS NULL THEN
        RAISE EXCEPTION 'fill_ad_slots: video ids must not be NULL';
    END IF;
    PERFORM pg_advisory_xact_lock({AD_SLOTS_LOCK});

    -- Greedy "least-assigned first" as one set: the k-th new assignment of an ad with c slots lands at
    -- load level c + k; taking the n lowest levels (random among equal levels) is what n one-by-one
    -- picks would do. water_level is the lowest level that offers n assignments, so only about
    -- n + (number of ads) candidates are generated, however many ads or slots there are.
    WITH missing AS (
        SELECT v.id AS video_id, s.slot,
               -- slot-major order spreads one video's slots apart in the pick sequence, so one ad
               -- rarely takes two slots of a video
               row_number() OVER (ORDER BY s.slot, v.id) AS pick
        FROM videos v
        CROSS JOIN LATERAL generate_series(1, ad_slot_count(v.duration_seconds)) AS s (slot)
        WHERE v.id = ANY (p_video_ids)
          AND v.status = 'ACTIVE'
          AND NOT EXISTS (SELECT 1 FROM video_ads va WHERE va.video_id = v.id AND va.slot = s.slot)
    ),
    demand AS (
        SELECT count(*) AS slots FROM missing
    ),
    ad_load AS (
{ad_load}
    ),
    lifting AS (
        -- lift_cost: new assignments that bring the i least-assigned ads up to the i-th one's load
        SELECT assigned, i, i * assigned - prefix AS lift_cost
        FROM (
            SELECT assigned,
                   row_number() OVER w AS i,
                   sum(assigned) OVER w AS prefix
            FROM ad_load
            WINDOW w AS (ORDER BY assigned, ad_id)
        ) ranked
    ),
    water_level AS (
        SELECT l.assigned + (d.slots - l.lift_cost + l.i - 1) / l.i AS level
        FROM lifting l, demand d
        WHERE d.slots > 0 AND l.lift_cost < d.slots
        ORDER BY l.i DESC
        LIMIT 1
    ),
    chosen AS (
        SELECT al.ad_id, row_number() OVER (ORDER BY al.assigned + k, random()) AS pick
        FROM ad_load al, water_level w, generate_series(1, w.level - al.assigned) AS k
    )
    INSERT INTO video_ads (video_id, ad_id, slot)
    SELECT m.video_id, c.ad_id, m.slot
    FROM missing m
    JOIN chosen c USING (pick)
    ON CONFLICT ON CONSTRAINT pk_video_ads DO NOTHING;

    GET DIAGNOSTICS filled = ROW_COUNT;
    RETURN filled;
END
$fn$;
"""

FUNCTIONS = f"""
CREATE FUNCTION ad_slot_count(p_duration_seconds integer)
RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE WHEN p_duration_seconds > 300 THEN (p_duration_seconds - 60) / 300 ELSE 0 END;

CREATE FUNCTION ad_status_on(p_contract_start date, p_contract_end date, p_day date)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE
    WHEN p_day < p_contract_start THEN 'SCHEDULED'
    WHEN p_day < p_contract_end THEN 'ACTIVE'
    ELSE 'EXPIRED'
END;

{fill_ad_slots_sql(AD_LOAD_BY_COUNTING)}
CREATE FUNCTION refresh_ad_lifecycle(p_as_of date)
RETURNS TABLE (activated integer, expired integer, scheduled integer,
               slots_freed integer, slots_filled integer, slots_empty integer)
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF p_as_of IS NULL THEN
        RAISE EXCEPTION 'refresh_ad_lifecycle: the day must not be NULL';
    END IF;
    PERFORM pg_advisory_xact_lock({AD_SLOTS_LOCK});

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
          AND ad_slot_count(v.duration_seconds) > (SELECT count(*) FROM video_ads va WHERE va.video_id = v.id)
    ));

    SELECT coalesce(sum(ad_slot_count(v.duration_seconds) - (SELECT count(*) FROM video_ads va WHERE va.video_id = v.id)), 0)
    INTO slots_empty
    FROM videos v
    WHERE v.status = 'ACTIVE';

    RETURN NEXT;
END
$fn$;
"""


def upgrade() -> None:
    op.execute(FUNCTIONS)


def downgrade() -> None:
    op.execute(
        """
        DROP FUNCTION refresh_ad_lifecycle(date);
        DROP FUNCTION fill_ad_slots(bigint[]);
        DROP FUNCTION ad_status_on(date, date, date);
        DROP FUNCTION ad_slot_count(integer);
        """
    )
