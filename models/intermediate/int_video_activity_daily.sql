{{ config(materialized='day_partition') }}

-- Views and watch time per video on the run date (the view window and the quality gate were applied
-- per pair in int_pair_daily).
select
    {{ run_date() }} as settled_on,
    video_id,
    sum(views)::bigint as views,
    sum(watched_seconds)::bigint as watch_seconds
from {{ ref('int_pair_daily') }}
where settled_on = {{ run_date() }}
  and events > 0
group by video_id
