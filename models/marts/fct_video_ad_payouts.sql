{{ config(
    materialized='period_slice',
    publish=true,
    indexes=[{'columns': ['period', 'period_start', 'seller_id']}]
) }}

-- Ad views and ad payout per (video, ad) for the day, ISO week and month containing the run date
-- (closed days as they were paid).
{{ sum_over_run_date_periods(
    payable_through_run_date(
        ref('fct_video_ad_payable_daily'), video_ad_payable_rows(staged(ref('fct_video_ad_daily')))),
    keys=['video_id', 'ad_id', 'seller_id'],
    measures=['ad_views', 'ad_payout']
) }}
