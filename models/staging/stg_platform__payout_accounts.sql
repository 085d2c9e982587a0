-- Masked: all but the last four digits of the account number are stars. The whole number stays in the
-- source table, which only the seller's own writes and `settlement pay` touch.
select
    id as payout_account_id,
    seller_id,
    holder,
    bank_code,
    repeat('*', greatest(length(account_number) - 4, 0)) || right(account_number, 4) as account_number_masked,
    registered_at,
    registered_by
from {{ source('platform', 'payout_accounts') }}
