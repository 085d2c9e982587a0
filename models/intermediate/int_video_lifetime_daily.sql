{{ config(materialized='day_partition') }}

-- Every video ever viewed, as of the run date: its views and watch time on the day (summed over the
-- pairs of int_pair_daily, where the view window and the quality gate are applied), and its lifetime
-- views, the previous day's carried forward. Cost tracks the number of videos, not the days of history.
-- Days are settled in order (days_to_settle_before), so the previous day is always there.
{% set previous_day_exists = execute and load_relation(this) is not none %}

with previous as (
    {% if previous_day_exists %}
    select
        video_id,
        views_through
    from {{ this }}
    where settled_on = {{ run_date() }} - 1
    {% else %}
    select
        null::bigint as video_id,
        null::bigint as views_through
    where false
    {% endif %}
),

today as (
    select
        video_id,
        sum(views)::bigint as views,
        sum(watched_seconds)::bigint as watch_seconds
    from {{ pair_days() }} as pairs
    where settled_on = {{ run_date() }}
        and events > 0
    group by video_id
)

select
    {{ run_date() }} as settled_on,
    coalesce(today.video_id, previous.video_id) as video_id,
    today.video_id is not null as has_activity,
    coalesce(today.watch_seconds, 0)::bigint as watch_seconds,
    coalesce(previous.views_through, 0)::bigint as views_before,
    coalesce(today.views, 0)::bigint as views_on_day,
    (coalesce(previous.views_through, 0) + coalesce(today.views, 0))::bigint as views_through
from previous
full join today on today.video_id = previous.video_id
