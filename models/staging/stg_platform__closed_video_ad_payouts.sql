select
    day as settled_on,
    video_id,
    ad_id,
    seller_id,
    ad_views,
    ad_payout
from {{ source('platform', 'closed_video_ad_payouts') }}
