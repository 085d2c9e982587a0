{{ config(materialized='day_partition') }}

-- The ad part of the run date's payout, per (video, ad) pair: the day's ad views priced on the ad
-- tiers from zero each day, truncated per pair. Only videos long enough earn, and only on days the ad
-- is ACTIVE by its contract (ad_status_on, the lifecycle's one rule, from migration 0003).
with earning as (
    select
        ad_views.video_id,
        ad_views.ad_id,
        videos.seller_id,
        ad_views.ad_views,
        videos.earns_ad_revenue
            and ad_status_on(ads.contract_start, ads.contract_end, {{ run_date() }}) = 'ACTIVE' as is_earning
    from {{ ref('int_ad_views_daily') }} as ad_views
    join {{ ref('stg_platform__videos') }} as videos on videos.video_id = ad_views.video_id
    join {{ ref('stg_platform__ads') }} as ads on ads.ad_id = ad_views.ad_id
    where ad_views.settled_on = {{ run_date() }}
),

priced as (
    select
        *,
        case when is_earning then {{ graduated_price('0', 'ad_views', 'ad') }} else 0 end as ad_amount
    from earning
)

select
    {{ run_date() }} as settled_on,
    video_id,
    ad_id,
    seller_id,
    ad_views,
    is_earning,
    ad_amount,
    trunc(ad_amount) as ad_payout
from priced
