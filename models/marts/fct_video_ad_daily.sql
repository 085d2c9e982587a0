{{ config(materialized='day_partition', publish=true) }}

-- The ad part of the run date's payout, per (video, ad) pair: the day's ad views priced on the ad tiers
-- from zero each day, truncated per pair. (An ad view counts only for an ad ACTIVE that day in a slot
-- the video has: int_ad_impressions_daily.)
with priced as (
    select
        ad_views.video_id,
        ad_views.ad_id,
        videos.seller_id,
        ad_views.ad_views,
        {{ graduated_price('0', 'ad_views.ad_views', 'ad') }} as ad_amount
    from (
        -- the impressions that count
        select
            video_id,
            ad_id,
            count(*)::bigint as ad_views
        from {{ ref('int_ad_impressions_daily') }}
        where settled_on = {{ run_date() }}
            and reason is null
        group by video_id, ad_id
    ) as ad_views
    inner join {{ ref('stg_platform__videos') }} as videos on videos.video_id = ad_views.video_id
)

select
    {{ run_date() }} as settled_on,
    video_id,
    ad_id,
    seller_id,
    ad_views,
    ad_amount,
    trunc(ad_amount) as ad_payout
from priced
