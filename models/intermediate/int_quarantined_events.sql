{{ config(materialized='day_partition') }}

-- The quality gate's rejects of the run date: each event with the first rule it breaks and its raw
-- row, and each copy of an event that arrived again. Everything else counts.
with ad_impressions as (
    select
        impressions.*,
        case
            when videos.video_id is null then 'unknown_video'
            when videos.status <> 'ACTIVE' then 'inactive_video'
            when ads.ad_id is null then 'unknown_ad'
            when impressions.occurred_at > impressions.received_at + {{ clock_skew() }} then 'future_timestamp'
        end as reason
    from {{ ref('stg_platform__ad_impressions') }} as impressions
    left join {{ ref('stg_platform__videos') }} as videos on videos.video_id = impressions.video_id
    left join {{ ref('stg_platform__ads') }} as ads on ads.ad_id = impressions.ad_id
    where {{ on_run_day('impressions.occurred_at') }}
)

select
    {{ run_date() }} as settled_on,
    'watch_events'::text as source,
    (rejected.value -> 'event' ->> 'event_id')::uuid as event_id,
    (rejected.value -> 'event' ->> 'occurred_at')::timestamptz as occurred_at,
    rejected.value ->> 'reason' as reason,
    rejected.value -> 'event' as raw_row,
    null::bigint as duplicate_id
from {{ ref('int_pair_daily') }} as pairs
cross join lateral jsonb_array_elements(pairs.rejected) as rejected
where pairs.settled_on = {{ run_date() }}
  and pairs.rejected_events > 0

union all

select
    {{ run_date() }} as settled_on,
    'ad_impressions'::text as source,
    event_id,
    occurred_at,
    reason,
    to_jsonb(ad_impressions) - 'reason' as raw_row,
    null::bigint as duplicate_id
from ad_impressions
where reason is not null

union all

select
    {{ run_date() }} as settled_on,
    source,
    event_id,
    occurred_at,
    'duplicate_event' as reason,
    raw_row,
    duplicate_id
from {{ ref('stg_platform__duplicate_events') }}
where {{ on_run_day('occurred_at') }}
