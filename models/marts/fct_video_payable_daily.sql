{{ config(materialized='view') }}

-- What sellers are paid per video and day: open days as settled, closed days as they were closed,
-- and adjustments (credit notes for closed days) on the open day they were booked.
select settled_on, video_id, seller_id, views, watch_seconds, ad_views, video_payout, ad_payout,
       0::numeric as adjustment
from {{ ref('fct_video_daily') }}
where not exists (
    select 1 from {{ ref('stg_platform__closed_days') }} as closed where closed.closed_day = settled_on
)

union all

select settled_on, video_id, seller_id, views, watch_seconds, ad_views, video_payout, ad_payout,
       0::numeric as adjustment
from {{ ref('stg_platform__closed_video_payouts') }}

union all

select booked_on as settled_on, video_id, seller_id, 0::bigint, 0::bigint, 0::bigint, 0::numeric, 0::numeric,
       payout_delta as adjustment
from {{ ref('fct_payout_adjustments') }}
