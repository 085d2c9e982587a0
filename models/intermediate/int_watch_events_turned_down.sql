{{ config(materialized='day_partition', distributed_by='user_id') }}

-- Each watch event of the run date the quality gate turned down, one row per event with its reason and
-- its raw row, keyed (user_id, event_id): written once, read by the ad impressions (an event turned
-- down justifies no ad view) and by the quarantine. Every other event of the day counted.
select
    pairs.settled_on,
    pairs.user_id,
    (turned_down.value -> 'event' ->> 'event_id')::uuid as event_id,
    pairs.video_id,
    (turned_down.value -> 'event' ->> 'occurred_at')::timestamptz as occurred_at,
    turned_down.value ->> 'reason' as reason,
    turned_down.value -> 'event' as raw_row
from {{ pair_days() }} as pairs
cross join lateral jsonb_array_elements(pairs.turned_down) as turned_down
where pairs.settled_on = {{ run_date() }}
    and pairs.turned_down_events > 0
