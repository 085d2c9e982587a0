{{ config(
    materialized='period_slice',
    publish=true,
    indexes=[{'columns': ['period', 'period_start', 'seller_id']}, {'columns': ['video_id', 'period']}]
) }}

-- What each video earns per day, ISO week and month containing the run date: sums of the payable days
-- (closed days as they were paid) plus the adjustments booked in the period.
select
    *,
    video_payout + ad_payout + adjustment as payout
from (
    {{ sum_over_run_date_periods(
        payable_through_run_date(
            ref('fct_video_payable_daily'),
            video_payable_rows(staged(ref('fct_video_daily')), staged(ref('fct_payout_adjustments')))),
        keys=['video_id', 'seller_id'],
        measures=['views', 'watch_seconds', 'ad_views', 'video_payout', 'ad_payout', 'adjustment']
    ) }}
) as periods
