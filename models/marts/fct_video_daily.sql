{{ config(materialized='day_partition', publish=true, indexes=[{'columns': ['seller_id', 'settled_on']}]) }}

-- One row per video with views, watch time or ad views on the run date:
-- payout = truncated video part + the sum of the truncated ad parts of its (video, ad) pairs.
with activity as (
    select
        video_id,
        views_on_day as views,
        watch_seconds
    from {{ ref('int_video_lifetime_daily') }}
    where settled_on = {{ run_date() }}
        and has_activity
),

pricing as (
    select
        video_id,
        video_amount,
        video_payout
    from {{ ref('int_video_pricing_daily') }}
    where settled_on = {{ run_date() }}
),

lifetime as (
    select
        video_id,
        views_before,
        views_through
    from {{ ref('int_video_lifetime_daily') }}
    where settled_on = {{ run_date() }}
),

ads as (
    select
        video_id,
        sum(ad_views)::bigint as ad_views,
        sum(ad_payout) as ad_payout
    from {{ staged(ref('fct_video_ad_daily')) }}
    where settled_on = {{ run_date() }}
    group by video_id
),

videos_of_day as (
    select video_id from activity
    union
    select video_id from ads
)

select
    {{ run_date() }} as settled_on,
    videos_of_day.video_id,
    videos.seller_id,
    coalesce(activity.views, 0)::bigint as views,
    coalesce(activity.watch_seconds, 0)::bigint as watch_seconds,
    coalesce(lifetime.views_before, 0)::bigint as cumulative_views_before,
    coalesce(lifetime.views_through, 0)::bigint as cumulative_views_through,
    coalesce(ads.ad_views, 0)::bigint as ad_views,
    coalesce(pricing.video_amount, 0) as video_amount,
    coalesce(pricing.video_payout, 0) as video_payout,
    coalesce(ads.ad_payout, 0) as ad_payout,
    coalesce(pricing.video_payout, 0) + coalesce(ads.ad_payout, 0) as payout
from videos_of_day
inner join {{ ref('stg_platform__videos') }} as videos on videos.video_id = videos_of_day.video_id
left join activity on activity.video_id = videos_of_day.video_id
left join pricing on pricing.video_id = videos_of_day.video_id
left join lifetime on lifetime.video_id = videos_of_day.video_id
left join ads on ads.video_id = videos_of_day.video_id
