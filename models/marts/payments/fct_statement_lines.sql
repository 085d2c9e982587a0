-- What each issued statement is made of: per video, the payouts of the closed days it took (each day as
-- closed), and each adjustment booked on those days, with the closed day it belongs to. Read from closed
-- days and the stated days, which never change, so a statement's lines never change either: the payout
-- lines add up to its payouts and the adjustment lines to its adjustments.
with taken as (
    select
        statements.statement_id,
        statements.seller_id,
        statements.statement_ref,
        stated.stated_day
    from {{ ref('stg_platform__payment_statements') }} as statements
    inner join {{ ref('stg_platform__stated_days') }} as stated on stated.month = statements.month
)

select
    taken.statement_id,
    taken.seller_id,
    taken.statement_ref,
    'payout' as line_kind,
    paid.video_id,
    null::date as booked_on,
    null::date as belongs_to,
    count(*) as days,
    sum(paid.views) as views,
    sum(paid.video_payout) as video_payout,
    sum(paid.ad_payout) as ad_payout,
    sum(paid.payout) as amount,
    null::text as reason
from taken
inner join {{ ref('stg_platform__closed_video_payouts') }} as paid
    on paid.settled_on = taken.stated_day and paid.seller_id = taken.seller_id
group by taken.statement_id, taken.seller_id, taken.statement_ref, paid.video_id

union all

select
    taken.statement_id,
    taken.seller_id,
    taken.statement_ref,
    'adjustment' as line_kind,
    adjustments.video_id,
    adjustments.booked_on,
    adjustments.belongs_to,
    1 as days,
    0 as views,
    0 as video_payout,
    0 as ad_payout,
    adjustments.payout_delta as amount,
    adjustments.reason
from taken
inner join {{ ref('stg_platform__closed_payout_adjustments') }} as adjustments
    on adjustments.booked_on = taken.stated_day and adjustments.seller_id = taken.seller_id
