select
    id as payment_id,
    statement_id,
    run_id,
    seller_id,
    amount,
    payout_account_id,
    paid_at
from {{ source('platform', 'payments') }}
