{{ config(materialized='day_partition', publish=true) }}

-- What the run date does not count: each turned-down watch event and ad impression with the first rule
-- it breaks and its raw row, and each copy of a recorded event that arrived again. Everything else counts.
select
    {{ run_date() }} as settled_on,
    'watch_events'::text as source,
    event_id,
    user_id,
    occurred_at,
    reason,
    raw_row,
    null::bigint as duplicate_id
from {{ ref('int_watch_events_turned_down') }}
where settled_on = {{ run_date() }}

union all

select
    {{ run_date() }} as settled_on,
    'ad_impressions'::text as source,
    event_id,
    user_id,
    occurred_at,
    reason,
    jsonb_build_object(
        'event_id', event_id, 'user_id', user_id, 'video_id', video_id, 'ad_id', ad_id, 'slot', slot,
        'occurred_at', occurred_at, 'received_at', received_at
    ) as raw_row,
    null::bigint as duplicate_id
from {{ ref('int_ad_impressions_daily') }}
where settled_on = {{ run_date() }}
    and reason is not null

union all

select
    {{ run_date() }} as settled_on,
    source,
    event_id,
    (raw_row ->> 'user_id')::bigint as user_id,
    occurred_at,
    'duplicate_event' as reason,
    raw_row,
    duplicate_id
from {{ ref('stg_platform__duplicate_events') }}
where {{ on_run_day('occurred_at') }}
