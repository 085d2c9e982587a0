-- Each seller's balance now, and the progress to the payment threshold.
-- - balance: what issued statements owe the seller and no payment run will pay yet: the last statement's
--   carried_out, and transfers the bank returned that no statement has taken back yet;
-- - awaiting_payment: payable statements the payment run has not paid yet (on hold, say);
-- - unstated_closed: closed days no statement has taken yet (their payouts and the adjustments booked on
--   them): final amounts, on the next statement;
-- - estimated_open: settled days not closed yet, with the adjustments booked on them (fct_video_payable_daily,
--   as published with the day): estimates, may change with late events;
-- - projected_net: balance + unstated_closed + estimated_open, less the withholding they would bear at the
--   seller's rates; progress = projected_net / threshold (0 .. 1).
-- Over every seller, paid_total + withheld_total + balance + awaiting_payment + unstated_closed is every
-- won of the closed days (tests/payments).
with last_statement as (
    select distinct on (seller_id)
        seller_id,
        statement_ref,
        month,
        carried_out
    from {{ ref('stg_platform__payment_statements') }}
    order by seller_id asc, statement_number desc
),

statement_totals as (
    select
        seller_id,
        sum(withholding) as withheld_total
    from {{ ref('stg_platform__payment_statements') }}
    group by seller_id
),

awaiting as (
    select
        seller_id,
        sum(amount_payable) as awaiting_payment,
        count(*) as statements_awaiting_payment
    from {{ ref('stg_platform__payment_statements') }} as statements
    where payable
        and not exists (
            select 1 from {{ ref('stg_platform__payments') }} as paid
            where paid.statement_id = statements.statement_id
        )
    group by seller_id
),

paid as (
    select
        payments.seller_id,
        sum(payments.amount) as paid_total
    from {{ ref('stg_platform__payments') }} as payments
    where not exists (
            select 1 from {{ ref('stg_platform__payment_returns') }} as r
            where r.payment_id = payments.payment_id
        )
    group by payments.seller_id
),

returned as (
    select
        seller_id,
        sum(amount) as returned_pending
    from {{ ref('int_statement_draft_returns') }}
    group by seller_id
),

unstated as (
    select
        seller_id,
        sum(amount) as unstated_closed
    from (
        select
            seller_id,
            payout as amount
        from {{ ref('stg_platform__closed_video_payouts') }} as closed_payouts
        where not exists (
                select 1 from {{ ref('stg_platform__stated_days') }} as s
                where s.stated_day = closed_payouts.settled_on
            )
        union all
        select
            seller_id,
            payout_delta
        from {{ ref('stg_platform__closed_payout_adjustments') }} as closed_adjustments
        where not exists (
                select 1 from {{ ref('stg_platform__stated_days') }} as s
                where s.stated_day = closed_adjustments.booked_on
            )
    ) as amounts
    group by seller_id
),

estimated as (
    select
        seller_id,
        sum(video_payout + ad_payout + adjustment) as estimated_open
    from {{ ref('fct_video_payable_daily') }} as payable
    where not exists (
            select 1 from {{ ref('stg_platform__closed_days') }} as c
            where c.closed_day = payable.settled_on
        )
    group by seller_id
),

figures as (
    select
        profiles.seller_id,
        profiles.seller_kind,
        profiles.on_hold,
        profiles.hold_reason,
        profiles.payout_account_id is not null and not profiles.account_returned as has_payout_account,
        last_statement.statement_ref as last_statement_ref,
        last_statement.month as last_statement_month,
        coalesce(last_statement.carried_out, 0) + coalesce(returned.returned_pending, 0) as balance,
        coalesce(returned.returned_pending, 0) as returned_pending,
        coalesce(awaiting.awaiting_payment, 0) as awaiting_payment,
        coalesce(awaiting.statements_awaiting_payment, 0) as statements_awaiting_payment,
        coalesce(unstated.unstated_closed, 0) as unstated_closed,
        coalesce(estimated.estimated_open, 0) as estimated_open,
        coalesce(paid.paid_total, 0) as paid_total,
        coalesce(statement_totals.withheld_total, 0) as withheld_total,
        rules.income_tax_rate,
        rules.income_tax_unit,
        rules.local_income_tax_rate,
        rules.local_income_tax_unit,
        rules.threshold
    from {{ ref('int_seller_payment_profiles') }} as profiles
    left join last_statement on last_statement.seller_id = profiles.seller_id
    left join statement_totals on statement_totals.seller_id = profiles.seller_id
    left join awaiting on awaiting.seller_id = profiles.seller_id
    left join paid on paid.seller_id = profiles.seller_id
    left join returned on returned.seller_id = profiles.seller_id
    left join unstated on unstated.seller_id = profiles.seller_id
    left join estimated on estimated.seller_id = profiles.seller_id
    left join {{ ref('int_payment_rules') }} as rules on rules.seller_kind = profiles.seller_kind
),

projected as (
    select
        *,
        unstated_closed + estimated_open as estimated_gross,
        {{ withheld_tax('unstated_closed + estimated_open', 'income_tax_rate', 'income_tax_unit') }}
        + {{ withheld_tax('unstated_closed + estimated_open', 'local_income_tax_rate', 'local_income_tax_unit') }}
            as estimated_withholding
    from figures
)

select
    seller_id,
    seller_kind,
    on_hold,
    hold_reason,
    has_payout_account,
    last_statement_ref,
    last_statement_month,
    balance,
    returned_pending,
    awaiting_payment,
    statements_awaiting_payment,
    unstated_closed,
    estimated_open,
    estimated_gross,
    estimated_withholding,
    balance + estimated_gross - estimated_withholding as projected_net,
    paid_total,
    withheld_total,
    income_tax_rate,
    local_income_tax_rate,
    income_tax_unit,
    local_income_tax_unit,
    threshold,
    least(greatest(balance + estimated_gross - estimated_withholding, 0) / threshold, 1) as progress
from projected
