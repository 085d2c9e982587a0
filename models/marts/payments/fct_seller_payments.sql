-- A seller's payment history: each transfer, the statement it paid, the account (masked) it went to,
-- and, when the bank returned it, when, why and which later statement took the amount back.
select
    payments.payment_id,
    payments.seller_id,
    statements.statement_ref,
    statements.statement_number,
    statements.month,
    payments.amount,
    payments.paid_at,
    payments.run_id,
    accounts.holder,
    accounts.bank_code,
    accounts.account_number_masked,
    returns.returned_at,
    returns.reason as return_reason,
    taken_by.statement_ref as returned_onto
from {{ ref('stg_platform__payments') }} as payments
inner join {{ ref('stg_platform__payment_statements') }} as statements on statements.statement_id = payments.statement_id
inner join {{ ref('stg_platform__payout_accounts') }} as accounts on accounts.payout_account_id = payments.payout_account_id
left join {{ ref('stg_platform__payment_returns') }} as returns on returns.payment_id = payments.payment_id
left join {{ ref('stg_platform__statement_returns') }} as taken on taken.return_id = returns.return_id
left join {{ ref('stg_platform__payment_statements') }} as taken_by on taken_by.statement_id = taken.statement_id
