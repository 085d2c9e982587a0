{{ config(
    materialized='period_slice',
    publish=true,
    replace_keys=['period', 'period_start', 'video_id'],
    keep_when='payable_rows > 0',
    indexes=[{'columns': ['period', 'period_start', 'seller_id']}, {'columns': ['video_id', 'period']},
             {'columns': ['period', 'period_start', 'video_id'], 'unique': true}]
) }}

-- What each video earns per day, ISO week and month containing the run date: sums of the payable days
-- (closed days as they were paid) plus the adjustments booked in the period. A run writes the rows of
-- the videos whose run-date payable rows changed: the published row plus the change.
select
    *,
    video_payout + ad_payout + adjustment as payout
from (
    {{ periods_moved_by_run_date(
        'select * from ' ~ staged(ref('fct_video_payable_daily')),
        ref('fct_video_payable_daily'),
        keys=['video_id', 'seller_id'],
        measures=['views', 'watch_seconds', 'ad_views', 'video_payout', 'ad_payout', 'adjustment']
    ) }}
) as periods
