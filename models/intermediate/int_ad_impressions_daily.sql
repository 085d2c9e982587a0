{#- the ordered pass's planner settings: the day's crossings are read by parallel workers and hashed in memory -#}
{{ config(materialized='day_partition', distributed_by='user_id', session_settings=pair_pass_settings()) }}

-- Every ad impression of the run date with the first rule it breaks (null when it counts as an ad view):
-- the video unknown or not live then, a time after its arrival, an unknown ad, an ad not ACTIVE that day,
-- a slot the video does not have, a slot no counted watch event of the same viewer and video crossed by
-- playing at the impression's time (within the slack), or a slot already counted for the viewer that day.
with impressions as (
    select
        impressions.*,
        case
            {{ event_reason_branches('impressions', 'videos') }}
            when ads.ad_id is null then 'unknown_ad'
            when ad_status_on(ads.contract_start, ads.contract_end, {{ run_date() }}) <> 'ACTIVE' then 'ad_not_active'
            when impressions.slot is null or impressions.slot < 1 or impressions.slot > videos.ad_slots then 'unknown_slot'
        end as own_reason
    from {{ ref('stg_platform__ad_impressions') }} as impressions
    left join {{ ref('stg_platform__videos') }} as videos on videos.video_id = impressions.video_id
    left join {{ ref('stg_platform__ads') }} as ads on ads.ad_id = impressions.ad_id
    where {{ on_run_day('impressions.occurred_at') }}
),

-- The events of the day the quality gate turned down (rare): every other event of the day counted.
turned_down as (
    select (rejected.value -> 'event' ->> 'event_id')::uuid as event_id, pairs.user_id
    from {{ ref('int_pair_daily') }} as pairs
    cross join lateral jsonb_array_elements(pairs.rejected) as rejected
    where pairs.settled_on = {{ run_date() }}
      and pairs.rejected is not null
),

-- The watch events of the day that crossed ad slots by playing. (Read without the CTEs above, so the
-- day's scan can run in parallel workers.)
crossings as (
    select
        events.event_id,
        events.user_id,
        events.video_id,
        events.occurred_at as crossed_at,
        {{ slots_crossed('events.position_seconds', 'events.watched_seconds') }} as slots
    from {{ ref('stg_platform__watch_events') }} as events
    where {{ on_run_day('events.occurred_at') }}
      and {{ crosses_a_slot('events.position_seconds', 'events.watched_seconds') }}
),

played as (
    select distinct impressions.event_id, impressions.user_id
    from impressions
    join crossings
        on crossings.user_id = impressions.user_id
       and crossings.video_id = impressions.video_id
       and impressions.slot <@ crossings.slots
       and impressions.occurred_at between crossings.crossed_at - make_interval(secs => {{ quality_slack_seconds() }})
                                       and crossings.crossed_at + make_interval(secs => {{ quality_slack_seconds() }})
    where impressions.own_reason is null
      -- a crossing counts only when its event counted
      and not exists (
          select 1 from turned_down
          where turned_down.event_id = crossings.event_id and turned_down.user_id = crossings.user_id
      )
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
