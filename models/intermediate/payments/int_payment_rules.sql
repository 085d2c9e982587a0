-- The payment rules in force, per seller kind: the withholding rates and the units each tax is truncated
-- to (seed withholding_rates), and the payment threshold (seed payment_threshold). Configuration as data:
-- no rate or amount is written in SQL.
with rates as (
    select
        seller_kind,
        max(rate) filter (where tax = 'income_tax') as income_tax_rate,
        max(truncate_to) filter (where tax = 'income_tax') as income_tax_unit,
        max(rate) filter (where tax = 'local_income_tax') as local_income_tax_rate,
        max(truncate_to) filter (where tax = 'local_income_tax') as local_income_tax_unit
    from {{ ref('withholding_rates') }}
    group by seller_kind
),

threshold as (
    select threshold from {{ ref('payment_threshold') }}
    where currency = 'KRW'
)

select
    rates.seller_kind,
    rates.income_tax_rate,
    rates.income_tax_unit,
    rates.local_income_tax_rate,
    rates.local_income_tax_unit,
    threshold.threshold
from rates
cross join threshold
