{{ config(materialized='view') }}

-- Ad payouts per (video, ad) and day as sellers are paid them: open days as settled, closed days as
-- they were closed.
select settled_on, video_id, ad_id, seller_id, ad_views, ad_payout
from {{ ref('fct_video_ad_daily') }}
where not exists (
    select 1 from {{ ref('stg_platform__closed_days') }} as closed where closed.closed_day = settled_on
)

union all

select settled_on, video_id, ad_id, seller_id, ad_views, ad_payout
from {{ ref('stg_platform__closed_video_ad_payouts') }}
