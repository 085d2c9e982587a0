-- Videos, with their ad slots and the periods they were live (an event counts only inside one). Most
-- videos have one period: live_from .. live_until says all of it, and events are checked against the
-- multirange only for the others.
with live_periods as (
    select
        video_id,
        range_agg(tstzrange(live_from, live_until)) as live_periods,
        min(live_from) as live_from,
        case when bool_and(live_until is not null) then max(live_until) end as live_until,
        count(*) as live_period_count
    from {{ source('platform', 'video_live_periods') }}
    group by video_id
)

select
    videos.id as video_id,
    videos.seller_id,
    videos.title,
    videos.duration_seconds,
    videos.status,
    videos.created_at,
    coalesce(live_periods.live_periods, '{}'::tstzmultirange) as live_periods,
    live_periods.live_from,
    live_periods.live_until,
    coalesce(live_periods.live_period_count, 0) as live_period_count
from {{ source('platform', 'videos') }} as videos
left join live_periods on live_periods.video_id = videos.id
