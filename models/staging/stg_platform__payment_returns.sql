select
    id as return_id,
    payment_id,
    seller_id,
    amount,
    reason,
    returned_at,
    returned_by
from {{ source('platform', 'payment_returns') }}
