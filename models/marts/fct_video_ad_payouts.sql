{{ config(
    materialized='period_slice',
    publish=true,
    replace_keys=['period', 'period_start', 'video_id', 'ad_id'],
    keep_when='payable_rows > 0',
    indexes=[{'columns': ['period', 'period_start', 'seller_id']},
             {'columns': ['period', 'period_start', 'video_id', 'ad_id'], 'unique': true}]
) }}

-- Ad views and ad payout per (video, ad) for the day, ISO week and month containing the run date
-- (closed days as they were paid): the published row plus what the run date changed.
{{ periods_moved_by_run_date(
    'select * from ' ~ staged(ref('fct_video_ad_payable_daily')),
    ref('fct_video_ad_payable_daily'),
    keys=['video_id', 'ad_id', 'seller_id'],
    measures=['ad_views', 'ad_payout']
) }}
