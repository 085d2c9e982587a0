select
    day as settled_on,
    video_id,
    seller_id,
    views,
    watch_seconds,
    ad_views,
    video_payout,
    ad_payout,
    payout
from {{ source('platform', 'closed_video_payouts') }}
