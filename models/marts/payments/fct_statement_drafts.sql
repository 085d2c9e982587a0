-- The next month's statements as they would be issued now, one per seller (SPEC.md "Payments"):
-- `settlement statements --month` copies these rows into payment_statements, unchanged, once every day
-- of the month is closed; until then they are the month's draft. A seller gets a statement when the
-- month brings them payouts or adjustments, or they carry a balance or a returned transfer.
--
-- Which money a statement takes: the payouts of the closed days it takes (int_statement_draft_days: the
-- month's days) and the adjustments booked on those days (closed_payout_adjustments.booked_on). An
-- adjustment booked after the month was issued (late events for a day of it) is booked on a later open
-- day, so it lands on that day's month's statement: every won lands on exactly one statement.
with next_month as (
    select month from {{ ref('int_statement_next') }}
),

payouts as (
    select
        seller_id,
        sum(payout) as payouts
    from {{ ref('stg_platform__closed_video_payouts') }}
    where settled_on in (select draft_days.day from {{ ref('int_statement_draft_days') }} as draft_days)
    group by seller_id
),

adjustments as (
    select
        seller_id,
        sum(payout_delta) as adjustments
    from {{ ref('stg_platform__closed_payout_adjustments') }}
    where booked_on in (select draft_days.day from {{ ref('int_statement_draft_days') }} as draft_days)
    group by seller_id
),

previous as (
    select distinct on (seller_id)
        seller_id,
        statement_number,
        carried_out
    from {{ ref('stg_platform__payment_statements') }}
    order by seller_id asc, statement_number desc
),

returned as (
    select
        seller_id,
        sum(amount) as returned_in
    from {{ ref('int_statement_draft_returns') }}
    group by seller_id
),

sellers as (
    select seller_id from payouts
    union
    select seller_id from adjustments
    union
    select seller_id from previous
    where carried_out <> 0
    union
    select seller_id from returned
),

figures as (
    select
        next_month.month,
        sellers.seller_id,
        coalesce(previous.statement_number, 0) + 1 as statement_number,
        coalesce(previous.carried_out, 0) as carried_in,
        coalesce(returned.returned_in, 0) as returned_in,
        coalesce(payouts.payouts, 0) as payouts,
        coalesce(adjustments.adjustments, 0) as adjustments,
        coalesce(payouts.payouts, 0) + coalesce(adjustments.adjustments, 0) as gross,
        coalesce(profiles.seller_kind, 'individual') as seller_kind,
        profiles.business_number,
        profiles.payout_account_id,
        coalesce(profiles.account_returned, false) as account_returned,
        coalesce(profiles.on_hold, false) as on_hold,
        profiles.hold_reason,
        rules.income_tax_rate,
        rules.income_tax_unit,
        rules.local_income_tax_rate,
        rules.local_income_tax_unit,
        rules.threshold
    from sellers
    cross join next_month
    left join payouts on payouts.seller_id = sellers.seller_id
    left join adjustments on adjustments.seller_id = sellers.seller_id
    left join previous on previous.seller_id = sellers.seller_id
    left join returned on returned.seller_id = sellers.seller_id
    left join {{ ref('int_seller_payment_profiles') }} as profiles on profiles.seller_id = sellers.seller_id
    left join {{ ref('int_payment_rules') }} as rules on rules.seller_kind = coalesce(profiles.seller_kind, 'individual')
),

-- Each tax apart: the month's gross times its rate, truncated to its unit (never rounded); a month whose
-- gross is zero or less withholds nothing.
withheld as (
    select
        *,
        {{ withheld_tax('gross', 'income_tax_rate', 'income_tax_unit') }} as income_tax,
        {{ withheld_tax('gross', 'local_income_tax_rate', 'local_income_tax_unit') }} as local_income_tax
    from figures
),

netted as (
    select
        *,
        income_tax + local_income_tax as withholding,
        carried_in + returned_in + gross - income_tax - local_income_tax as net
    from withheld
),

-- Why the balance is carried over instead of paid: every reason that holds, in this order.
decided as (
    select
        *,
        array_remove(array[
            case when on_hold then 'on hold: ' || hold_reason end,
            case when payout_account_id is null then 'no payout account registered' end,
            case
                when payout_account_id is not null and account_returned
                    then 'the bank returned a transfer to the payout account: register it again'
            end,
            case
                when net < threshold or net <= 0
                    then 'below the payment threshold (' || to_char(threshold, 'FM999,999,999,999,990') || ' KRW)'
            end
        ], null) as reasons
    from netted
)

select
    month,
    seller_id,
    statement_number,
    seller_id::text || '-' || statement_number::text as statement_ref,
    carried_in,
    returned_in,
    payouts,
    adjustments,
    gross,
    income_tax,
    local_income_tax,
    withholding,
    net,
    cardinality(reasons) = 0 as payable,
    case when cardinality(reasons) = 0 then net else 0 end as amount_payable,
    case when cardinality(reasons) = 0 then 0 else net end as carried_out,
    nullif(array_to_string(reasons, '; '), '') as carry_reason,
    seller_kind,
    business_number,
    income_tax_rate,
    local_income_tax_rate,
    income_tax_unit,
    local_income_tax_unit,
    threshold,
    payout_account_id
from decided
