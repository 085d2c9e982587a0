{{ config(materialized='day_partition') }}

-- Ad views per (video, ad) pair on the run date: the impressions that count (int_ad_impressions_daily).
select
    {{ run_date() }} as settled_on,
    video_id,
    ad_id,
    count(*)::bigint as ad_views
from {{ ref('int_ad_impressions_daily') }}
where settled_on = {{ run_date() }}
  and reason is null
group by video_id, ad_id
