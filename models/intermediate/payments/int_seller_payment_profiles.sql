-- Each seller's payment profile now: kind (a business number registered: business, else individual),
-- payout account in force (masked), whether the bank returned a transfer to that account, and a hold.
with registrations as (
    select distinct on (seller_id)
        seller_id,
        business_number
    from {{ ref('stg_platform__seller_tax_registrations') }}
    order by seller_id asc, registration_id desc
),

accounts as (
    select distinct on (seller_id)
        seller_id,
        payout_account_id,
        holder,
        bank_code,
        account_number_masked
    from {{ ref('stg_platform__payout_accounts') }}
    order by seller_id asc, payout_account_id desc
),

returned_accounts as (
    select distinct payments.payout_account_id
    from {{ ref('stg_platform__payment_returns') }} as returns
    inner join {{ ref('stg_platform__payments') }} as payments on payments.payment_id = returns.payment_id
),

holds as (
    select distinct on (seller_id)
        seller_id,
        action,
        reason
    from {{ ref('stg_platform__payment_holds') }}
    order by seller_id asc, hold_event_id desc
)

select
    users.user_id as seller_id,
    case when registrations.business_number is not null then 'business' else 'individual' end as seller_kind,
    registrations.business_number,
    accounts.payout_account_id,
    accounts.holder,
    accounts.bank_code,
    accounts.account_number_masked,
    returned_accounts.payout_account_id is not null as account_returned,
    coalesce(holds.action = 'HOLD', false) as on_hold,
    case when holds.action = 'HOLD' then holds.reason end as hold_reason
from {{ ref('stg_platform__users') }} as users
left join registrations on registrations.seller_id = users.user_id
left join accounts on accounts.seller_id = users.user_id
left join returned_accounts on returned_accounts.payout_account_id = accounts.payout_account_id
left join holds on holds.seller_id = users.user_id
where users.is_seller
