{{ config(materialized='day_partition', distributed_by='user_id') }}

-- Every ad impression of the run date with the first rule it breaks (null when it counts as an ad view):
-- the video unknown or not live then, a time after its arrival, the video's own seller, an unknown ad, an
-- ad not ACTIVE that day, a slot the video does not have, a slot no counted watch event of the same viewer
-- and video crossed by playing at the impression's time (within the slack), or a slot already counted for
-- the viewer that day. The crossing event may lie on either side of midnight (SPEC: day boundaries change
-- none of the rules): on the day before (judged when it was settled), on the run date, or in the first
-- seconds of the next day, judged here from the pair's state at the end of the run date.
with impressions as (
    select
        impressions.*,
        case
            {{ event_reason_branches('impressions', 'videos') }}
            {{ self_view_branch('impressions', 'videos') }}
            when ads.ad_id is null then 'unknown_ad'
            when ad_status_on(ads.contract_start, ads.contract_end, {{ run_date() }}) <> 'ACTIVE' then 'ad_not_active'
            when impressions.slot is null or impressions.slot < 1
                or impressions.slot > {{ ad_slots_of('videos.duration_seconds') }} then 'unknown_slot'
        end as own_reason
    from {{ ref('stg_platform__ad_impressions') }} as impressions
    left join {{ ref('stg_platform__videos') }} as videos on videos.video_id = impressions.video_id
    left join {{ ref('stg_platform__ads') }} as ads on ads.ad_id = impressions.ad_id
    where {{ on_run_day('impressions.occurred_at') }}
),

-- The watch events from the slack before the run date to its end that crossed ad slots by playing, and
-- counted: not turned down on their own day (the run date's, or the day before's, settled before it).
-- Materialized: its anti-join runs on the events, whose numbers the planner knows, never under the join
-- with the impressions (estimated at a row or so, it would be run once per impression).
crossings as materialized (
    select
        events.user_id,
        events.video_id,
        events.occurred_at as crossed_at,
        {{ slots_crossed('events.position_seconds', 'events.watched_seconds') }} as slots
    from {{ ref('stg_platform__watch_events') }} as events
    left join {{ ref('int_watch_events_turned_down') }} as turned_down
        on turned_down.settled_on in ({{ run_date() }} - 1, {{ run_date() }})
            and turned_down.user_id = events.user_id and turned_down.event_id = events.event_id
    where events.occurred_at >= {{ day_start(0) }} - {{ quality_slack() }}
        and events.occurred_at < {{ day_start(1) }}
        and {{ crosses_a_slot('events.position_seconds', 'events.watched_seconds') }}
        and turned_down.event_id is null
),

-- The next day's first seconds may hold the event that played an impression of the run date's last
-- seconds: those events are judged here, from each pair's state at the end of the run date (its latest
-- counted event within the window), with the watch credit, one after the other.
near_midnight as (
    select distinct
        user_id,
        video_id
    from impressions
    where own_reason is null
        and occurred_at >= {{ day_start(1) }} - {{ quality_slack() }}
),

after_midnight as (
    select
        events.user_id,
        events.video_id,
        row_number() over (partition by events.user_id, events.video_id order by events.occurred_at, events.event_id)::integer
            as item,
        events.occurred_at,
        events.kind,
        events.watched_seconds,
        events.position_seconds
    from {{ ref('stg_platform__watch_events') }} as events
    inner join near_midnight on near_midnight.user_id = events.user_id and near_midnight.video_id = events.video_id
    left join {{ ref('stg_platform__videos') }} as videos on videos.video_id = events.video_id
    where events.occurred_at >= {{ day_start(1) }}
        and events.occurred_at <= {{ day_start(1) }} + {{ quality_slack() }}
        and {{ watch_event_reason('events', 'videos') }} is null
),

pending as (
    select distinct
        user_id,
        video_id
    from after_midnight
),

state_at_midnight as (
    select distinct on (pairs.user_id, pairs.video_id)
        pairs.user_id,
        pairs.video_id,
        pairs.last_counted_at,
        pairs.credit_left
    from {{ pair_days() }} as pairs
    inner join pending
        on pending.user_id = pairs.user_id and pending.video_id = pairs.video_id
    where pairs.settled_on between {{ run_date() }} - {{ view_window_days() }} and {{ run_date() }}
        and pairs.last_counted_at is not null
        -- (read only when such an event exists)
        and exists (select 1 from after_midnight)
    order by pairs.user_id asc, pairs.video_id asc, pairs.last_counted_at desc
),

pair_items as (
    select
        after_midnight.user_id,
        after_midnight.video_id,
        array_agg(after_midnight.occurred_at order by after_midnight.item) as occurred_at,
        array_agg(after_midnight.kind order by after_midnight.item) as kind,
        array_agg(after_midnight.watched_seconds order by after_midnight.item) as watched_seconds
    from after_midnight
    group by after_midnight.user_id, after_midnight.video_id
),

after_midnight_crossings as (
    select
        after_midnight.user_id,
        after_midnight.video_id,
        after_midnight.occurred_at as crossed_at,
        {{ slots_crossed('after_midnight.position_seconds', 'after_midnight.watched_seconds') }} as slots
    from pair_items
    left join state_at_midnight as state
        on state.user_id = pair_items.user_id and state.video_id = pair_items.video_id
    cross join
        lateral {{ this.schema }}.fold_watch_events(
            state.last_counted_at, state.credit_left, pair_items.occurred_at, pair_items.kind,
            pair_items.watched_seconds, {{ view_window() }}, {{ quality_slack() }}
        ) as verdict
    inner join after_midnight
        on after_midnight.user_id = pair_items.user_id
            and after_midnight.video_id = pair_items.video_id
            and after_midnight.item = verdict.item
    where verdict.counts
        and {{ crosses_a_slot('after_midnight.position_seconds', 'after_midnight.watched_seconds') }}
),

all_crossings as (
    select * from crossings
    union all
    select * from after_midnight_crossings
),

played as (
    select distinct
        impressions.event_id,
        impressions.user_id
    from impressions
    inner join all_crossings as crossings
        on crossings.user_id = impressions.user_id
            and crossings.video_id = impressions.video_id
            and impressions.slot::bigint <@ crossings.slots
            and impressions.occurred_at
            between crossings.crossed_at - {{ quality_slack() }} and crossings.crossed_at + {{ quality_slack() }}
    where impressions.own_reason is null
),

judged as (
    select
        impressions.*,
        coalesce(impressions.own_reason, case when played.event_id is null then 'slot_not_played' end) as played_reason
    from impressions
    left join played on played.event_id = impressions.event_id and played.user_id = impressions.user_id
)

select
    {{ run_date() }} as settled_on,
    event_id,
    user_id,
    video_id,
    ad_id,
    slot,
    occurred_at,
    received_at,
    -- at most one ad view per (viewer, video, slot) and day: the first
    case
        when played_reason is null
            and row_number() over (partition by user_id, video_id, slot, played_reason is null order by occurred_at, event_id) > 1
            then 'repeat_ad_view'
        else played_reason
    end as reason
from judged
