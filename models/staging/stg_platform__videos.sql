select
    id as video_id,
    seller_id,
    title,
    duration_seconds,
    duration_seconds >= {{ var('ad_min_video_seconds') }} as earns_ad_revenue,
    status,
    created_at
from {{ source('platform', 'videos') }}
