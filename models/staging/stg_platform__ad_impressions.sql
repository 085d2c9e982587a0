select
    event_id,
    user_id,
    video_id,
    ad_id,
    slot,
    occurred_at,
    received_at
from {{ source('platform', 'ad_impressions') }}
