-- Videos, with their ad slots and the periods they were live (an event counts only inside one).
with live_periods as (
    select video_id, range_agg(tstzrange(live_from, live_until)) as live_periods
    from {{ source('platform', 'video_live_periods') }}
    group by video_id
)

select
    videos.id as video_id,
    videos.seller_id,
    videos.title,
    videos.duration_seconds,
    ad_slot_count(videos.duration_seconds) as ad_slots,
    videos.status,
    videos.created_at,
    coalesce(live_periods.live_periods, '{}'::tstzmultirange) as live_periods
from {{ source('platform', 'videos') }} as videos
left join live_periods on live_periods.video_id = videos.id
