{{ config(
    materialized='period_slice',
    indexes=[{'columns': ['period', 'period_start', 'seller_id']}]
) }}

-- Ad views and ad payout per (video, ad) for the day, ISO week and month containing the run date
-- (closed days as they were paid).
{{ sum_over_run_date_periods(
    ref('fct_video_ad_payable_daily'),
    keys=['video_id', 'ad_id', 'seller_id'],
    measures=['ad_views', 'ad_payout']
) }}
