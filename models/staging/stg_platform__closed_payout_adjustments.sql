select
    booked_on,
    belongs_to,
    video_id,
    seller_id,
    payout_delta,
    reason
from {{ source('platform', 'closed_payout_adjustments') }}
