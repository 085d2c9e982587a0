{{ config(materialized='day_partition') }}

-- The video part of the run date's payout: the day's views occupy lifetime positions
-- views_before .. views_through - 1, each priced by the tier its position falls in.
with priced as (
    select
        settled_on,
        video_id,
        views_before,
        views_on_day,
        {{ graduated_price('views_before', 'views_on_day', 'video') }} as video_amount
    from {{ ref('int_video_lifetime_daily') }}
    where settled_on = {{ run_date() }}
        and views_on_day > 0
)

select
    settled_on,
    video_id,
    views_before,
    views_on_day,
    video_amount,
    trunc(video_amount) as video_payout
from priced
