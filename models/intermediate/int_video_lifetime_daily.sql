{{ config(materialized='day_partition') }}

-- Lifetime views of every video ever viewed, through the run date: the previous day's lifetime
-- carried forward plus the day's views. Cost tracks the number of videos, not the days of history.
-- settlement/pipeline.py settles days in order, so the previous day is always there.
{% set previous_day_exists = execute and not flags.FULL_REFRESH and load_relation(this) is not none %}

with previous as (
    {% if previous_day_exists %}
    select video_id, views_through
    from {{ this }}
    where settled_on = {{ run_date() }} - 1
    {% else %}
    select null::bigint as video_id, null::bigint as views_through
    where false
    {% endif %}
),

today as (
    select video_id, views
    from {{ ref('int_video_activity_daily') }}
    where settled_on = {{ run_date() }}
      and views > 0
)

select
    {{ run_date() }} as settled_on,
    coalesce(today.video_id, previous.video_id) as video_id,
    coalesce(previous.views_through, 0)::bigint as views_before,
    coalesce(today.views, 0)::bigint as views_on_day,
    (coalesce(previous.views_through, 0) + coalesce(today.views, 0))::bigint as views_through
from previous
full join today on today.video_id = previous.video_id
