-- Issued statements as sellers read them: the statement's own figures (never changed since it was
-- issued) and what became of its money since: paid (by which run, when), awaiting the payment run,
-- returned by the bank (and which later statement took it back), or carried over (and why).
select
    statements.statement_id,
    statements.seller_id,
    statements.statement_number,
    statements.statement_ref,
    statements.month,
    statements.issued_at,
    statements.carried_in,
    statements.returned_in,
    statements.payouts,
    statements.adjustments,
    statements.gross,
    statements.income_tax,
    statements.local_income_tax,
    statements.withholding,
    statements.net,
    statements.payable,
    statements.amount_payable,
    statements.carried_out,
    statements.carry_reason,
    statements.seller_kind,
    statements.business_number,
    statements.income_tax_rate,
    statements.local_income_tax_rate,
    statements.income_tax_unit,
    statements.local_income_tax_unit,
    statements.threshold,
    accounts.holder,
    accounts.bank_code,
    accounts.account_number_masked,
    payments.payment_id,
    payments.run_id,
    payments.paid_at,
    returns.returned_at,
    returns.reason as return_reason,
    taken_by.statement_ref as returned_onto,
    case
        when not statements.payable then 'carried_over'
        when payments.payment_id is null then 'awaiting_payment'
        when returns.return_id is not null then 'returned'
        else 'paid'
    end as payment_status
from {{ ref('stg_platform__payment_statements') }} as statements
left join {{ ref('stg_platform__payout_accounts') }} as accounts
    on accounts.payout_account_id = coalesce((
            select paid.payout_account_id from {{ ref('stg_platform__payments') }} as paid
            where paid.statement_id = statements.statement_id
        ), statements.payout_account_id)
left join {{ ref('stg_platform__payments') }} as payments on payments.statement_id = statements.statement_id
left join {{ ref('stg_platform__payment_returns') }} as returns on returns.payment_id = payments.payment_id
left join {{ ref('stg_platform__statement_returns') }} as taken on taken.return_id = returns.return_id
left join {{ ref('stg_platform__payment_statements') }} as taken_by on taken_by.statement_id = taken.statement_id
