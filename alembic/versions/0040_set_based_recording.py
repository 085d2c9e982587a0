"""Recording set-based: a viewer's batch of playback events in one call, not one round trip per event.

The per-row functions of 0009 (record_watch_event, record_ad_impression) stay as they are; these are
their set-based twins, with the same semantics as calling the per-row function once per row, in order:

- register_watch_event_ids(event ids, user ids) -> boolean[]: registers a batch's keys in
  watch_event_ids, and tells for each row whether it is new: its (user_id, event_id) was registered
  neither before nor by an earlier row of the batch.
- store_watch_events(rows..., recorded, received_at): the new rows into watch_events, the others as
  copies into duplicate_events (quarantined as duplicate_event by the engine), with their raw rows.
- record_watch_events(rows..., received_at) -> boolean[]: both, record_watch_event's twin.
- record_ad_impressions(rows..., received_at) -> boolean[]: record_ad_impression's twin.
- record_playback(viewer, events..., view window, slot length): what the API does with a viewer's
  events (POST /playback/events, and each single event endpoint as a batch of one), in one call:
  1. refuses what it can tell at once, in the order of the single endpoints' checks: an unknown video,
     one not ACTIVE, a position past its end or more watched than its length, one not live at the
     event's time (the times themselves, and the shape of the events, the API checks before);
  2. locks the saved position of each (viewer, video) pair of the accepted events, in video order
     (a viewer's concurrent batches take them in one order: no deadlock), creating the missing ones
     at position 0, as a pair's first event did;
  3. registers the keys (register_watch_event_ids), in the batch's order;
  4. replays each pair's events in order against its saved position: a new START counts as a view
     when nothing was saved or the pair's last event is at least the view window before it (and it is
     not a seller's own video: self_view earns nothing), and is stored at the position it resumes
     from; a new PROGRESS/PAUSE/STOP moves the position unless it is older than the pair's last event;
  5. stores the rows (store_watch_events) and saves each pair's final position;
  6. answers one row per event, in order, with the ad slots (and their ads) that each new PROGRESS's
     playing moved the playhead across (position - watched < slot * slot length <= position). The
     impressions' ids derive from the event's (uuid5, computed by the API), which records them with
     record_ad_impressions in the same transaction.
  Each step is one statement over the whole batch.

Revision ID: 0040
"""

from alembic import op

revision = "0040"
down_revision = "0052"
branch_labels = None
depends_on = None

WATCH_EVENT_COLUMNS = (
    "p_event_ids uuid[], p_kinds text[], p_user_ids bigint[], p_video_ids bigint[], p_occurred_at timestamptz[], "
    "p_positions integer[], p_watched integer[]"
)
# Every recording function's SQL runs with generic plans: re-planning its statements for each call cost a
# batch of one more than executing them (measured: 1.28 -> 0.68 ms of server CPU for a single event).
GENERIC_PLANS = "SET plan_cache_mode = force_generic_plan"


def registering(keys: str, registry: str) -> str:
    """CTEs registering the keys of `keys` (a FROM item with columns event_id, user_id, ord) in `registry`,
    in order: `verdicts` (ord, new) tells whether each row is new, as the per-row function would have
    for each row in turn (its key registered neither before nor by an earlier row)."""
    return f"""
    keys AS (
        SELECT k.event_id, k.user_id, k.ord, k.ord = min(k.ord) OVER (PARTITION BY k.user_id, k.event_id) AS first
        FROM {keys}
    ),
    registered AS (
        INSERT INTO {registry} (event_id, user_id)
        SELECT event_id, user_id FROM keys WHERE first
        ORDER BY event_id, user_id  -- one order for every writer: concurrent batches do not deadlock
        ON CONFLICT DO NOTHING
        RETURNING event_id, user_id
    ),
    verdicts AS (
        SELECT k.ord, k.first AND r.event_id IS NOT NULL AS new
        FROM keys k LEFT JOIN registered r ON r.event_id = k.event_id AND r.user_id = k.user_id
    )"""


def storing_watch_events(rows: str, received_at: str) -> str:
    """CTEs storing `rows` (event_id, kind, user_id, video_id, occurred_at, position_seconds,
    watched_seconds, recorded, ord): the recorded ones in watch_events, the others as copies in
    duplicate_events with their raw row, as record_watch_event does."""
    return f"""
    stored AS (
        INSERT INTO watch_events (event_id, kind, user_id, video_id, occurred_at, position_seconds, watched_seconds, received_at)
        SELECT event_id, kind, user_id, video_id, occurred_at, position_seconds, watched_seconds, {received_at}
        FROM {rows} WHERE recorded ORDER BY ord
    ),
    copies AS (
        INSERT INTO duplicate_events (source, event_id, occurred_at, received_at, raw_row)
        SELECT 'watch_events', event_id, occurred_at, {received_at}, jsonb_build_object(
            'event_id', event_id, 'kind', kind, 'user_id', user_id, 'video_id', video_id,
            'occurred_at', occurred_at, 'position_seconds', position_seconds,
            'watched_seconds', watched_seconds, 'received_at', {received_at})
        FROM {rows} WHERE NOT recorded ORDER BY ord
    )"""


FUNCTIONS = f"""
CREATE FUNCTION register_watch_event_ids(p_event_ids uuid[], p_user_ids bigint[]) RETURNS boolean[]
LANGUAGE plpgsql {GENERIC_PLANS} AS $fn$
-- Registers the keys of a batch of watch events; element i: whether row i is new (its key was registered
-- neither before nor by an earlier row), as record_watch_event would have said for each row in turn.
DECLARE
    new_rows boolean[];
BEGIN
    WITH {registering("unnest(p_event_ids, p_user_ids) WITH ORDINALITY AS k(event_id, user_id, ord)", "watch_event_ids")}
    SELECT array_agg(new ORDER BY ord) INTO new_rows FROM verdicts;
    RETURN coalesce(new_rows, '{{}}');
END
$fn$;

CREATE FUNCTION store_watch_events(
    {WATCH_EVENT_COLUMNS}, p_recorded boolean[], p_received_at timestamptz DEFAULT settlement_now()
) RETURNS void
LANGUAGE plpgsql {GENERIC_PLANS} AS $fn$
-- Stores rows whose keys register_watch_event_ids registered: the new ones (p_recorded) in watch_events,
-- the others as copies in duplicate_events, as record_watch_event does.
DECLARE
    nothing integer;
BEGIN
    WITH batch AS (
        SELECT *
        FROM unnest(p_event_ids, p_kinds, p_user_ids, p_video_ids, p_occurred_at, p_positions, p_watched, p_recorded)
            WITH ORDINALITY AS b(event_id, kind, user_id, video_id, occurred_at, position_seconds, watched_seconds, recorded, ord)
    ),
    {storing_watch_events("batch", "p_received_at")}
    SELECT 0 INTO nothing;
END
$fn$;

CREATE FUNCTION record_watch_events(
    {WATCH_EVENT_COLUMNS}, p_received_at timestamptz DEFAULT settlement_now()
) RETURNS boolean[]
LANGUAGE plpgsql {GENERIC_PLANS} AS $fn$
-- record_watch_event for each row, in order, in two statements: element i tells whether row i was new.
DECLARE
    new_rows boolean[] := register_watch_event_ids(p_event_ids, p_user_ids);
BEGIN
    PERFORM store_watch_events(p_event_ids, p_kinds, p_user_ids, p_video_ids, p_occurred_at, p_positions, p_watched,
                               new_rows, p_received_at);
    RETURN new_rows;
END
$fn$;

CREATE FUNCTION record_ad_impressions(
    p_event_ids uuid[], p_user_ids bigint[], p_video_ids bigint[], p_ad_ids bigint[], p_slots integer[],
    p_occurred_at timestamptz[], p_received_at timestamptz DEFAULT settlement_now()
) RETURNS boolean[]
LANGUAGE plpgsql {GENERIC_PLANS} AS $fn$
-- record_ad_impression for each row, in order: element i tells whether row i was new.
DECLARE
    new_rows boolean[];
BEGIN
    WITH {registering("unnest(p_event_ids, p_user_ids) WITH ORDINALITY AS k(event_id, user_id, ord)", "ad_impression_ids")}
    SELECT array_agg(new ORDER BY ord) INTO new_rows FROM verdicts;

    WITH batch AS (
        SELECT *
        FROM unnest(p_event_ids, p_user_ids, p_video_ids, p_ad_ids, p_slots, p_occurred_at, new_rows)
            WITH ORDINALITY AS b(event_id, user_id, video_id, ad_id, slot, occurred_at, recorded, ord)
    ),
    stored AS (
        INSERT INTO ad_impressions (event_id, user_id, video_id, ad_id, slot, occurred_at, received_at)
        SELECT event_id, user_id, video_id, ad_id, slot, occurred_at, p_received_at
        FROM batch WHERE recorded ORDER BY ord
    )
    INSERT INTO duplicate_events (source, event_id, occurred_at, received_at, raw_row)
    SELECT 'ad_impressions', event_id, occurred_at, p_received_at, jsonb_build_object(
        'event_id', event_id, 'user_id', user_id, 'video_id', video_id, 'ad_id', ad_id,
        'slot', slot, 'occurred_at', occurred_at, 'received_at', p_received_at)
    FROM batch WHERE NOT recorded ORDER BY ord;
    RETURN coalesce(new_rows, '{{}}');
END
$fn$;

CREATE FUNCTION record_playback(
    p_user_id bigint, p_event_ids uuid[], p_kinds text[], p_video_ids bigint[], p_occurred_at timestamptz[],
    p_positions integer[], p_watched integer[], p_view_window interval, p_slot_seconds integer
) RETURNS TABLE (
    refusal text, video_status text, video_seconds integer, recorded boolean, counts_as_view boolean,
    saved_position integer, ad_slots integer[], ad_ids bigint[]
)
LANGUAGE plpgsql {GENERIC_PLANS} AS $fn$
-- A viewer's playback events, in order (START: no position, no watched seconds); one row per event, in
-- order: why it was refused (unknown_video, not_playable, past_the_end, more_than_the_video, not_live;
-- NULL: accepted) with the video's status and length, whether it was recorded (false: a copy of a
-- recorded event), whether a START counts as a view, the saved position it answers (a START: where it
-- resumes), and the ad slots a new PROGRESS played across. Three statements; see the migration's docstring.
#variable_conflict use_column
DECLARE
    refusals text[];
    statuses text[];
    lengths integer[];
    created_pairs bigint[];   -- the videos whose saved position this batch created
    -- the accepted events (not refused), in order: their ordinals in the batch, and their columns (e_)
    accepted bigint[];
    e_ids uuid[];
    e_kinds text[];
    e_videos bigint[];
    e_times timestamptz[];
    e_positions integer[];
    e_watched integer[];
    e_own boolean[];
    new_events boolean[];
    stored_positions integer[];
    views boolean[];
    answers integer[];
    moves boolean[];
BEGIN
    -- 1. What the single endpoints refuse at once, in their order; and the saved position of each pair
    -- with an accepted event, locked in video order (WHERE false: an existing row is locked, not
    -- rewritten; a missing one is created at 0 as of the pair's first event).
    WITH checked AS (
        SELECT b.*, v.status, v.duration_seconds, coalesce(v.seller_id = p_user_id, false) AS own, c.reason
        FROM unnest(p_kinds, p_video_ids, p_occurred_at, p_positions, p_watched) WITH ORDINALITY
            AS b(kind, video_id, occurred_at, position_seconds, watched_seconds, ord)
        LEFT JOIN videos v ON v.id = b.video_id
        CROSS JOIN LATERAL (
            SELECT CASE
                WHEN v.id IS NULL THEN 'unknown_video'
                WHEN v.status <> 'ACTIVE' THEN 'not_playable'
                WHEN b.kind <> 'START' AND b.position_seconds > v.duration_seconds THEN 'past_the_end'
                WHEN b.kind <> 'START' AND b.watched_seconds > v.duration_seconds THEN 'more_than_the_video'
                WHEN NOT EXISTS (
                    SELECT 1 FROM video_live_periods l
                    WHERE l.video_id = v.id AND l.live_from <= b.occurred_at AND (l.live_until IS NULL OR b.occurred_at < l.live_until)
                ) THEN 'not_live'
            END AS reason
        ) c
    ),
    made AS (
        INSERT INTO playback_positions AS saved (user_id, video_id, position_seconds, updated_at)
        SELECT p_user_id, video_id, 0, (array_agg(occurred_at ORDER BY ord))[1]
        FROM checked WHERE reason IS NULL
        GROUP BY video_id
        ORDER BY video_id
        ON CONFLICT (user_id, video_id) DO UPDATE SET updated_at = saved.updated_at WHERE false
        RETURNING saved.video_id
    )
    SELECT array_agg(reason ORDER BY ord), array_agg(status ORDER BY ord), array_agg(duration_seconds ORDER BY ord),
           array_agg(own ORDER BY ord), array_agg(ord ORDER BY ord) FILTER (WHERE reason IS NULL),
           (SELECT coalesce(array_agg(video_id), '{{}}') FROM made)
      INTO refusals, statuses, lengths, e_own, accepted, created_pairs
    FROM checked;

    IF cardinality(accepted) = cardinality(p_event_ids) THEN  -- nothing refused, the usual batch
        e_ids := p_event_ids; e_kinds := p_kinds; e_videos := p_video_ids; e_times := p_occurred_at;
        e_positions := p_positions; e_watched := p_watched;
    ELSIF accepted IS NOT NULL THEN
        SELECT array_agg(p_event_ids[o] ORDER BY k), array_agg(p_kinds[o] ORDER BY k), array_agg(p_video_ids[o] ORDER BY k),
               array_agg(p_occurred_at[o] ORDER BY k), array_agg(p_positions[o] ORDER BY k),
               array_agg(p_watched[o] ORDER BY k), array_agg(e_own[o] ORDER BY k)
          INTO e_ids, e_kinds, e_videos, e_times, e_positions, e_watched, e_own
        FROM unnest(accepted) WITH ORDINALITY AS a(o, k);
    END IF;

    IF accepted IS NOT NULL THEN
        -- 2. The keys, in the batch's order (register_watch_event_ids' statement); then each pair's
        -- events in order against its saved position (read after the lock: the latest).
        WITH {registering("unnest(e_ids, array_fill(p_user_id, ARRAY[cardinality(e_ids)])) WITH ORDINALITY AS k(event_id, user_id, ord)", "watch_event_ids")},
        batch AS (
            SELECT a.*, verdicts.new
            FROM unnest(e_kinds, e_videos, e_times, e_positions, e_own) WITH ORDINALITY
                AS a(kind, video_id, occurred_at, position_seconds, own, k)
            JOIN verdicts ON verdicts.ord = a.k
        ),
        saved AS (
            SELECT b.*, coalesce(s.position_seconds, 0) AS first_position, coalesce(s.updated_at, b.occurred_at) AS first_saved_at,
                   -- the pair's first event, on a pair that had no saved position: nothing was saved before it
                   b.video_id = ANY (created_pairs) AND b.k = min(b.k) OVER (PARTITION BY b.video_id) AS nothing_saved
            FROM batch b
            LEFT JOIN playback_positions s ON s.user_id = p_user_id AND s.video_id = b.video_id
        ),
        timed AS (
            -- the pair's last event time saved before this event: every new event before it refreshed it
            SELECT s.*, greatest(s.first_saved_at, max(s.occurred_at) FILTER (WHERE s.new) OVER earlier) AS saved_at
            FROM saved s
            WINDOW earlier AS (PARTITION BY s.video_id ORDER BY s.k ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
        ),
        moving AS (
            SELECT t.*, t.new AND t.kind <> 'START' AND t.occurred_at >= t.saved_at AS moves FROM timed t
        ),
        placed AS (
            SELECT m.*, max(m.k) FILTER (WHERE m.moves) OVER earlier AS last_move
            FROM moving m
            WINDOW earlier AS (PARTITION BY m.video_id ORDER BY m.k ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
        ),
        answered AS (
            SELECT p.*, coalesce(l.position_seconds, p.first_position) AS position_before
            FROM placed p LEFT JOIN placed l ON l.k = p.last_move
        )
        SELECT array_agg(new ORDER BY k),
               array_agg(CASE WHEN kind = 'START' THEN position_before ELSE position_seconds END ORDER BY k),
               array_agg(kind = 'START' AND new AND NOT own AND (nothing_saved OR saved_at <= occurred_at - p_view_window) ORDER BY k),
               array_agg(CASE WHEN kind = 'START' THEN position_before
                              WHEN moves OR nothing_saved THEN position_seconds
                              ELSE position_before END ORDER BY k),
               array_agg(moves ORDER BY k)
          INTO new_events, stored_positions, views, answers, moves
        FROM answered;
    END IF;

    -- 3. The rows (store_watch_events' statement) and each pair's saved position (its last moving event's,
    -- as of its latest new event); one answer per event, in order, with the ad slots where a new
    -- PROGRESS crossed a slot's start.
    RETURN QUERY
    WITH rows AS (
        SELECT a.event_id, a.kind, p_user_id AS user_id, a.video_id, a.occurred_at, a.position_seconds,
               coalesce(a.watched_seconds, 0) AS watched_seconds, a.recorded, a.ord
        FROM unnest(e_ids, e_kinds, e_videos, e_times, stored_positions, e_watched, new_events) WITH ORDINALITY
            AS a(event_id, kind, video_id, occurred_at, position_seconds, watched_seconds, recorded, ord)
    ),
    {storing_watch_events("rows", "settlement_now()")},
    moved AS (
        UPDATE playback_positions AS s
        SET position_seconds = coalesce(f.position_seconds, s.position_seconds),
            updated_at = greatest(s.updated_at, f.latest)
        FROM (
            SELECT a.video_id,
                   (array_agg(a.position_seconds ORDER BY a.k DESC) FILTER (WHERE a.moves))[1] AS position_seconds,
                   max(a.occurred_at) FILTER (WHERE a.new) AS latest
            FROM unnest(e_videos, e_positions, e_times, moves, new_events) WITH ORDINALITY
                AS a(video_id, position_seconds, occurred_at, moves, new, k)
            GROUP BY a.video_id
        ) AS f
        WHERE s.user_id = p_user_id AND s.video_id = f.video_id
          AND (f.position_seconds IS NOT NULL OR f.latest > s.updated_at)
    )
    SELECT refusals[b.o], statuses[b.o], lengths[b.o], new_events[a.k], views[a.k], answers[a.k], x.slots, x.ads
    FROM generate_subscripts(p_event_ids, 1) AS b(o)
    LEFT JOIN unnest(accepted) WITH ORDINALITY AS a(o, k) ON a.o = b.o
    LEFT JOIN LATERAL (
        SELECT array_agg(va.slot ORDER BY va.slot) AS slots, array_agg(va.ad_id ORDER BY va.slot) AS ads
        FROM video_ads va
        WHERE new_events[a.k] AND e_kinds[a.k] = 'PROGRESS'
          AND e_positions[a.k] / p_slot_seconds > (e_positions[a.k] - e_watched[a.k]) / p_slot_seconds
          AND va.video_id = e_videos[a.k]
          AND va.slot * p_slot_seconds > e_positions[a.k] - e_watched[a.k] AND va.slot * p_slot_seconds <= e_positions[a.k]
    ) AS x ON true
    ORDER BY b.o;
END
$fn$;
"""

SIGNATURES = [
    "record_playback(bigint, uuid[], text[], bigint[], timestamptz[], integer[], integer[], interval, integer)",
    "record_ad_impressions(uuid[], bigint[], bigint[], bigint[], integer[], timestamptz[], timestamptz)",
    "record_watch_events(uuid[], text[], bigint[], bigint[], timestamptz[], integer[], integer[], timestamptz)",
    "store_watch_events(uuid[], text[], bigint[], bigint[], timestamptz[], integer[], integer[], boolean[], timestamptz)",
    "register_watch_event_ids(uuid[], bigint[])",
]


def upgrade() -> None:
    op.execute(FUNCTIONS)


def downgrade() -> None:
    for signature in SIGNATURES:
        op.execute(f"DROP FUNCTION {signature}")
