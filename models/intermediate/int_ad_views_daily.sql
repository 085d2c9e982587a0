{{ config(materialized='day_partition') }}

-- Ad views per (video, ad) pair on the run date, from the impressions that passed the quality gate.
select
    {{ run_date() }} as settled_on,
    video_id,
    ad_id,
    count(*)::bigint as ad_views
from {{ ref('stg_platform__ad_impressions') }} as impressions
where {{ on_run_day('occurred_at') }}
  and not exists (
      select 1
      from {{ ref('int_quarantined_events') }} as quarantined
      where quarantined.settled_on = {{ run_date() }}
        and quarantined.source = 'ad_impressions'
        and quarantined.event_id = impressions.event_id
        and quarantined.occurred_at = impressions.occurred_at
  )
group by video_id, ad_id
