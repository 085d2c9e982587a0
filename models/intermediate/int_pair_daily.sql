{#- The day's events are sorted in memory, by parallel workers where the planner can. -#}
{{ config(
    materialized='day_partition',
    session_settings={
        'work_mem': '2GB', 'hash_mem_multiplier': 4,
        'parallel_setup_cost': 0, 'parallel_tuple_cost': 0.01}
) }}

-- One row per (user, video) pair with events on the run date: its views under the view window, what
-- it watched, and the events the quality gate turned down (kept whole for int_quarantined_events).
-- Later days read last_event_at to apply the window across midnight.
select
    {{ run_date() }} as settled_on,
    user_id,
    video_id,
    min(occurred_at) as first_event_at,
    max(occurred_at) as last_event_at,
    count(*) filter (where is_view and reason is null)::bigint as views,
    coalesce(sum(watched_seconds) filter (where reason is null), 0)::bigint as watched_seconds,
    count(*) filter (where reason is null)::bigint as events,
    count(*) filter (where reason is not null)::bigint as rejected_events,
    jsonb_agg(
        jsonb_build_object(
            'reason', reason,
            'event', jsonb_build_object(
                'event_id', event_id, 'kind', kind, 'user_id', user_id, 'video_id', video_id,
                'occurred_at', occurred_at, 'position_seconds', position_seconds,
                'watched_seconds', watched_seconds, 'received_at', received_at))
    ) filter (where reason is not null) as rejected
from {{ judged_watch_events() }} as events
group by user_id, video_id
