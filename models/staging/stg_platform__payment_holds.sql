select
    id as hold_event_id,
    seller_id,
    action,
    reason,
    at,
    by
from {{ source('platform', 'payment_holds') }}
